//! The set of stores an [`AuthService`](super::AuthService) works on.

use std::sync::Arc;

use crate::store::memory::MemoryStore;
use crate::store::{AuditStore, LockoutStore, SessionStore, TokenStore, UserStore};

/// The stores of every concern. They may be different backends, such as PostgreSQL for users
/// and Redis for sessions.
#[derive(Clone)]
pub struct Stores {
    /// User accounts.
    pub users: Arc<dyn UserStore>,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Failed-login counters.
    pub lockouts: Arc<dyn LockoutStore>,
    /// One-time tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// The audit trail.
    pub audit: Arc<dyn AuditStore>,
}

impl Stores {
    /// Uses one backend that implements every trait for all concerns.
    pub fn single<T>(store: T) -> Self
    where
        T: UserStore + SessionStore + LockoutStore + TokenStore + AuditStore,
    {
        let store = Arc::new(store);
        Self {
            users: store.clone(),
            sessions: store.clone(),
            lockouts: store.clone(),
            tokens: store.clone(),
            audit: store,
        }
    }

    /// Keeps everything in process memory; see [`MemoryStore`].
    pub fn memory() -> Self {
        Self::single(MemoryStore::new())
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

//! In-memory stores: the reference implementation of every storage trait.
//!
//! [`MemoryStore`] keeps all data in process memory behind one [`std::sync::Mutex`] per concern
//! (users, sessions, lockouts, tokens, audit). Each trait method takes its lock once, does its
//! whole change and releases the lock before returning, so every method is atomic and a
//! dropped future never leaves half a change. Data is lost when the process exits, and
//! processes do not share it: use it for tests, development and single-process deployments.

mod audit;
mod lockout;
mod sessions;
mod tokens;
mod users;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::audit::AuditEvent;
use crate::store::{LockoutState, OneTimeToken};
use crate::token::TokenDigest;

use self::sessions::Sessions;
use self::users::Users;

/// Users, sessions, lockouts, one-time tokens and audit events in process memory.
///
/// Clones share the same data. Implements [`UserStore`](crate::store::UserStore),
/// [`SessionStore`](crate::store::SessionStore), [`LockoutStore`](crate::store::LockoutStore),
/// [`TokenStore`](crate::store::TokenStore) and [`AuditStore`](crate::store::AuditStore).
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    users: Mutex<Users>,
    sessions: Mutex<Sessions>,
    lockouts: Mutex<HashMap<String, LockoutState>>,
    tokens: Mutex<HashMap<TokenDigest, OneTimeToken>>,
    audit: Mutex<Vec<AuditEvent>>,
}

impl MemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryStore {
    /// Shows only counts, so that password hashes and digests stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("users", &lock(&self.inner.users).len())
            .field("sessions", &lock(&self.inner.sessions).len())
            .field("lockouts", &lock(&self.inner.lockouts).len())
            .field("tokens", &lock(&self.inner.tokens).len())
            .field("audit_events", &lock(&self.inner.audit).len())
            .finish()
    }
}

/// Locks `mutex`, recovering the data if a thread panicked while holding it.
///
/// No critical section in this module can panic between two writes that must go together, so
/// the data behind a poisoned lock is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

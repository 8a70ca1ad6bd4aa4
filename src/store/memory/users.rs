//! [`UserStore`] for [`MemoryStore`].

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MemoryStore, lock};
use crate::store::{StoreError, User, UserStore};

/// Users by id, with a unique index on the canonical email.
#[derive(Default)]
pub(super) struct Users {
    by_id: HashMap<Uuid, User>,
    id_by_email: HashMap<String, Uuid>,
}

impl Users {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: User) -> Result<User, StoreError> {
        let mut users = lock(&self.inner.users);
        if users.id_by_email.contains_key(&user.email) || users.by_id.contains_key(&user.id) {
            return Err(StoreError::Conflict);
        }
        users.id_by_email.insert(user.email.clone(), user.id);
        users.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let users = lock(&self.inner.users);
        let user = users
            .id_by_email
            .get(email)
            .and_then(|id| users.by_id.get(id));
        Ok(user.cloned())
    }

    async fn find_user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.inner.users).by_id.get(&id).cloned())
    }

    async fn replace_password_hash(
        &self,
        id: Uuid,
        expected: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut users = lock(&self.inner.users);
        match users.by_id.get_mut(&id) {
            Some(user) if user.password_hash == expected => {
                new_hash.clone_into(&mut user.password_hash);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_password_hash(
        &self,
        id: Uuid,
        new_hash: &str,
        changed_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut users = lock(&self.inner.users);
        let Some(user) = users.by_id.get_mut(&id) else {
            return Ok(false);
        };
        new_hash.clone_into(&mut user.password_hash);
        user.password_changed_at = changed_at;
        Ok(true)
    }

    async fn mark_email_verified(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut users = lock(&self.inner.users);
        let Some(user) = users.by_id.get_mut(&id) else {
            return Ok(false);
        };
        user.email_verified = true;
        Ok(true)
    }

    async fn list_users(&self, offset: usize, limit: usize) -> Result<Vec<User>, StoreError> {
        let users = lock(&self.inner.users);
        let mut all: Vec<&User> = users.by_id.values().collect();
        // The id breaks ties so that pages never overlap or skip users created at one instant.
        all.sort_unstable_by_key(|user| (user.created_at, user.id));
        Ok(all.into_iter().skip(offset).take(limit).cloned().collect())
    }
}

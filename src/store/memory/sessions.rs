//! [`SessionStore`] for [`MemoryStore`].

use std::cmp::Reverse;
use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MemoryStore, lock};
use crate::store::{SessionRecord, SessionStore, StoreError};
use crate::token::TokenDigest;

/// Sessions by token digest, with indexes by public id and by user.
#[derive(Default)]
pub(super) struct Sessions {
    by_digest: HashMap<TokenDigest, SessionRecord>,
    digest_by_id: HashMap<Uuid, TokenDigest>,
    digests_by_user: HashMap<Uuid, Vec<TokenDigest>>,
}

impl Sessions {
    pub(super) fn len(&self) -> usize {
        self.by_digest.len()
    }

    fn insert(&mut self, record: SessionRecord) {
        self.digest_by_id.insert(record.id, record.token_digest);
        self.digests_by_user
            .entry(record.user_id)
            .or_default()
            .push(record.token_digest);
        self.by_digest.insert(record.token_digest, record);
    }

    fn remove(&mut self, digest: &TokenDigest) -> Option<SessionRecord> {
        let record = self.by_digest.remove(digest)?;
        self.digest_by_id.remove(&record.id);
        if let Some(digests) = self.digests_by_user.get_mut(&record.user_id) {
            digests.retain(|d| d != digest);
            if digests.is_empty() {
                self.digests_by_user.remove(&record.user_id);
            }
        }
        Some(record)
    }

    fn user_records(&self, user_id: Uuid) -> impl Iterator<Item = &SessionRecord> {
        self.digests_by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter_map(|digest| self.by_digest.get(digest))
    }
}

/// Returns true when `record` is no longer valid at `now`: its absolute expiry has come, or it
/// was last seen at or before `idle_cutoff`. The session layer accepts exactly the records for
/// which this is false.
fn is_dead(record: &SessionRecord, now: OffsetDateTime, idle_cutoff: OffsetDateTime) -> bool {
    record.expires_at <= now || record.last_seen_at <= idle_cutoff
}

#[async_trait]
impl SessionStore for MemoryStore {
    /// Inserts `record`, deletes the user's sessions that are dead at `record.created_at` and
    /// then revokes the oldest live ones beyond `max_per_user`.
    ///
    /// Dead sessions are deleted but not returned; the returned list holds only live sessions
    /// revoked to make room. Sessions are ranked by `created_at`, newest kept; on equal
    /// `created_at` the new record ranks newer than the others, which rank by id. When
    /// `record` itself is older than `max_per_user` other live sessions, it is revoked too
    /// and is part of the returned list.
    async fn create_session(
        &self,
        record: SessionRecord,
        max_per_user: usize,
        idle_cutoff: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = lock(&self.inner.sessions);
        if sessions.by_digest.contains_key(&record.token_digest)
            || sessions.digest_by_id.contains_key(&record.id)
        {
            return Err(StoreError::Conflict);
        }

        let now = record.created_at;
        let dead: Vec<TokenDigest> = sessions
            .user_records(record.user_id)
            .filter(|existing| is_dead(existing, now, idle_cutoff))
            .map(|existing| existing.token_digest)
            .collect();
        for digest in &dead {
            sessions.remove(digest);
        }

        let (user_id, new_id) = (record.user_id, record.id);
        sessions.insert(record);

        let mut live: Vec<(OffsetDateTime, bool, Uuid, TokenDigest)> = sessions
            .user_records(user_id)
            .map(|r| (r.created_at, r.id == new_id, r.id, r.token_digest))
            .collect();
        if live.len() <= max_per_user {
            return Ok(Vec::new());
        }
        live.sort_unstable();
        let excess = live.len() - max_per_user;
        let evicted = live[..excess]
            .iter()
            .filter_map(|(_, _, _, digest)| sessions.remove(digest))
            .collect();
        Ok(evicted)
    }

    async fn find_session(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(lock(&self.inner.sessions).by_digest.get(digest).cloned())
    }

    async fn touch_session(
        &self,
        digest: &TokenDigest,
        last_seen_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut sessions = lock(&self.inner.sessions);
        let Some(record) = sessions.by_digest.get_mut(digest) else {
            return Ok(false);
        };
        record.last_seen_at = last_seen_at;
        Ok(true)
    }

    async fn touch_session_if_stale(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
        stale_at: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut sessions = lock(&self.inner.sessions);
        let Some(record) = sessions.by_digest.get_mut(digest) else {
            return Ok(None);
        };
        if record.last_seen_at <= stale_at {
            record.last_seen_at = now;
        }
        Ok(Some(record.last_seen_at))
    }

    async fn revoke_session(&self, digest: &TokenDigest) -> Result<bool, StoreError> {
        Ok(lock(&self.inner.sessions).remove(digest).is_some())
    }

    async fn revoke_session_by_id(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let mut sessions = lock(&self.inner.sessions);
        let Some(digest) = sessions.digest_by_id.get(&id).copied() else {
            return Ok(false);
        };
        if sessions.by_digest[&digest].user_id != user_id {
            return Ok(false);
        }
        Ok(sessions.remove(&digest).is_some())
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&TokenDigest>,
    ) -> Result<u64, StoreError> {
        let mut sessions = lock(&self.inner.sessions);
        let doomed: Vec<TokenDigest> = sessions
            .user_records(user_id)
            .map(|record| record.token_digest)
            .filter(|digest| Some(digest) != keep)
            .collect();
        for digest in &doomed {
            sessions.remove(digest);
        }
        Ok(doomed.len() as u64)
    }

    async fn list_user_sessions(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
        let sessions = lock(&self.inner.sessions);
        let mut records: Vec<SessionRecord> = sessions.user_records(user_id).cloned().collect();
        records.sort_unstable_by_key(|record| Reverse((record.created_at, record.id)));
        Ok(records)
    }

    /// Deletes the sessions whose `expires_at` is at or before `now` or whose `last_seen_at`
    /// is at or before `idle_cutoff`: exactly those the session layer would reject at `now`.
    async fn purge_expired_sessions(
        &self,
        now: OffsetDateTime,
        idle_cutoff: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut sessions = lock(&self.inner.sessions);
        let dead: Vec<TokenDigest> = sessions
            .by_digest
            .values()
            .filter(|record| is_dead(record, now, idle_cutoff))
            .map(|record| record.token_digest)
            .collect();
        for digest in &dead {
            sessions.remove(digest);
        }
        Ok(dead.len() as u64)
    }
}

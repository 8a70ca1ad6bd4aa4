//! [`AuditStore`] for [`MemoryStore`].

use std::cmp::Reverse;

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::audit::{AuditEvent, AuditQuery};
use crate::store::{AuditStore, StoreError};

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_event(&self, event: AuditEvent) -> Result<(), StoreError> {
        lock(&self.inner.audit).push(event);
        Ok(())
    }

    /// Returns matching events ordered by `created_at`, newest first; events with equal
    /// `created_at` come in reverse order of appending. A `limit` of 0 returns no events.
    async fn query_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let events = lock(&self.inner.audit);
        let mut matching: Vec<(usize, &AuditEvent)> = events
            .iter()
            .enumerate()
            .filter(|(_, event)| query.matches(event))
            .collect();
        matching.sort_unstable_by_key(|(index, event)| Reverse((event.created_at, *index)));
        Ok(matching
            .into_iter()
            .take(query.limit)
            .map(|(_, event)| event.clone())
            .collect())
    }
}

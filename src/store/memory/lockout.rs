//! [`LockoutStore`] for [`MemoryStore`].

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{MemoryStore, lock};
use crate::store::{AttemptDecision, LockoutState, LockoutStore, StoreError};

#[async_trait]
impl LockoutStore for MemoryStore {
    async fn begin_attempt(
        &self,
        key: &str,
        now: OffsetDateTime,
        max_attempts: u32,
        lock_for: time::Duration,
    ) -> Result<AttemptDecision, StoreError> {
        let mut lockouts = lock(&self.inner.lockouts);
        // Look up before inserting, so a known key costs no allocation.
        let state = match lockouts.get_mut(key) {
            Some(state) => state,
            None => lockouts.entry(key.to_owned()).or_insert(LockoutState {
                failures: 0,
                locked_until: None,
            }),
        };

        if let Some(until) = state.locked_until {
            if until > now {
                return Ok(AttemptDecision::Locked { until });
            }
            // The lock has ended: its attempts no longer count.
            state.failures = 0;
            state.locked_until = None;
        }

        state.failures = state.failures.saturating_add(1);
        let locked_now = state.failures >= max_attempts;
        if locked_now {
            state.locked_until = Some(now.saturating_add(lock_for));
        }
        Ok(AttemptDecision::Allowed {
            attempt: state.failures,
            locked_now,
        })
    }

    async fn lockout_state(&self, key: &str) -> Result<Option<LockoutState>, StoreError> {
        Ok(lock(&self.inner.lockouts).get(key).copied())
    }

    async fn clear_lockout(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.inner.lockouts).remove(key);
        Ok(())
    }
}

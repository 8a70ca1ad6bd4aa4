//! Checks of [`LockoutStore`].

use time::Duration;

use super::T0;
use crate::store::{AttemptDecision, LockoutState, LockoutStore};

const KEY: &str = "alice@example.com";
const LOCK_FOR: Duration = Duration::minutes(15);

fn allowed(attempt: u32, locked_now: bool) -> AttemptDecision {
    AttemptDecision::Allowed {
        attempt,
        locked_now,
    }
}

pub(crate) async fn attempts_counted_until_lock<S: LockoutStore>(store: &S) {
    assert_eq!(store.lockout_state(KEY).await.unwrap(), None);

    for attempt in 1..=2 {
        let now = T0 + Duration::seconds(attempt.into());
        let decision = store.begin_attempt(KEY, now, 3, LOCK_FOR).await.unwrap();
        assert_eq!(decision, allowed(attempt, false));
    }
    let state = store.lockout_state(KEY).await.unwrap();
    assert_eq!(
        state,
        Some(LockoutState {
            failures: 2,
            locked_until: None
        })
    );

    let third_at = T0 + Duration::seconds(3);
    let decision = store
        .begin_attempt(KEY, third_at, 3, LOCK_FOR)
        .await
        .unwrap();
    assert_eq!(decision, allowed(3, true));
    let state = store.lockout_state(KEY).await.unwrap().unwrap();
    assert_eq!(state.failures, 3);
    assert_eq!(state.locked_until, Some(third_at + LOCK_FOR));

    let decision = store
        .begin_attempt(KEY, third_at + Duration::seconds(1), 3, LOCK_FOR)
        .await
        .unwrap();
    assert_eq!(
        decision,
        AttemptDecision::Locked {
            until: third_at + LOCK_FOR
        }
    );
    let other = store
        .begin_attempt("bob@example.com", third_at, 3, LOCK_FOR)
        .await
        .unwrap();
    assert_eq!(other, allowed(1, false));
}

pub(crate) async fn lock_never_extended<S: LockoutStore>(store: &S) {
    let first = store.begin_attempt(KEY, T0, 1, LOCK_FOR).await.unwrap();
    assert_eq!(first, allowed(1, true));
    let until = T0 + LOCK_FOR;

    for minute in [1, 5, 14] {
        let now = T0 + Duration::minutes(minute);
        let decision = store.begin_attempt(KEY, now, 1, LOCK_FOR).await.unwrap();
        assert_eq!(decision, AttemptDecision::Locked { until });
    }
    let state = store.lockout_state(KEY).await.unwrap().unwrap();
    assert_eq!(state.failures, 1);
    assert_eq!(state.locked_until, Some(until));
}

/// A lock ends at `locked_until`: the attempt made at that instant starts a new count.
pub(crate) async fn ended_lock_clears_count<S: LockoutStore>(store: &S) {
    for second in 0..2 {
        store
            .begin_attempt(KEY, T0 + Duration::seconds(second), 2, LOCK_FOR)
            .await
            .unwrap();
    }
    let until = T0 + Duration::seconds(1) + LOCK_FOR;
    let just_before = store
        .begin_attempt(KEY, until - Duration::seconds(1), 2, LOCK_FOR)
        .await
        .unwrap();
    assert_eq!(just_before, AttemptDecision::Locked { until });

    let at_end = store.begin_attempt(KEY, until, 2, LOCK_FOR).await.unwrap();
    assert_eq!(at_end, allowed(1, false));
    let state = store.lockout_state(KEY).await.unwrap();
    assert_eq!(
        state,
        Some(LockoutState {
            failures: 1,
            locked_until: None
        })
    );
}

pub(crate) async fn clear_lockout_resets_key<S: LockoutStore>(store: &S) {
    store.begin_attempt(KEY, T0, 1, LOCK_FOR).await.unwrap();
    store
        .begin_attempt("bob@example.com", T0, 1, LOCK_FOR)
        .await
        .unwrap();

    store.clear_lockout(KEY).await.unwrap();
    assert_eq!(store.lockout_state(KEY).await.unwrap(), None);
    let next = store.begin_attempt(KEY, T0, 1, LOCK_FOR).await.unwrap();
    assert_eq!(next, allowed(1, true));

    let bob = store
        .lockout_state("bob@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.failures, 1);
    store.clear_lockout("nobody@example.com").await.unwrap();
}

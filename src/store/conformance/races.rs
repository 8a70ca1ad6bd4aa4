//! Races: parallel calls on a multi-threaded runtime that the atomic contracts must survive.
//!
//! Each check starts its tasks behind a barrier so that they hit the store together.

use std::future::Future;
use std::sync::Arc;

use time::Duration;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{T0, one_time_token, session, user};
use crate::store::{
    AttemptDecision, LockoutStore, SessionStore, StoreError, TokenPurpose, TokenStore, UserStore,
};

/// Runs `tasks` calls of `call(store, index)` at once and returns their results in index order.
async fn run_together<S, F, Fut, T>(store: &S, tasks: usize, call: F) -> Vec<T>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(tasks));
    let mut set = JoinSet::new();
    for index in 0..tasks {
        let barrier = Arc::clone(&barrier);
        let task = call(store.clone(), index);
        set.spawn(async move {
            barrier.wait().await;
            (index, task.await)
        });
    }
    let mut results: Vec<(usize, T)> = set.join_all().await;
    results.sort_unstable_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

pub(crate) async fn parallel_signups_one_wins<S: UserStore + Clone>(store: &S) {
    let results = run_together(store, 20, |store, _| async move {
        store.create_user(user("race@example.com", T0)).await
    })
    .await;

    let winners: Vec<Uuid> = results
        .iter()
        .filter_map(|result| result.as_ref().ok().map(|u| u.id))
        .collect();
    let conflicts = results
        .iter()
        .filter(|result| matches!(result, Err(StoreError::Conflict)))
        .count();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(conflicts, 19, "{results:?}");

    let stored = store.find_user_by_email("race@example.com").await.unwrap();
    assert_eq!(stored.map(|u| u.id), Some(winners[0]));
    assert_eq!(store.list_users(0, 100).await.unwrap().len(), 1);
}

/// Twenty logins at once with a cap of ten leave exactly the ten newest sessions.
pub(crate) async fn parallel_logins_keep_newest<S: SessionStore + Clone>(store: &S) {
    let user_id = Uuid::new_v4();
    let records: Vec<_> = (0..20)
        .map(|i| session(user_id, T0 + Duration::milliseconds(i)))
        .collect();
    let shared = Arc::new(records.clone());
    let idle_cutoff = T0 - Duration::hours(2);

    let results = run_together(store, 20, |store, index| {
        let record = shared[index].clone();
        async move { store.create_session(record, 10, idle_cutoff).await }
    })
    .await;

    let evicted: usize = results
        .into_iter()
        .map(|result| result.unwrap().len())
        .sum();
    assert_eq!(evicted, 10);
    let mut kept: Vec<Uuid> = store
        .list_user_sessions(user_id)
        .await
        .unwrap()
        .iter()
        .map(|record| record.id)
        .collect();
    let mut newest: Vec<Uuid> = records[10..].iter().map(|record| record.id).collect();
    kept.sort_unstable();
    newest.sort_unstable();
    assert_eq!(kept, newest);
    for old in &records[..10] {
        assert_eq!(store.find_session(&old.token_digest).await.unwrap(), None);
    }
}

pub(crate) async fn parallel_consume_one_wins<S: TokenStore + Clone>(store: &S) {
    let token = one_time_token(Uuid::new_v4(), TokenPurpose::PasswordReset, T0);
    store.issue_token(token.clone()).await.unwrap();
    let digest = token.digest;

    let results = run_together(store, 20, |store, _| async move {
        store
            .consume_token(
                &digest,
                TokenPurpose::PasswordReset,
                T0 + Duration::minutes(1),
            )
            .await
    })
    .await;

    let consumed = results
        .iter()
        .filter(|result| matches!(result, Ok(Some(_))))
        .count();
    let rejected = results
        .iter()
        .filter(|result| matches!(result, Ok(None)))
        .count();
    assert_eq!(consumed, 1, "{results:?}");
    assert_eq!(rejected, 19, "{results:?}");
}

/// Fifty attempts at once with a maximum of five: five may verify a password, the rest are
/// locked out, and the lock starts at the fifth.
pub(crate) async fn parallel_attempts_allow_max<S: LockoutStore + Clone>(store: &S) {
    let lock_for = Duration::minutes(15);
    let results = run_together(store, 50, |store, _| async move {
        store
            .begin_attempt("race@example.com", T0, 5, lock_for)
            .await
            .unwrap()
    })
    .await;

    let mut attempts: Vec<u32> = results
        .iter()
        .filter_map(|decision| match decision {
            AttemptDecision::Allowed { attempt, .. } => Some(*attempt),
            AttemptDecision::Locked { .. } => None,
        })
        .collect();
    attempts.sort_unstable();
    assert_eq!(attempts, vec![1, 2, 3, 4, 5]);

    let locked_now = results
        .iter()
        .filter(|decision| {
            matches!(
                decision,
                AttemptDecision::Allowed {
                    locked_now: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(locked_now, 1);
    let until = T0 + lock_for;
    let locked = results
        .iter()
        .filter(|decision| **decision == AttemptDecision::Locked { until })
        .count();
    assert_eq!(locked, 45);
}

/// A hash upgrade after login races a password change: whichever runs first, the changed
/// password must be the one stored.
pub(crate) async fn hash_upgrade_loses_to_change<S: UserStore + Clone>(store: &S) {
    let mut users = Vec::new();
    for i in 0..20 {
        let new_user = user(&format!("user{i}@example.com"), T0);
        users.push(new_user.id);
        store.create_user(new_user).await.unwrap();
    }
    let users = Arc::new(users);
    let changed_at = T0 + Duration::hours(1);

    // Even tasks upgrade the hash of user index / 2; odd tasks change its password.
    let results = run_together(store, 40, |store, index| {
        let id = users[index / 2];
        async move {
            if index % 2 == 0 {
                store
                    .replace_password_hash(id, "hash-0", "hash-upgraded")
                    .await
            } else {
                store
                    .set_password_hash(id, "hash-changed", changed_at)
                    .await
            }
        }
    })
    .await;

    for (index, result) in results.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        assert!(matches!(result, Ok(true)), "change {index}: {result:?}");
    }
    for id in users.iter() {
        let stored = store.find_user_by_id(*id).await.unwrap().unwrap();
        assert_eq!(stored.password_hash, "hash-changed");
        assert_eq!(stored.password_changed_at, changed_at);
    }
}

/// Twenty requests on one stale session touch it at once: exactly one writes, and every one
/// gets back the time that was written.
pub(crate) async fn parallel_touches_write_once<S: SessionStore + Clone>(store: &S) {
    let record = session(Uuid::new_v4(), T0);
    let digest = record.token_digest;
    store
        .create_session(record, 10, T0 - Duration::hours(2))
        .await
        .unwrap();
    let interval = Duration::minutes(1);
    let base = T0 + Duration::minutes(10);

    let results = run_together(store, 20, |store, index| async move {
        let now = base + Duration::milliseconds(i64::try_from(index).unwrap());
        store
            .touch_session_if_stale(&digest, now, now - interval)
            .await
            .unwrap()
    })
    .await;

    let stored = store.find_session(&digest).await.unwrap().unwrap();
    let written = stored.last_seen_at;
    assert!(written >= base, "{written} before every touch");
    assert!(
        written < base + Duration::milliseconds(20),
        "{written} after every touch"
    );
    assert!(
        results.iter().all(|seen| *seen == Some(written)),
        "{results:?}"
    );
}

/// Logins cancelled at every stage (the client went away) leave all of a login or none of
/// it: never more than the cap, never a new session without its evictions, and the store
/// keeps working afterwards.
pub(crate) async fn cancelled_logins_leave_all_or_nothing<S: SessionStore + Clone>(store: &S) {
    let user_id = Uuid::new_v4();
    let idle_cutoff = T0 - Duration::hours(2);
    for i in 0..3 {
        let record = session(user_id, T0 + Duration::milliseconds(i));
        store.create_session(record, 3, idle_cutoff).await.unwrap();
    }
    for step in 0..40u64 {
        let record = session(
            user_id,
            T0 + Duration::seconds(1 + i64::try_from(step).unwrap()),
        );
        let call = store.create_session(record.clone(), 3, idle_cutoff);
        let budget = std::time::Duration::from_micros(step * step * 10);
        let finished = match tokio::time::timeout(budget, call).await {
            Ok(result) => {
                result.unwrap_or_else(|error| panic!("step {step}: {error:?}"));
                true
            }
            Err(_) => false,
        };
        let listed = store.list_user_sessions(user_id).await.unwrap();
        assert_eq!(listed.len(), 3, "step {step}: {listed:?}");
        let stored = listed.iter().any(|kept| kept.id == record.id);
        if finished {
            assert!(stored, "step {step}: completed login lost");
        }
        // A stored session is the newest, so it must have pushed the oldest out.
        if stored {
            assert_eq!(listed[0].id, record.id, "step {step}");
        }
    }
}

//! Checks of [`SessionStore`].

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{T0, digest, session};
use crate::store::{SessionRecord, SessionStore, StoreError};

const MAX: usize = 10;

/// Returns an idle cutoff so far back that no session counts as idle.
fn no_idle() -> OffsetDateTime {
    T0 - Duration::days(365)
}

fn ids(records: &[SessionRecord]) -> Vec<Uuid> {
    records.iter().map(|record| record.id).collect()
}

pub(crate) async fn create_find_and_touch_session<S: SessionStore>(store: &S) {
    let record = session(Uuid::new_v4(), T0);
    let evicted = store
        .create_session(record.clone(), MAX, no_idle())
        .await
        .unwrap();
    assert!(evicted.is_empty());

    let found = store.find_session(&record.token_digest).await.unwrap();
    assert_eq!(found, Some(record.clone()));
    assert_eq!(store.find_session(&digest()).await.unwrap(), None);

    let later = T0 + Duration::minutes(5);
    assert!(
        store
            .touch_session(&record.token_digest, later)
            .await
            .unwrap()
    );
    let touched = store
        .find_session(&record.token_digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_seen_at, later);
    assert_eq!(
        SessionRecord {
            last_seen_at: record.last_seen_at,
            ..touched
        },
        record
    );
}

pub(crate) async fn duplicate_session_conflicts<S: SessionStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let first = session(user_id, T0);
    store
        .create_session(first.clone(), MAX, no_idle())
        .await
        .unwrap();

    let same_digest = SessionRecord {
        token_digest: first.token_digest,
        ..session(user_id, T0)
    };
    let result = store.create_session(same_digest, MAX, no_idle()).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

    let same_id = SessionRecord {
        id: first.id,
        ..session(user_id, T0)
    };
    let result = store.create_session(same_id.clone(), MAX, no_idle()).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    assert_eq!(
        store.find_session(&same_id.token_digest).await.unwrap(),
        None
    );

    let listed = store.list_user_sessions(user_id).await.unwrap();
    assert_eq!(listed, vec![first]);
}

pub(crate) async fn create_evicts_oldest_beyond_max<S: SessionStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let bystander = session(Uuid::new_v4(), T0);
    store
        .create_session(bystander.clone(), 3, no_idle())
        .await
        .unwrap();

    let mut created = Vec::new();
    for minute in 0..3 {
        let record = session(user_id, T0 + Duration::minutes(minute));
        let evicted = store
            .create_session(record.clone(), 3, no_idle())
            .await
            .unwrap();
        assert!(evicted.is_empty(), "session {minute} evicted {evicted:?}");
        created.push(record);
    }

    let fourth = session(user_id, T0 + Duration::minutes(3));
    let evicted = store
        .create_session(fourth.clone(), 3, no_idle())
        .await
        .unwrap();
    assert_eq!(evicted, vec![created[0].clone()]);
    assert_eq!(
        store.find_session(&created[0].token_digest).await.unwrap(),
        None
    );

    let listed = store.list_user_sessions(user_id).await.unwrap();
    assert_eq!(ids(&listed), vec![fourth.id, created[2].id, created[1].id]);
    let other = store.find_session(&bystander.token_digest).await.unwrap();
    assert_eq!(other, Some(bystander));
}

/// Checks that a session whose `expires_at` equals the new record's `created_at`, or whose `last_seen_at`
/// equals the idle cutoff, is already invalid, so it is deleted and takes no place.
pub(crate) async fn expired_sessions_not_counted<S: SessionStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let idle_cutoff = T0 - Duration::hours(2);

    let absolute = SessionRecord {
        created_at: T0 - Duration::hours(24),
        last_seen_at: T0 - Duration::minutes(1),
        expires_at: T0,
        ..session(user_id, T0)
    };
    let idle = SessionRecord {
        created_at: T0 - Duration::hours(3),
        last_seen_at: idle_cutoff,
        ..session(user_id, T0)
    };
    let live = SessionRecord {
        created_at: T0 - Duration::hours(4),
        last_seen_at: idle_cutoff + Duration::seconds(1),
        ..session(user_id, T0)
    };
    for record in [&absolute, &idle, &live] {
        store
            .create_session(record.clone(), MAX, no_idle())
            .await
            .unwrap();
    }
    assert_eq!(store.list_user_sessions(user_id).await.unwrap().len(), 3);

    let newest = session(user_id, T0);
    let evicted = store
        .create_session(newest.clone(), 2, idle_cutoff)
        .await
        .unwrap();
    assert!(evicted.is_empty(), "live sessions evicted: {evicted:?}");

    let listed = store.list_user_sessions(user_id).await.unwrap();
    assert_eq!(ids(&listed), vec![newest.id, live.id]);
}

/// Checks that eviction ranks by `created_at` alone, the new record included. On equal
/// `created_at` the new record counts as newer.
pub(crate) async fn old_new_record_is_evicted<S: SessionStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let recent = session(user_id, T0 + Duration::hours(1));
    store
        .create_session(recent.clone(), 1, no_idle())
        .await
        .unwrap();

    let older = session(user_id, T0);
    let evicted = store
        .create_session(older.clone(), 1, no_idle())
        .await
        .unwrap();
    assert_eq!(evicted, vec![older.clone()]);
    assert_eq!(store.find_session(&older.token_digest).await.unwrap(), None);

    let tie = session(user_id, recent.created_at);
    let evicted = store
        .create_session(tie.clone(), 1, no_idle())
        .await
        .unwrap();
    assert_eq!(evicted, vec![recent]);
    let listed = store.list_user_sessions(user_id).await.unwrap();
    assert_eq!(listed, vec![tie]);
}

pub(crate) async fn touch_never_recreates_session<S: SessionStore>(store: &S) {
    let record = session(Uuid::new_v4(), T0);
    store
        .create_session(record.clone(), MAX, no_idle())
        .await
        .unwrap();
    assert!(store.revoke_session(&record.token_digest).await.unwrap());

    let touched = store
        .touch_session(&record.token_digest, T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert!(!touched);
    assert_eq!(
        store.find_session(&record.token_digest).await.unwrap(),
        None
    );
    assert!(
        store
            .list_user_sessions(record.user_id)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(!store.touch_session(&digest(), T0).await.unwrap());
}

/// A conditional touch writes only when the stored time is at or before `stale_at`, reports
/// the stored time either way, and never recreates a revoked session.
pub(crate) async fn touch_if_stale_writes_once_per_interval<S: SessionStore>(store: &S) {
    let record = session(Uuid::new_v4(), T0);
    let digest_of = record.token_digest;
    store
        .create_session(record.clone(), MAX, no_idle())
        .await
        .unwrap();
    let interval = Duration::minutes(1);

    // Not stale yet: nothing written, the stored time comes back.
    let early = T0 + Duration::seconds(59);
    let seen = store
        .touch_session_if_stale(&digest_of, early, early - interval)
        .await
        .unwrap();
    assert_eq!(seen, Some(T0));

    // Exactly one interval later counts as stale (the boundary is inclusive).
    let due = T0 + interval;
    let seen = store
        .touch_session_if_stale(&digest_of, due, due - interval)
        .await
        .unwrap();
    assert_eq!(seen, Some(due));
    let stored = store.find_session(&digest_of).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_at, due);
    assert_eq!(
        SessionRecord {
            last_seen_at: record.last_seen_at,
            ..stored
        },
        record
    );

    assert!(store.revoke_session(&digest_of).await.unwrap());
    let late = T0 + Duration::hours(1);
    let seen = store
        .touch_session_if_stale(&digest_of, late, late - interval)
        .await
        .unwrap();
    assert_eq!(seen, None);
    assert_eq!(store.find_session(&digest_of).await.unwrap(), None);
}

pub(crate) async fn revoke_session_by_digest_and_id<S: SessionStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let first = session(user_id, T0);
    let second = session(user_id, T0 + Duration::minutes(1));
    for record in [&first, &second] {
        store
            .create_session(record.clone(), MAX, no_idle())
            .await
            .unwrap();
    }

    assert!(store.revoke_session(&first.token_digest).await.unwrap());
    assert!(!store.revoke_session(&first.token_digest).await.unwrap());
    assert_eq!(store.find_session(&first.token_digest).await.unwrap(), None);

    let stranger = Uuid::new_v4();
    assert!(
        !store
            .revoke_session_by_id(stranger, second.id)
            .await
            .unwrap()
    );
    let still_there = store.find_session(&second.token_digest).await.unwrap();
    assert_eq!(still_there, Some(second.clone()));

    assert!(
        store
            .revoke_session_by_id(user_id, second.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session_by_id(user_id, second.id)
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_session(&second.token_digest).await.unwrap(),
        None
    );
    assert!(
        !store
            .revoke_session_by_id(user_id, Uuid::new_v4())
            .await
            .unwrap()
    );
}

pub(crate) async fn revoke_user_sessions_keeps_one<S: SessionStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let records: Vec<SessionRecord> = (0..3)
        .map(|minute| session(user_id, T0 + Duration::minutes(minute)))
        .collect();
    let bystander = session(Uuid::new_v4(), T0);
    for record in records.iter().chain([&bystander]) {
        store
            .create_session(record.clone(), MAX, no_idle())
            .await
            .unwrap();
    }

    let keep = &records[1];
    let revoked = store
        .revoke_user_sessions(user_id, Some(&keep.token_digest))
        .await
        .unwrap();
    assert_eq!(revoked, 2);
    let listed = store.list_user_sessions(user_id).await.unwrap();
    assert_eq!(listed, vec![keep.clone()]);
    let other = store.find_session(&bystander.token_digest).await.unwrap();
    assert_eq!(other, Some(bystander));

    assert_eq!(store.revoke_user_sessions(user_id, None).await.unwrap(), 1);
    assert!(store.list_user_sessions(user_id).await.unwrap().is_empty());
    assert_eq!(store.revoke_user_sessions(user_id, None).await.unwrap(), 0);
}

pub(crate) async fn list_user_sessions_newest_first<S: SessionStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let mut expected = Vec::new();
    for minute in [2, 0, 3, 1] {
        let record = session(user_id, T0 + Duration::minutes(minute));
        expected.push((minute, record.id));
        store.create_session(record, MAX, no_idle()).await.unwrap();
    }
    // Expired sessions are listed until purged.
    let expired = SessionRecord {
        expires_at: T0 - Duration::hours(1),
        ..session(user_id, T0 - Duration::hours(25))
    };
    expected.push((-1500, expired.id));
    store.create_session(expired, MAX, no_idle()).await.unwrap();
    store
        .create_session(session(Uuid::new_v4(), T0), MAX, no_idle())
        .await
        .unwrap();

    expected.sort_unstable_by_key(|&(minute, _)| std::cmp::Reverse(minute));
    let expected_ids: Vec<Uuid> = expected.into_iter().map(|(_, id)| id).collect();
    let listed = store.list_user_sessions(user_id).await.unwrap();
    assert_eq!(ids(&listed), expected_ids);
    assert!(
        store
            .list_user_sessions(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Checks that purging deletes exactly the sessions the session layer would reject at `now`: those with
/// `expires_at <= now` or `last_seen_at <= idle_cutoff`.
pub(crate) async fn purge_expired_sessions_at_boundaries<S: SessionStore>(store: &S) {
    let now = T0 + Duration::hours(10);
    let idle_cutoff = now - Duration::hours(2);
    let second = Duration::seconds(1);
    let record = |expires_at, last_seen_at| SessionRecord {
        expires_at,
        last_seen_at,
        ..session(Uuid::new_v4(), T0)
    };

    let expired_now = record(now, now);
    let expires_soon = record(now + second, now);
    let idle_at_cutoff = record(now + Duration::hours(1), idle_cutoff);
    let idle_just_inside = record(now + Duration::hours(1), idle_cutoff + second);
    for r in [
        &expired_now,
        &expires_soon,
        &idle_at_cutoff,
        &idle_just_inside,
    ] {
        store
            .create_session(r.clone(), MAX, no_idle())
            .await
            .unwrap();
    }

    let purged = store
        .purge_expired_sessions(now, idle_cutoff)
        .await
        .unwrap();
    assert_eq!(purged, 2);
    for gone in [&expired_now, &idle_at_cutoff] {
        assert_eq!(store.find_session(&gone.token_digest).await.unwrap(), None);
    }
    for kept in [&expires_soon, &idle_just_inside] {
        let found = store.find_session(&kept.token_digest).await.unwrap();
        assert_eq!(found.as_ref(), Some(kept));
    }
    let again = store
        .purge_expired_sessions(now, idle_cutoff)
        .await
        .unwrap();
    assert_eq!(again, 0);
}

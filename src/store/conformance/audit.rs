//! Checks of [`AuditStore`].

use time::Duration;
use uuid::Uuid;

use super::T0;
use crate::audit::{AuditEvent, AuditEventType, AuditQuery, DEFAULT_AUDIT_LIMIT};
use crate::store::AuditStore;

fn query(limit: usize) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

fn ids(events: &[AuditEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}

pub(crate) async fn query_newest_first_with_limit<S: AuditStore>(store: &S) {
    // Appended out of time order, so the store must sort by `created_at`.
    let mut expected = Vec::new();
    for minute in [1, 4, 0, 3, 2] {
        let event = AuditEvent::new(AuditEventType::LoginFailure, T0 + Duration::minutes(minute))
            .meta("reason", "invalid_password");
        expected.push((minute, event.id));
        store.append_event(event).await.unwrap();
    }
    expected.sort_unstable_by_key(|&(minute, _)| std::cmp::Reverse(minute));
    let expected: Vec<Uuid> = expected.into_iter().map(|(_, id)| id).collect();

    let all = store
        .query_events(&query(DEFAULT_AUDIT_LIMIT))
        .await
        .unwrap();
    assert_eq!(ids(&all), expected);
    assert_eq!(all[0].event_metadata["reason"], "invalid_password");

    let limited = store.query_events(&query(2)).await.unwrap();
    assert_eq!(ids(&limited), expected[..2]);
    assert!(store.query_events(&query(0)).await.unwrap().is_empty());
}

pub(crate) async fn query_applies_every_filter<S: AuditStore>(store: &S) {
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let events = [
        AuditEvent::new(AuditEventType::LoginSuccess, T0).user(alice),
        AuditEvent::new(AuditEventType::LoginFailure, T0 + Duration::minutes(1)).user(alice),
        AuditEvent::new(AuditEventType::Logout, T0 + Duration::minutes(2)).user(alice),
        AuditEvent::new(AuditEventType::LoginFailure, T0 + Duration::minutes(3)).user(bob),
        AuditEvent::new(AuditEventType::LoginFailure, T0 + Duration::minutes(4)),
    ];
    for event in &events {
        store.append_event(event.clone()).await.unwrap();
    }

    let failures = AuditQuery {
        event_types: vec![AuditEventType::LoginFailure],
        ..query(10)
    };
    let found = store.query_events(&failures).await.unwrap();
    assert_eq!(ids(&found), vec![events[4].id, events[3].id, events[1].id]);

    let two_types = AuditQuery {
        event_types: vec![AuditEventType::LoginSuccess, AuditEventType::Logout],
        ..query(10)
    };
    let found = store.query_events(&two_types).await.unwrap();
    assert_eq!(ids(&found), vec![events[2].id, events[0].id]);

    let of_alice = AuditQuery {
        user_id: Some(alice),
        ..query(10)
    };
    let found = store.query_events(&of_alice).await.unwrap();
    assert_eq!(ids(&found), vec![events[2].id, events[1].id, events[0].id]);

    // `since` is inclusive and `until` exclusive.
    let window = AuditQuery {
        since: Some(T0 + Duration::minutes(1)),
        until: Some(T0 + Duration::minutes(3)),
        ..query(10)
    };
    let found = store.query_events(&window).await.unwrap();
    assert_eq!(ids(&found), vec![events[2].id, events[1].id]);

    let combined = AuditQuery {
        event_types: vec![AuditEventType::LoginFailure],
        user_id: Some(alice),
        since: Some(T0),
        until: Some(T0 + Duration::minutes(10)),
        limit: 10,
    };
    let found = store.query_events(&combined).await.unwrap();
    assert_eq!(ids(&found), vec![events[1].id]);
}

/// Every field comes back as appended, and text with line breaks, quotes or SQL in any field
/// stays inside that field: it neither forges a second event nor changes the query.
pub(crate) async fn every_field_round_trips_as_data<S: AuditStore>(store: &S) {
    let hostile = "admin\r\nLOGIN_SUCCESS user=admin'); DELETE FROM audit_events; --\"";
    let event = AuditEvent::new(AuditEventType::LoginFailure, T0)
        .user(Uuid::new_v4())
        .client(Some("2001:db8::1".to_owned()), Some(hostile))
        .meta("email", hostile)
        .meta("reason", "invalid_password")
        .meta("attempt", 3)
        .meta(
            "nested",
            serde_json::json!({"list": [1, "two", null], "flag": true}),
        );
    store.append_event(event.clone()).await.unwrap();
    let bare = AuditEvent::new(AuditEventType::Logout, T0 + Duration::minutes(1));
    store.append_event(bare.clone()).await.unwrap();

    let all = store.query_events(&query(10)).await.unwrap();
    assert_eq!(all, vec![bare, event.clone()]);

    let successes = AuditQuery {
        event_types: vec![AuditEventType::LoginSuccess],
        ..query(10)
    };
    assert!(store.query_events(&successes).await.unwrap().is_empty());
}

/// Events with the same `created_at` come newest-appended first.
pub(crate) async fn equal_times_newest_appended_first<S: AuditStore>(store: &S) {
    let mut appended = Vec::new();
    for _ in 0..5 {
        let event = AuditEvent::new(AuditEventType::SessionCreated, T0);
        appended.push(event.id);
        store.append_event(event).await.unwrap();
    }
    appended.reverse();
    let found = store.query_events(&query(10)).await.unwrap();
    assert_eq!(ids(&found), appended);
}

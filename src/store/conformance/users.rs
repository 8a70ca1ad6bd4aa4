//! Checks of [`UserStore`].

use time::Duration;
use uuid::Uuid;

use super::{T0, user};
use crate::store::{StoreError, User, UserStore};

pub(crate) async fn create_and_find_user<S: UserStore>(store: &S) {
    let alice = user("alice@example.com", T0);
    let created = store.create_user(alice.clone()).await.unwrap();
    assert_eq!(created, alice);

    let by_email = store.find_user_by_email("alice@example.com").await.unwrap();
    assert_eq!(by_email, Some(alice.clone()));
    let by_id = store.find_user_by_id(alice.id).await.unwrap();
    assert_eq!(by_id, Some(alice));

    assert_eq!(
        store.find_user_by_email("bob@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.find_user_by_id(Uuid::new_v4()).await.unwrap(), None);
}

pub(crate) async fn duplicate_email_conflicts<S: UserStore>(store: &S) {
    let first = user("alice@example.com", T0);
    store.create_user(first.clone()).await.unwrap();

    let second = user("alice@example.com", T0 + Duration::seconds(1));
    let result = store.create_user(second.clone()).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

    let stored = store.find_user_by_email("alice@example.com").await.unwrap();
    assert_eq!(stored.map(|u| u.id), Some(first.id));
    assert_eq!(store.find_user_by_id(second.id).await.unwrap(), None);
}

/// Callers pass the canonical email, so the store compares bytes and folds nothing.
pub(crate) async fn email_compared_exactly<S: UserStore>(store: &S) {
    store
        .create_user(user("alice@example.com", T0))
        .await
        .unwrap();
    let other_case = user("Alice@example.com", T0);
    store.create_user(other_case.clone()).await.unwrap();

    let found = store.find_user_by_email("Alice@example.com").await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(other_case.id));
    assert_eq!(
        store.find_user_by_email("ALICE@example.com").await.unwrap(),
        None
    );
}

pub(crate) async fn replace_hash_compares_and_swaps<S: UserStore>(store: &S) {
    let alice = user("alice@example.com", T0);
    store.create_user(alice.clone()).await.unwrap();

    let replaced = store
        .replace_password_hash(alice.id, "hash-0", "hash-1")
        .await
        .unwrap();
    assert!(replaced);
    let stored = store.find_user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "hash-1");
    assert_eq!(stored.password_changed_at, alice.password_changed_at);

    let stale = store
        .replace_password_hash(alice.id, "hash-0", "hash-2")
        .await
        .unwrap();
    assert!(!stale);
    let stored = store.find_user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "hash-1");

    let missing = store
        .replace_password_hash(Uuid::new_v4(), "hash-0", "hash-2")
        .await
        .unwrap();
    assert!(!missing);
}

pub(crate) async fn set_hash_updates_change_time<S: UserStore>(store: &S) {
    let alice = user("alice@example.com", T0);
    store.create_user(alice.clone()).await.unwrap();
    let changed_at = T0 + Duration::hours(3);

    let set = store
        .set_password_hash(alice.id, "hash-new", changed_at)
        .await
        .unwrap();
    assert!(set);
    let stored = store.find_user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "hash-new");
    assert_eq!(stored.password_changed_at, changed_at);
    assert_eq!(stored.created_at, alice.created_at);

    let missing = store
        .set_password_hash(Uuid::new_v4(), "hash-new", changed_at)
        .await
        .unwrap();
    assert!(!missing);
}

pub(crate) async fn mark_email_verified_sets_flag<S: UserStore>(store: &S) {
    let alice = user("alice@example.com", T0);
    store.create_user(alice.clone()).await.unwrap();

    assert!(store.mark_email_verified(alice.id).await.unwrap());
    let stored = store.find_user_by_id(alice.id).await.unwrap().unwrap();
    assert!(stored.email_verified);
    assert!(store.mark_email_verified(alice.id).await.unwrap());

    assert!(!store.mark_email_verified(Uuid::new_v4()).await.unwrap());
}

pub(crate) async fn list_users_oldest_first_paged<S: UserStore>(store: &S) {
    // Created in shuffled order, so the store must sort rather than keep insertion order.
    let mut ids = Vec::new();
    for minute in [3, 0, 4, 1, 2] {
        let created_at = T0 + Duration::minutes(minute);
        let new_user = user(&format!("user{minute}@example.com"), created_at);
        ids.push((minute, new_user.id));
        store.create_user(new_user).await.unwrap();
    }
    ids.sort_unstable();
    let expected: Vec<Uuid> = ids.into_iter().map(|(_, id)| id).collect();

    let all = store.list_users(0, 100).await.unwrap();
    let all_ids: Vec<Uuid> = all.iter().map(|u| u.id).collect();
    assert_eq!(all_ids, expected);

    let page: Vec<Uuid> = store
        .list_users(1, 2)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(page, expected[1..3]);

    assert!(store.list_users(5, 10).await.unwrap().is_empty());
    assert!(store.list_users(0, 0).await.unwrap().is_empty());
}

/// A second user with an existing id conflicts even under another email, and nothing of it
/// is stored.
pub(crate) async fn duplicate_id_conflicts<S: UserStore>(store: &S) {
    let first = user("first@example.com", T0);
    store.create_user(first.clone()).await.unwrap();
    let same_id = User {
        id: first.id,
        ..user("second@example.com", T0)
    };
    let result = store.create_user(same_id).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    assert_eq!(
        store
            .find_user_by_email("second@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_user_by_id(first.id).await.unwrap(), Some(first));
}

//! Checks of [`TokenStore`].

use time::Duration;
use uuid::Uuid;

use super::{T0, digest, one_time_token};
use crate::store::{OneTimeToken, TokenPurpose, TokenStore};

const RESET: TokenPurpose = TokenPurpose::PasswordReset;
const VERIFY: TokenPurpose = TokenPurpose::EmailVerification;

pub(crate) async fn consume_token_only_once<S: TokenStore>(store: &S) {
    let token = one_time_token(Uuid::new_v4(), RESET, T0);
    store.issue_token(token.clone()).await.unwrap();
    let now = T0 + Duration::minutes(5);

    let consumed = store
        .consume_token(&token.digest, RESET, now)
        .await
        .unwrap();
    let expected = OneTimeToken {
        used_at: Some(now),
        ..token.clone()
    };
    assert_eq!(consumed, Some(expected));

    let again = store
        .consume_token(&token.digest, RESET, now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(
        store.consume_token(&digest(), RESET, now).await.unwrap(),
        None
    );
}

/// Checks that a token is void from its `expires_at` on and works only for its own purpose.
pub(crate) async fn consume_checks_purpose_and_expiry<S: TokenStore>(store: &S) {
    let token = one_time_token(Uuid::new_v4(), RESET, T0);
    store.issue_token(token.clone()).await.unwrap();

    let wrong_purpose = store
        .consume_token(&token.digest, VERIFY, T0)
        .await
        .unwrap();
    assert_eq!(wrong_purpose, None);
    let at_expiry = store
        .consume_token(&token.digest, RESET, token.expires_at)
        .await
        .unwrap();
    assert_eq!(at_expiry, None);

    // Neither rejection used the token up.
    let just_before = token.expires_at - Duration::seconds(1);
    let consumed = store
        .consume_token(&token.digest, RESET, just_before)
        .await
        .unwrap();
    assert_eq!(consumed.map(|t| t.used_at), Some(Some(just_before)));
}

pub(crate) async fn issue_replaces_same_purpose<S: TokenStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let first = one_time_token(user_id, RESET, T0);
    let verify = one_time_token(user_id, VERIFY, T0);
    let other_user = one_time_token(Uuid::new_v4(), RESET, T0);
    for token in [&first, &verify, &other_user] {
        store.issue_token(token.clone()).await.unwrap();
    }

    let second = one_time_token(user_id, RESET, T0 + Duration::minutes(1));
    store.issue_token(second.clone()).await.unwrap();
    let now = T0 + Duration::minutes(2);

    assert_eq!(
        store
            .consume_token(&first.digest, RESET, now)
            .await
            .unwrap(),
        None
    );
    for (token, purpose) in [(&second, RESET), (&verify, VERIFY), (&other_user, RESET)] {
        let consumed = store
            .consume_token(&token.digest, purpose, now)
            .await
            .unwrap();
        assert_eq!(consumed.map(|t| t.digest), Some(token.digest));
    }
}

pub(crate) async fn revoke_user_tokens_by_purpose<S: TokenStore>(store: &S) {
    let user_id = Uuid::new_v4();
    let reset = one_time_token(user_id, RESET, T0);
    let verify = one_time_token(user_id, VERIFY, T0);
    let other_user = one_time_token(Uuid::new_v4(), RESET, T0);
    for token in [&reset, &verify, &other_user] {
        store.issue_token(token.clone()).await.unwrap();
    }

    assert_eq!(store.revoke_user_tokens(user_id, RESET).await.unwrap(), 1);
    assert_eq!(store.revoke_user_tokens(user_id, RESET).await.unwrap(), 0);
    assert_eq!(
        store.consume_token(&reset.digest, RESET, T0).await.unwrap(),
        None
    );
    for (token, purpose) in [(&verify, VERIFY), (&other_user, RESET)] {
        let consumed = store
            .consume_token(&token.digest, purpose, T0)
            .await
            .unwrap();
        assert!(
            consumed.is_some(),
            "{purpose:?} token of a bystander revoked"
        );
    }
}

pub(crate) async fn purge_expired_and_used_tokens<S: TokenStore>(store: &S) {
    let now = T0 + Duration::hours(2);
    let expired = OneTimeToken {
        expires_at: now,
        ..one_time_token(Uuid::new_v4(), RESET, T0)
    };
    let used = OneTimeToken {
        expires_at: now + Duration::hours(1),
        ..one_time_token(Uuid::new_v4(), RESET, T0)
    };
    let valid = OneTimeToken {
        expires_at: now + Duration::seconds(1),
        ..one_time_token(Uuid::new_v4(), VERIFY, T0)
    };
    for token in [&expired, &used, &valid] {
        store.issue_token(token.clone()).await.unwrap();
    }
    assert!(
        store
            .consume_token(&used.digest, RESET, T0)
            .await
            .unwrap()
            .is_some()
    );

    assert_eq!(store.purge_expired_tokens(now).await.unwrap(), 2);
    assert_eq!(store.purge_expired_tokens(now).await.unwrap(), 0);
    let consumed = store
        .consume_token(&valid.digest, VERIFY, now)
        .await
        .unwrap();
    assert!(consumed.is_some());
}

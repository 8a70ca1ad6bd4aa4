//! Checks of [`Auth::run_maintenance`] on a backend: what it purges and what it keeps.

use std::sync::Arc;

use time::Duration;
use uuid::Uuid;

use super::{T0, one_time_token, session};
use crate::Auth;
use crate::accounts::Stores;
use crate::clock::ManualClock;
use crate::config::AuthConfig;
use crate::store::{
    AuditStore, LockoutStore, SessionRecord, SessionStore, TokenPurpose, TokenStore, UserStore,
};

/// At a given time, maintenance deletes the expired, idle and used records and keeps the
/// live ones.
pub(crate) async fn maintenance_purges_dead_records<S>(store: &S)
where
    S: UserStore + SessionStore + LockoutStore + TokenStore + AuditStore + Clone,
{
    let config = AuthConfig::development();
    let idle = Duration::try_from(config.session.idle_timeout).expect("idle timeout");
    let now = T0 + Duration::days(2);
    let clock = ManualClock::new(now);
    let auth = Auth::new(config, Stores::single(store.clone()))
        .expect("development configuration")
        .with_clock(Arc::new(clock));
    let user_id = Uuid::new_v4();
    let no_idle = T0 - Duration::days(365);

    let expired = SessionRecord {
        expires_at: now - Duration::seconds(1),
        ..session(user_id, T0)
    };
    let idle_session = SessionRecord {
        last_seen_at: now - idle - Duration::seconds(1),
        ..session(user_id, now - Duration::hours(2))
    };
    let live = session(user_id, now - Duration::minutes(1));
    for record in [&expired, &idle_session, &live] {
        store
            .create_session(record.clone(), 10, no_idle)
            .await
            .unwrap();
    }
    let old_token = one_time_token(user_id, TokenPurpose::PasswordReset, T0);
    let live_token = one_time_token(user_id, TokenPurpose::EmailVerification, now);
    store.issue_token(old_token.clone()).await.unwrap();
    store.issue_token(live_token.clone()).await.unwrap();

    auth.run_maintenance().await;

    let kept: Vec<Uuid> = store
        .list_user_sessions(user_id)
        .await
        .unwrap()
        .iter()
        .map(|record| record.id)
        .collect();
    assert_eq!(kept, vec![live.id]);
    let purpose = TokenPurpose::EmailVerification;
    let consumed = store
        .consume_token(&live_token.digest, purpose, now)
        .await
        .unwrap();
    assert!(consumed.is_some(), "live token purged");
    assert_eq!(
        store
            .revoke_user_tokens(user_id, TokenPurpose::PasswordReset)
            .await
            .unwrap(),
        0,
        "expired token kept"
    );
}

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::audit::{AuditEventType, AuditQuery};
use crate::clock::ManualClock;
use crate::config::{Argon2Config, AuthConfig};
use crate::error::AuthError;
use crate::mail::{EmailKind, MemoryMailer};
use crate::store::memory::MemoryStore;
use crate::store::{LockoutStore, SessionStore, UserStore};

const PASSWORD: &str = "SecurePass123!";

struct Harness {
    service: AuthService,
    store: MemoryStore,
    mailer: MemoryMailer,
    clock: ManualClock,
}

fn fast_config() -> AuthConfig {
    let mut config = AuthConfig::development();
    config.password.argon2 = Argon2Config {
        time_cost: 1,
        memory_kib: 64,
        parallelism: 1,
        ..Argon2Config::default()
    };
    config
}

fn harness_with(config: AuthConfig) -> Harness {
    let store = MemoryStore::new();
    let mailer = MemoryMailer::new();
    let clock = ManualClock::default();
    let service = AuthService::new(config, Stores::single(store.clone()))
        .unwrap()
        .with_mailer(mailer.clone())
        .with_clock(Arc::new(clock.clone()));
    Harness {
        service,
        store,
        mailer,
        clock,
    }
}

fn harness() -> Harness {
    harness_with(fast_config())
}

fn client(ip: &str) -> ClientContext {
    ClientContext {
        ip: Some(ip.parse::<IpAddr>().unwrap()),
        user_agent: Some("test-agent/1.0".into()),
    }
}

/// Waits for a background task (mail, rehash) to produce a value, for at most 5 s.
async fn eventually<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..5000 {
        if let Some(value) = probe() {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("background task did not finish within 5 s");
}

async fn events(h: &Harness, kind: AuditEventType) -> Vec<crate::audit::AuditEvent> {
    h.service
        .query_audit(&AuditQuery {
            event_types: vec![kind],
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn signup_then_login_creates_session() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("Test@Example.com", PASSWORD, &c)
        .await
        .unwrap();
    let outcome = h
        .service
        .login("test@example.com", PASSWORD, &c)
        .await
        .unwrap();
    assert_eq!(outcome.user.email, "test@example.com");
    assert_eq!(outcome.session.token_digest, outcome.token.digest());
    let stored = h.store.find_session(&outcome.token.digest()).await.unwrap();
    assert_eq!(stored.unwrap().user_id, outcome.user.id);
    assert_eq!(events(&h, AuditEventType::LoginSuccess).await.len(), 1);
    let created = events(&h, AuditEventType::SessionCreated).await;
    assert_eq!(created[0].ip_address.as_deref(), Some("192.0.2.1"));
}

#[tokio::test]
async fn stored_password_is_argon2id_not_clear() {
    let h = harness();
    h.service
        .signup("a@example.com", PASSWORD, &client("192.0.2.1"))
        .await
        .unwrap();
    let user = h
        .store
        .find_user_by_email("a@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(user.password_hash.starts_with("$argon2id$"));
    assert!(!user.password_hash.contains(PASSWORD));
}

#[tokio::test]
async fn duplicate_signup_looks_like_new_and_notifies_owner() {
    let h = harness();
    let c = client("192.0.2.1");
    let first = h
        .service
        .signup("mike@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let verify = eventually(|| {
        h.mailer
            .last_token("mike@example.org", EmailKind::VerifyEmail)
    })
    .await;
    h.service.verify_email(&verify, &c).await.unwrap();
    let second = h
        .service
        .signup("Mike@Example.org", "Other-Pass-42!", &c)
        .await
        .unwrap();
    assert_eq!(first, second);
    let notice = eventually(|| {
        h.mailer
            .sent()
            .into_iter()
            .find(|email| email.kind == EmailKind::AccountExists)
    })
    .await;
    assert_eq!(notice.to, "mike@example.org");
    assert_eq!(h.store.list_users(0, 10).await.unwrap().len(), 1);
    // The original password still works; the duplicate changed nothing.
    h.service
        .login("mike@example.org", PASSWORD, &c)
        .await
        .unwrap();
}

#[tokio::test]
async fn repeated_signup_resends_expired_verification() {
    let mut config = fast_config();
    config.accounts.require_email_verification = true;
    let h = harness_with(config);
    let c = client("192.0.2.1");
    h.service
        .signup("late@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let first = eventually(|| {
        h.mailer
            .last_token("late@example.org", EmailKind::VerifyEmail)
    })
    .await;
    h.clock.advance(time::Duration::hours(25));
    let expired = h.service.verify_email(&first, &c).await.unwrap_err();
    assert!(matches!(expired, AuthError::InvalidToken));

    h.service
        .signup("late@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let second = eventually(|| {
        h.mailer
            .last_token("late@example.org", EmailKind::VerifyEmail)
            .filter(|token| *token != first)
    })
    .await;
    h.service.verify_email(&second, &c).await.unwrap();
    h.service
        .login("late@example.org", PASSWORD, &c)
        .await
        .unwrap();
}

#[tokio::test]
async fn reset_before_verification_verifies_address() {
    let mut config = fast_config();
    config.accounts.require_email_verification = true;
    let h = harness_with(config);
    let c = client("192.0.2.1");
    h.service
        .signup("early@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let verify = eventually(|| {
        h.mailer
            .last_token("early@example.org", EmailKind::VerifyEmail)
    })
    .await;
    let token = reset_token(&h, "early@example.org").await;
    h.service
        .reset_password(&token, "Brand-New-Pass-7", &c)
        .await
        .unwrap();
    // The reset proved control of the address, and the older verification link still works.
    h.service
        .login("early@example.org", "Brand-New-Pass-7", &c)
        .await
        .unwrap();
    h.service.verify_email(&verify, &c).await.unwrap();
}

#[tokio::test]
async fn signup_reports_every_failed_rule() {
    let h = harness();
    let error = h
        .service
        .signup("not-an-email", "abc", &client("192.0.2.1"))
        .await
        .unwrap_err();
    let AuthError::Validation { details } = error else {
        panic!("expected a validation error, got {error:?}");
    };
    assert!(
        details
            .iter()
            .any(|d| d.contains("Email address is invalid")),
        "{details:?}"
    );
    assert!(
        details.len() >= 4,
        "expected email and several password rules: {details:?}"
    );
    assert!(h.store.list_users(0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_give_same_error() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("real@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let unknown = h
        .service
        .login("nobody@example.org", PASSWORD, &c)
        .await
        .unwrap_err();
    let wrong = h
        .service
        .login("real@example.org", "Wrong-Pass-1", &c)
        .await
        .unwrap_err();
    assert!(matches!(unknown, AuthError::InvalidCredentials));
    assert!(matches!(wrong, AuthError::InvalidCredentials));
    assert_eq!(unknown.to_json(), wrong.to_json());
}

#[tokio::test]
async fn overlong_password_rejected_as_invalid_credentials() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("real@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let huge = "A1!a".repeat(1 << 18);
    let error = h
        .service
        .login("real@example.org", &huge, &c)
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::InvalidCredentials));
    // Rejected before the lockout counter, so it does not count as an attempt.
    assert!(h.store_lockout("real@example.org").await.is_none());
}

impl Harness {
    async fn store_lockout(&self, key: &str) -> Option<crate::store::LockoutState> {
        crate::store::LockoutStore::lockout_state(&self.store, key)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn five_failures_lock_even_correct_password() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("victim@example.org", PASSWORD, &c)
        .await
        .unwrap();
    for attempt in 1..=5 {
        let error = h
            .service
            .login("victim@example.org", "Wrong-Pass-1", &c)
            .await
            .unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidCredentials),
            "attempt {attempt}: {error:?}"
        );
    }
    let error = h
        .service
        .login("victim@example.org", PASSWORD, &c)
        .await
        .unwrap_err();
    let AuthError::AccountLocked { retry_after_secs } = error else {
        panic!("expected a lock, got {error:?}");
    };
    assert_eq!(retry_after_secs, 15 * 60);
    assert_eq!(events(&h, AuditEventType::AccountLocked).await.len(), 1);
}

#[tokio::test]
async fn lock_expires_and_is_never_extended() {
    let h = harness();
    let c = client("198.51.100.9");
    h.service
        .signup("victim@example.org", PASSWORD, &c)
        .await
        .unwrap();
    for _ in 0..5 {
        let _ = h
            .service
            .login("victim@example.org", "Wrong-Pass-1", &c)
            .await;
    }
    // Failures while locked do not move the end of the lock.
    h.clock.advance(time::Duration::minutes(10));
    let error = h
        .service
        .login("victim@example.org", "Wrong-Pass-1", &c)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            AuthError::AccountLocked {
                retry_after_secs: 300
            }
        ),
        "{error:?}"
    );
    h.clock.advance(time::Duration::minutes(5));
    h.service
        .login("victim@example.org", PASSWORD, &client("203.0.113.5"))
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_email_locks_like_real_one() {
    let h = harness();
    let c = client("192.0.2.1");
    for _ in 0..5 {
        let error = h
            .service
            .login("ghost@example.org", "Wrong-Pass-1", &c)
            .await
            .unwrap_err();
        assert!(matches!(error, AuthError::InvalidCredentials));
    }
    let error = h
        .service
        .login("ghost@example.org", "Wrong-Pass-1", &c)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            AuthError::AccountLocked {
                retry_after_secs: 900
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn email_variants_share_one_lockout() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("victim@example.org", PASSWORD, &c)
        .await
        .unwrap();
    for variant in [
        "victim@example.org",
        "Victim@Example.ORG",
        " victim@example.org ",
        "victim@example.org\t",
        "VICTIM@example.org",
    ] {
        let error = h
            .service
            .login(variant, "Wrong-Pass-1", &c)
            .await
            .unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidCredentials),
            "{variant:?}"
        );
    }
    let error = h
        .service
        .login("victim@EXAMPLE.org", PASSWORD, &c)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AuthError::AccountLocked { .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_stop_at_lockout_maximum() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("victim@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let service = h.service.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            service
                .login("victim@example.org", "Wrong-Pass-1", &c)
                .await
        }));
    }
    let mut invalid = 0;
    let mut locked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Err(AuthError::InvalidCredentials) => invalid += 1,
            Err(AuthError::AccountLocked { .. }) => locked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(invalid, 5, "exactly the maximum reached a password check");
    assert_eq!(locked, 45);
}

#[tokio::test]
async fn successful_login_clears_failure_count() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("user@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let _ = h
        .service
        .login("user@example.org", "Wrong-Pass-1", &c)
        .await;
    assert_eq!(
        h.store_lockout("user@example.org").await.unwrap().failures,
        1
    );
    h.service
        .login("user@example.org", PASSWORD, &c)
        .await
        .unwrap();
    assert!(
        h.store_lockout("user@example.org")
            .await
            .is_none_or(|s| s.failures == 0)
    );
}

#[tokio::test]
async fn verification_required_blocks_login_until_verified() {
    let mut config = fast_config();
    config.accounts.require_email_verification = true;
    let h = harness_with(config);
    let c = client("192.0.2.1");
    h.service
        .signup("new@example.org", PASSWORD, &c)
        .await
        .unwrap();
    // A wrong password still gets the generic error: the state is shown only to the owner.
    let wrong = h
        .service
        .login("new@example.org", "Wrong-Pass-1", &c)
        .await
        .unwrap_err();
    assert!(matches!(wrong, AuthError::InvalidCredentials));
    let error = h
        .service
        .login("new@example.org", PASSWORD, &c)
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::EmailNotVerified));

    let token = eventually(|| {
        h.mailer
            .last_token("new@example.org", EmailKind::VerifyEmail)
    })
    .await;
    h.service.verify_email(&token, &c).await.unwrap();
    let again = h.service.verify_email(&token, &c).await.unwrap_err();
    assert!(matches!(again, AuthError::InvalidToken));
    let outcome = h
        .service
        .login("new@example.org", PASSWORD, &c)
        .await
        .unwrap();
    assert!(outcome.user.email_verified);
    assert_eq!(events(&h, AuditEventType::EmailVerified).await.len(), 1);
}

#[tokio::test]
async fn session_limit_evicts_oldest() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("many@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..12 {
        h.clock.advance(time::Duration::seconds(1));
        tokens.push(
            h.service
                .login("many@example.org", PASSWORD, &c)
                .await
                .unwrap()
                .token,
        );
    }
    for (index, token) in tokens.iter().enumerate() {
        let found = h.store.find_session(&token.digest()).await.unwrap();
        assert_eq!(found.is_some(), index >= 2, "session {index}");
    }
    let revoked = events(&h, AuditEventType::SessionRevoked).await;
    assert_eq!(revoked.len(), 2);
    assert_eq!(revoked[0].event_metadata["reason"], "session_limit");
}

#[tokio::test]
async fn logout_revokes_and_is_idempotent() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("out@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let outcome = h
        .service
        .login("out@example.org", PASSWORD, &c)
        .await
        .unwrap();
    h.service.logout(Some(&outcome.session), &c).await.unwrap();
    assert!(
        h.store
            .find_session(&outcome.token.digest())
            .await
            .unwrap()
            .is_none()
    );
    h.service.logout(Some(&outcome.session), &c).await.unwrap();
    h.service.logout(None, &c).await.unwrap();
    assert_eq!(events(&h, AuditEventType::Logout).await.len(), 1);
}

#[tokio::test]
async fn forgot_password_mails_stored_address_only() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("mike@example.org", PASSWORD, &c)
        .await
        .unwrap();
    h.service
        .forgot_password("mi\u{212A}e@example.org", &c)
        .await
        .unwrap();
    let email = eventually(|| {
        h.mailer
            .sent()
            .into_iter()
            .find(|email| email.kind == EmailKind::PasswordReset)
    })
    .await;
    assert_eq!(email.to, "mike@example.org");

    h.service
        .forgot_password("m\u{0131}ke@example.org", &c)
        .await
        .unwrap();
    h.service
        .forgot_password("nobody@example.org", &c)
        .await
        .unwrap();
    for _ in 0..5000 {
        if events(&h, AuditEventType::PasswordResetRequested)
            .await
            .len()
            >= 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        events(&h, AuditEventType::PasswordResetRequested)
            .await
            .len(),
        3
    );
    let resets: Vec<_> = h
        .mailer
        .sent()
        .into_iter()
        .filter(|email| email.kind == EmailKind::PasswordReset)
        .collect();
    assert_eq!(
        resets.len(),
        1,
        "no mail for unknown or look-alike addresses"
    );
}

/// Requests a reset link and returns its token. Only reset emails count: the verification
/// email of a signup just before may arrive later, from its own background task.
async fn reset_token(h: &Harness, email: &str) -> String {
    let previous = h.mailer.last_token(email, EmailKind::PasswordReset);
    h.service
        .forgot_password(email, &client("192.0.2.1"))
        .await
        .unwrap();
    eventually(|| {
        h.mailer
            .last_token(email, EmailKind::PasswordReset)
            .filter(|token| Some(token) != previous.as_ref())
    })
    .await
}

#[tokio::test]
async fn reset_works_once_and_revokes_sessions() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("reset@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let device_a = h
        .service
        .login("reset@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let device_b = h
        .service
        .login("reset@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let token = reset_token(&h, "reset@example.org").await;

    h.service
        .reset_password(&token, "Brand-New-Pass-7", &c)
        .await
        .unwrap();
    let again = h
        .service
        .reset_password(&token, "Other-New-Pass-8", &c)
        .await
        .unwrap_err();
    assert!(matches!(again, AuthError::InvalidToken));
    for device in [&device_a, &device_b] {
        assert!(
            h.store
                .find_session(&device.token.digest())
                .await
                .unwrap()
                .is_none()
        );
    }
    h.service
        .login("reset@example.org", "Brand-New-Pass-7", &c)
        .await
        .unwrap();
    let reset = events(&h, AuditEventType::PasswordReset).await;
    assert_eq!(reset[0].event_metadata["sessions_revoked"], 2);
}

#[tokio::test]
async fn reset_with_weak_password_keeps_token() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("weak@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let token = reset_token(&h, "weak@example.org").await;
    let error = h
        .service
        .reset_password(&token, "password", &c)
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::Validation { .. }));
    h.service
        .reset_password(&token, "Strong-Enough-9", &c)
        .await
        .unwrap();
}

#[tokio::test]
async fn newer_reset_token_voids_older() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("two@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let first = reset_token(&h, "two@example.org").await;
    let second = reset_token(&h, "two@example.org").await;
    assert_ne!(first, second);
    let error = h
        .service
        .reset_password(&first, "Brand-New-Pass-7", &c)
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::InvalidToken));
    h.service
        .reset_password(&second, "Brand-New-Pass-7", &c)
        .await
        .unwrap();
}

#[tokio::test]
async fn password_change_voids_reset_token() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("chg@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let token = reset_token(&h, "chg@example.org").await;
    let session = h
        .service
        .login("chg@example.org", PASSWORD, &c)
        .await
        .unwrap()
        .session;
    h.service
        .change_password(&session, PASSWORD, "Changed-Pass-3", &c)
        .await
        .unwrap();
    let error = h
        .service
        .reset_password(&token, "Brand-New-Pass-7", &c)
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::InvalidToken));
}

#[tokio::test]
async fn expired_and_malformed_reset_tokens_rejected() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("exp@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let token = reset_token(&h, "exp@example.org").await;
    h.clock.advance(time::Duration::minutes(61));
    for bad in [
        token.as_str(),
        "",
        "short",
        &"x".repeat(43),
        &format!("{token}\r\n"),
    ] {
        let error = h
            .service
            .reset_password(bad, "Brand-New-Pass-7", &c)
            .await
            .unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidToken),
            "{bad:?}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_resets_with_one_token_succeed_once() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("race@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let token = reset_token(&h, "race@example.org").await;
    let mut tasks = Vec::new();
    for index in 0..20 {
        let service = h.service.clone();
        let token = token.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            service
                .reset_password(&token, &format!("Parallel-Pass-{index}!"), &c)
                .await
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => succeeded += 1,
            Err(AuthError::InvalidToken) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(succeeded, 1);
}

#[tokio::test]
async fn change_password_keeps_only_current_session() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("cp@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let device_a = h
        .service
        .login("cp@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let device_b = h
        .service
        .login("cp@example.org", PASSWORD, &c)
        .await
        .unwrap();

    let wrong = h
        .service
        .change_password(&device_a.session, "Wrong-Pass-1", "Changed-Pass-3", &c)
        .await
        .unwrap_err();
    assert!(matches!(wrong, AuthError::InvalidCredentials));
    let weak = h
        .service
        .change_password(&device_a.session, PASSWORD, "weak", &c)
        .await
        .unwrap_err();
    assert!(matches!(weak, AuthError::Validation { .. }));
    let same = h
        .service
        .change_password(&device_a.session, PASSWORD, PASSWORD, &c)
        .await
        .unwrap_err();
    assert!(matches!(same, AuthError::Validation { .. }));

    h.service
        .change_password(&device_a.session, PASSWORD, "Changed-Pass-3", &c)
        .await
        .unwrap();
    assert!(
        h.store
            .find_session(&device_a.token.digest())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        h.store
            .find_session(&device_b.token.digest())
            .await
            .unwrap()
            .is_none()
    );
    let changed = events(&h, AuditEventType::PasswordChanged).await;
    assert_eq!(changed[0].event_metadata["sessions_revoked"], 1);
    h.service
        .login("cp@example.org", "Changed-Pass-3", &c)
        .await
        .unwrap();
}

#[tokio::test]
async fn weaker_hash_upgraded_after_login() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("old@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let user = h
        .store
        .find_user_by_email("old@example.org")
        .await
        .unwrap()
        .unwrap();

    // Stronger parameters for the same stores: existing hashes now count as weak.
    let mut stronger = fast_config();
    stronger.password.argon2.time_cost = 2;
    let upgraded = AuthService::new(stronger, Stores::single(h.store.clone())).unwrap();
    upgraded
        .login("old@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let mut new_hash = user.password_hash.clone();
    for _ in 0..5000 {
        let found = h
            .store
            .find_user_by_email("old@example.org")
            .await
            .unwrap()
            .unwrap();
        new_hash = found.password_hash;
        if new_hash != user.password_hash {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(new_hash.contains("t=2"), "{new_hash}");
    upgraded
        .login("old@example.org", PASSWORD, &c)
        .await
        .unwrap();
}

#[tokio::test]
async fn session_listing_and_revocation_are_per_user() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("one@example.org", PASSWORD, &c)
        .await
        .unwrap();
    h.service
        .signup("two@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let mine = h
        .service
        .login("one@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let theirs = h
        .service
        .login("two@example.org", PASSWORD, &c)
        .await
        .unwrap();

    let listed = h.service.list_sessions(mine.user.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    let error = h
        .service
        .revoke_own_session(mine.user.id, theirs.session.id, &c)
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::NotFound));
    assert!(
        h.store
            .find_session(&theirs.token.digest())
            .await
            .unwrap()
            .is_some()
    );
    h.service
        .revoke_own_session(mine.user.id, mine.session.id, &c)
        .await
        .unwrap();
    assert!(
        h.service
            .list_sessions(mine.user.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn purge_removes_expired_sessions() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("p@example.org", PASSWORD, &c)
        .await
        .unwrap();
    h.service
        .login("p@example.org", PASSWORD, &c)
        .await
        .unwrap();
    assert_eq!(h.service.purge_expired().await.unwrap().0, 0);
    h.clock.advance(time::Duration::hours(3));
    assert_eq!(h.service.purge_expired().await.unwrap().0, 1);
}

#[tokio::test]
async fn forged_audit_text_stays_in_one_event() {
    let h = harness();
    let c = client("192.0.2.1");
    let forged = "admin\r\nLOGIN_SUCCESS user=admin ip=192.0.2.1@example.org";
    let _ = h.service.login(forged, "Wrong-Pass-1", &c).await;
    let _ = h
        .service
        .login(
            "x] [AUDIT] login ok user=root@example.org",
            "Wrong-Pass-1",
            &c,
        )
        .await;
    assert!(events(&h, AuditEventType::LoginSuccess).await.is_empty());
}

/// A session store whose bulk revocation fails, as a database outage would.
struct FailingRevocation(MemoryStore);

#[async_trait::async_trait]
impl SessionStore for FailingRevocation {
    async fn create_session(
        &self,
        record: crate::store::SessionRecord,
        max_per_user: usize,
        idle_cutoff: time::OffsetDateTime,
    ) -> Result<Vec<crate::store::SessionRecord>, crate::store::StoreError> {
        self.0
            .create_session(record, max_per_user, idle_cutoff)
            .await
    }
    async fn find_session(
        &self,
        digest: &crate::token::TokenDigest,
    ) -> Result<Option<crate::store::SessionRecord>, crate::store::StoreError> {
        self.0.find_session(digest).await
    }
    async fn touch_session(
        &self,
        digest: &crate::token::TokenDigest,
        at: time::OffsetDateTime,
    ) -> Result<bool, crate::store::StoreError> {
        self.0.touch_session(digest, at).await
    }
    async fn revoke_session(
        &self,
        digest: &crate::token::TokenDigest,
    ) -> Result<bool, crate::store::StoreError> {
        self.0.revoke_session(digest).await
    }
    async fn revoke_session_by_id(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<bool, crate::store::StoreError> {
        self.0.revoke_session_by_id(user_id, id).await
    }
    async fn revoke_user_sessions(
        &self,
        _user_id: uuid::Uuid,
        _keep: Option<&crate::token::TokenDigest>,
    ) -> Result<u64, crate::store::StoreError> {
        Err(crate::store::StoreError::Unavailable(
            "database is down".into(),
        ))
    }
    async fn list_user_sessions(
        &self,
        user_id: uuid::Uuid,
    ) -> Result<Vec<crate::store::SessionRecord>, crate::store::StoreError> {
        self.0.list_user_sessions(user_id).await
    }
    async fn purge_expired_sessions(
        &self,
        now: time::OffsetDateTime,
        idle_cutoff: time::OffsetDateTime,
    ) -> Result<u64, crate::store::StoreError> {
        self.0.purge_expired_sessions(now, idle_cutoff).await
    }
}

#[tokio::test]
async fn failed_revocation_leaves_password_unchanged() {
    let memory = MemoryStore::new();
    let mut stores = Stores::single(memory.clone());
    stores.sessions = Arc::new(FailingRevocation(memory.clone()));
    let service = AuthService::new(fast_config(), stores)
        .unwrap()
        .with_mailer(MemoryMailer::new());
    let c = client("192.0.2.1");
    service
        .signup("down@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let device_a = service
        .login("down@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let device_b = service
        .login("down@example.org", PASSWORD, &c)
        .await
        .unwrap();

    let error = service
        .change_password(&device_a.session, PASSWORD, "Changed-Pass-3", &c)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AuthError::ServiceUnavailable { .. }),
        "{error:?}"
    );
    // Nothing changed: the old password and both sessions still work, so a retry is safe.
    service
        .login("down@example.org", PASSWORD, &c)
        .await
        .unwrap();
    assert!(
        memory
            .find_session(&device_b.token.digest())
            .await
            .unwrap()
            .is_some()
    );
    let changed = service
        .query_audit(&AuditQuery {
            event_types: vec![AuditEventType::PasswordChanged],
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(changed.is_empty());
}

#[tokio::test]
async fn change_password_guesses_count_toward_lockout() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("guess@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let stolen = h
        .service
        .login("guess@example.org", PASSWORD, &c)
        .await
        .unwrap();
    for _ in 0..5 {
        let error = h
            .service
            .change_password(&stolen.session, "Wrong-Pass-1", "Changed-Pass-3", &c)
            .await
            .unwrap_err();
        assert!(matches!(error, AuthError::InvalidCredentials), "{error:?}");
    }
    let error = h
        .service
        .change_password(&stolen.session, PASSWORD, "Changed-Pass-3", &c)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AuthError::AccountLocked { .. }),
        "{error:?}"
    );

    // Audited like logins: five failed checks, the lock, and the refused sixth check.
    let failures = events(&h, AuditEventType::LoginFailure).await;
    let reasons: Vec<_> = failures
        .iter()
        .map(|event| event.event_metadata["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| *r == "invalid_current_password")
            .count(),
        5
    );
    assert_eq!(reasons.iter().filter(|r| *r == "locked").count(), 1);
    let locks = events(&h, AuditEventType::AccountLocked).await;
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].user_id, Some(stolen.user.id));
}

/// Polls `future` once, checks that it is still pending, then drops it, as a server drops a
/// request's future when the client disconnects.
async fn drop_after_first_poll<F: std::future::Future>(future: F) {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        assert!(
            future.as_mut().poll(cx).is_pending(),
            "the flow finished in one poll"
        );
        std::task::Poll::Ready(())
    })
    .await;
}

/// Waits until `kind` has `count` audit events, for at most 5 s.
async fn wait_for_events(h: &Harness, kind: AuditEventType, count: usize) {
    for _ in 0..5000 {
        if events(h, kind).await.len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("no {count} {kind:?} events within 5 s");
}

#[tokio::test]
async fn dropped_login_still_records_its_failure() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("gone@example.org", PASSWORD, &c)
        .await
        .unwrap();

    drop_after_first_poll(h.service.login("gone@example.org", "Wrong-Pass-123", &c)).await;

    wait_for_events(&h, AuditEventType::LoginFailure, 1).await;
    let state = h
        .store
        .lockout_state("gone@example.org")
        .await
        .unwrap()
        .expect("the counted attempt stays recorded");
    assert_eq!(state.failures, 1);
}

#[tokio::test]
async fn dropped_successful_login_clears_its_attempt() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("back@example.org", PASSWORD, &c)
        .await
        .unwrap();

    drop_after_first_poll(h.service.login("back@example.org", PASSWORD, &c)).await;

    wait_for_events(&h, AuditEventType::LoginSuccess, 1).await;
    let state = h.store.lockout_state("back@example.org").await.unwrap();
    assert!(state.is_none_or(|state| state.failures == 0), "{state:?}");
}

#[tokio::test]
async fn dropped_reset_still_sets_the_new_password() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("cut@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let token = reset_token(&h, "cut@example.org").await;

    drop_after_first_poll(h.service.reset_password(&token, "Brand-New-Pass-7", &c)).await;

    wait_for_events(&h, AuditEventType::PasswordReset, 1).await;
    h.service
        .login("cut@example.org", "Brand-New-Pass-7", &c)
        .await
        .unwrap();
}

#[tokio::test]
async fn dropped_password_change_finishes() {
    let h = harness();
    let c = client("192.0.2.1");
    h.service
        .signup("moved@example.org", PASSWORD, &c)
        .await
        .unwrap();
    let session = h
        .service
        .login("moved@example.org", PASSWORD, &c)
        .await
        .unwrap()
        .session;

    drop_after_first_poll(
        h.service
            .change_password(&session, PASSWORD, "Brand-New-Pass-7", &c),
    )
    .await;

    wait_for_events(&h, AuditEventType::PasswordChanged, 1).await;
    h.service
        .login("moved@example.org", "Brand-New-Pass-7", &c)
        .await
        .unwrap();
}

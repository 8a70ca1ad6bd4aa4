//! Runs every flow of the stack with a process-wide TRACE subscriber and checks that no
//! password, session token, reset token or API key reaches the log.
//!
//! This file contains a single test, so the global subscriber sees every event and no other test
//! races with tracing's per-callsite cache.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amoskys_auth::accounts::Stores;
use amoskys_auth::client_ip::PeerAddr;
use amoskys_auth::config::{Argon2Config, Secret};
use amoskys_auth::mail::{EmailKind, MemoryMailer};
use amoskys_auth::{Auth, AuthConfig};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{Layer, ServiceExt};

const PASSWORD: &str = "Sup3r-Secret-Pass!";
const NEW_PASSWORD: &str = "An0ther-Secret-Pass?";
const API_KEY: &str = "admin-key-4f9c2e7a1b3d5f60";

#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn send(
    auth: &Auth,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap) {
    let mut builder = Request::builder().method(method).uri(path);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let text = body.map(|body| body.to_string()).unwrap_or_default();
    let mut request = builder.body(Full::new(Bytes::from(text))).unwrap();
    let peer: SocketAddr = "192.0.2.44:41000".parse().unwrap();
    request.extensions_mut().insert(PeerAddr(peer));
    let response = auth
        .layer()
        .layer(auth.api())
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    body.collect().await.unwrap();
    (parts.status, parts.headers)
}

async fn wait_for_token(mailer: &MemoryMailer, kind: EmailKind) -> String {
    for _ in 0..5000 {
        if let Some(token) = mailer.last_token("user@example.org", kind) {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("no {kind:?} email within 5 s");
}

#[tokio::test]
async fn no_secret_reaches_trace_log() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut config = AuthConfig::development();
    config.password.argon2 = Argon2Config {
        time_cost: 1,
        memory_kib: 64,
        parallelism: 1,
        ..Argon2Config::default()
    };
    config.api_keys = vec![Secret::new(API_KEY)];
    let mailer = MemoryMailer::new();
    let auth = Auth::new(config, Stores::memory())
        .unwrap()
        .with_mailer(mailer.clone());

    let credentials = json!({"email": "user@example.org", "password": PASSWORD});
    let (status, _) = send(
        &auth,
        Method::POST,
        "/api/auth/signup",
        Some(credentials.clone()),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let verify_token = wait_for_token(&mailer, EmailKind::VerifyEmail).await;
    let wrong = json!({"email": "user@example.org", "password": "Wrong-Guess-123"});
    let (status, _) = send(&auth, Method::POST, "/api/auth/login", Some(wrong), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers) = send(
        &auth,
        Method::POST,
        "/api/auth/login",
        Some(credentials),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let set_cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let session_token = cookie.trim_start_matches("amoskys_session=").to_owned();

    let (status, _) = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        None,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for key in [API_KEY, "wrong-admin-key-value"] {
        send(
            &auth,
            Method::GET,
            "/api/admin/users",
            None,
            &[("x-api-key", key)],
        )
        .await;
    }
    let (status, _) = send(
        &auth,
        Method::POST,
        "/api/auth/verify-email",
        Some(json!({"token": verify_token})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &auth,
        Method::POST,
        "/api/auth/forgot-password",
        Some(json!({"email": "user@example.org"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let reset_token = wait_for_token(&mailer, EmailKind::PasswordReset).await;
    let (status, _) = send(
        &auth,
        Method::POST,
        "/api/auth/reset-password",
        Some(json!({"token": reset_token, "password": NEW_PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        None,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("rate limit passed"),
        "TRACE events are captured: {text}"
    );
    for (what, secret) in [
        ("password", PASSWORD),
        ("wrong password", "Wrong-Guess-123"),
        ("new password", NEW_PASSWORD),
        ("API key", API_KEY),
        ("wrong API key", "wrong-admin-key-value"),
        ("session token", session_token.as_str()),
        ("verification token", verify_token.as_str()),
        ("reset token", reset_token.as_str()),
    ] {
        assert!(!text.contains(secret), "the log contains the {what}");
    }
}

//! The whole stack, `Auth::layer()` around `Auth::api()`, driven in process.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

use super::Auth;
use crate::accounts::Stores;
use crate::client_ip::PeerAddr;
use crate::clock::ManualClock;
use crate::config::{Argon2Config, AuthConfig};

const PASSWORD: &str = "SecurePass123!";

fn auth(clock: &ManualClock) -> Auth {
    let mut config = AuthConfig::development();
    config.password.argon2 = Argon2Config {
        time_cost: 1,
        memory_kib: 64,
        parallelism: 1,
        ..Argon2Config::default()
    };
    Auth::new(config, Stores::memory())
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

async fn send(
    auth: &Auth,
    method: Method,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let stack = auth.layer().layer(auth.api());
    let mut builder = Request::builder().method(method).uri(path);
    if !body.is_empty() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let peer: SocketAddr = "198.51.100.20:50000".parse().unwrap();
    request.extensions_mut().insert(PeerAddr(peer));
    let response = stack.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status: parts.status,
        headers: parts.headers,
        json,
    }
}

fn credentials() -> String {
    json!({"email": "test@example.com", "password": PASSWORD}).to_string()
}

async fn signup_and_login(auth: &Auth) -> String {
    let signup = send(auth, Method::POST, "/api/auth/signup", &credentials(), &[]).await;
    assert_eq!(signup.status, StatusCode::CREATED);
    let login = send(auth, Method::POST, "/api/auth/login", &credentials(), &[]).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json);
    let set_cookie = login.headers[SET_COOKIE].to_str().unwrap().to_owned();
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn login_cookie_has_secure_defaults() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    send(&auth, Method::POST, "/api/auth/signup", &credentials(), &[]).await;
    let login = send(&auth, Method::POST, "/api/auth/login", &credentials(), &[]).await;
    let set_cookie = login.headers[SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.starts_with("amoskys_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Max-Age=86400", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    // Development mode serves plain HTTP, so the cookie cannot be Secure there.
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    assert_eq!(login.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn session_lifecycle_through_stack() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    let cookie = signup_and_login(&auth).await;

    let me = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        "",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["user"]["email"], "test@example.com");

    let logout = send(
        &auth,
        Method::POST,
        "/api/auth/logout",
        "",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(logout.status, StatusCode::OK);
    let cleared = logout.headers[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let after = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        "",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.json["error_code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn idle_session_expires_through_stack() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    let cookie = signup_and_login(&auth).await;
    for _ in 0..4 {
        clock.advance(time::Duration::minutes(90));
        let me = send(
            &auth,
            Method::GET,
            "/api/auth/me",
            "",
            &[(COOKIE.as_str(), &cookie)],
        )
        .await;
        assert_eq!(
            me.status,
            StatusCode::OK,
            "activity every 90 min keeps the session"
        );
    }
    clock.advance(time::Duration::hours(2));
    let me = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        "",
        &[(COOKIE.as_str(), &cookie)],
    )
    .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let cleared = me.headers[SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0"),
        "an expired cookie is removed: {cleared}"
    );
}

#[tokio::test]
async fn absolute_lifetime_ends_active_session() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    let cookie = signup_and_login(&auth).await;
    for _ in 0..23 {
        clock.advance(time::Duration::hours(1));
        let me = send(
            &auth,
            Method::GET,
            "/api/auth/me",
            "",
            &[("cookie", &cookie)],
        )
        .await;
        assert_eq!(me.status, StatusCode::OK);
    }
    clock.advance(time::Duration::hours(1));
    let me = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        "",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cross_site_post_rejected_with_headers() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    for origin in ["https://evil.example", "null"] {
        let reply = send(
            &auth,
            Method::POST,
            "/api/auth/login",
            &credentials(),
            &[(ORIGIN.as_str(), origin), ("host", "127.0.0.1:5000")],
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(reply.json["error_code"], "CSRF_FAILED");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    }
    let same_origin = send(
        &auth,
        Method::POST,
        "/api/auth/signup",
        &credentials(),
        &[
            (ORIGIN.as_str(), "http://127.0.0.1:5000"),
            ("host", "127.0.0.1:5000"),
        ],
    )
    .await;
    assert_eq!(same_origin.status, StatusCode::CREATED);
}

#[tokio::test]
async fn foreign_and_garbage_cookies_are_anonymous() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    signup_and_login(&auth).await;
    for cookie in [
        "other_app=abc",
        "amoskys_session=garbage",
        "amoskys_session=",
        "amoskys_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let me = send(
            &auth,
            Method::GET,
            "/api/auth/me",
            "",
            &[("cookie", cookie)],
        )
        .await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{cookie}");
        assert_eq!(me.json["error_code"], "UNAUTHORIZED", "{cookie}");
    }
}

#[tokio::test]
async fn sixth_login_rejected_by_rate_limit() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    let wrong = json!({"email": "test@example.com", "password": "wrong"}).to_string();
    for _ in 0..5 {
        let reply = send(&auth, Method::POST, "/api/auth/login", &wrong, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = send(&auth, Method::POST, "/api/auth/login", &wrong, &[]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.json["error_code"], "RATE_LIMIT_EXCEEDED");
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(reply.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn login_replaces_existing_session() {
    let clock = ManualClock::default();
    let auth = auth(&clock);
    let first = signup_and_login(&auth).await;
    let again = send(
        &auth,
        Method::POST,
        "/api/auth/login",
        &credentials(),
        &[("cookie", &first)],
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    let second = again.headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(first, second, "login must issue a new session identifier");

    let old = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        "",
        &[("cookie", &first)],
    )
    .await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the pre-login session is revoked"
    );
    let new = send(
        &auth,
        Method::GET,
        "/api/auth/me",
        "",
        &[("cookie", &second)],
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
}

mod proxy;

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::AuthApi;
use crate::accounts::{AuthService, Stores};
use crate::api_key::ApiKeyMatched;
use crate::client_ip::PeerAddr;
use crate::config::{Argon2Config, AuthConfig};
use crate::session::{CurrentSession, SessionCookie};
use crate::store::SessionRecord;

const PASSWORD: &str = "SecurePass123!";

fn api() -> AuthApi {
    let mut config = AuthConfig::development();
    config.password.argon2 = Argon2Config {
        time_cost: 1,
        memory_kib: 64,
        parallelism: 1,
        ..Argon2Config::default()
    };
    config.api_keys = vec![crate::config::Secret::new("test-admin-key-0001")];
    AuthApi::new(AuthService::new(config, Stores::memory()).unwrap())
}

fn request(method: Method, path: &str, body: &str) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let peer: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    request.extensions_mut().insert(PeerAddr(peer));
    request
}

async fn send(api: &AuthApi, request: Request<Full<Bytes>>) -> (StatusCode, Value, Response<()>) {
    let response = api.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (parts.status, json, Response::from_parts(parts, ()))
}

async fn post(api: &AuthApi, path: &str, body: Value) -> (StatusCode, Value, Response<()>) {
    send(api, request(Method::POST, path, &body.to_string())).await
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "body: {body}");
    assert_eq!(body["error_code"], code, "body: {body}");
    assert!(
        body["error"].as_str().is_some_and(|text| !text.is_empty()),
        "body: {body}"
    );
}

async fn login(api: &AuthApi) -> (SessionRecord, Response<()>) {
    let credentials = json!({"email": "test@example.com", "password": PASSWORD});
    let (status, _, _) = post(api, "/api/auth/signup", credentials.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body, response) = post(api, "/api/auth/login", credentials).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user_id = body["user"]["id"].as_str().unwrap().parse().unwrap();
    let sessions = api.service().list_sessions(user_id).await.unwrap();
    (sessions[0].clone(), response)
}

#[tokio::test]
async fn signup_answers_201_for_new_and_existing() {
    let api = api();
    let body = json!({"email": "test@example.com", "password": PASSWORD});
    let (first_status, first, _) = post(&api, "/api/auth/signup", body.clone()).await;
    let (second_status, second, _) = post(&api, "/api/auth/signup", body).await;
    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(second_status, StatusCode::CREATED);
    assert_eq!(first, second);
    assert!(first["message"].is_string());
}

#[tokio::test]
async fn login_issues_session_cookie_and_user() {
    let api = api();
    let (_, response) = login(&api).await;
    assert!(matches!(
        response.extensions().get::<SessionCookie>(),
        Some(SessionCookie::Issue(_))
    ));
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn login_user_has_public_fields_only() {
    let api = api();
    post(
        &api,
        "/api/auth/signup",
        json!({"email": "a@example.com", "password": PASSWORD}),
    )
    .await;
    let (_, body, _) = post(
        &api,
        "/api/auth/login",
        json!({"email": "a@example.com", "password": PASSWORD}),
    )
    .await;
    let user = body["user"].as_object().unwrap();
    let mut keys: Vec<_> = user.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "email", "email_verified", "id"]);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn me_requires_session() {
    let api = api();
    let (status, body, _) = send(&api, request(Method::GET, "/api/auth/me", "")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let (session, _) = login(&api).await;
    let mut me = request(Method::GET, "/api/auth/me", "");
    me.extensions_mut().insert(CurrentSession(session));
    let (status, body, _) = send(&api, me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["email"], "test@example.com");
}

#[tokio::test]
async fn head_on_me_has_headers_without_body() {
    let api = api();
    let (status, body, response) = send(&api, request(Method::HEAD, "/api/auth/me", "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, Value::Null);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn logout_clears_cookie_with_or_without_session() {
    let api = api();
    let (status, _, response) = send(&api, request(Method::POST, "/api/auth/logout", "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        response.extensions().get::<SessionCookie>(),
        Some(SessionCookie::Clear)
    ));

    let (session, _) = login(&api).await;
    let mut logout = request(Method::POST, "/api/auth/logout", "");
    logout
        .extensions_mut()
        .insert(CurrentSession(session.clone()));
    let (status, _, _) = send(&api, logout).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        api.service()
            .list_sessions(session.user_id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn malformed_json_rejected() {
    let api = api();
    for body in ["{", "not json", "[1,2", "{\"email\": }", ""] {
        let (status, json, _) = send(&api, request(Method::POST, "/api/auth/login", body)).await;
        assert_error(status, &json, StatusCode::BAD_REQUEST, "INVALID_JSON");
    }
}

#[tokio::test]
async fn missing_and_mistyped_fields_rejected() {
    let api = api();
    let (status, body, _) = post(&api, "/api/auth/login", json!({"email": "a@example.com"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_JSON");
    assert!(
        body["error"].as_str().unwrap().contains("password"),
        "{body}"
    );

    let (status, body, _) = post(
        &api,
        "/api/auth/login",
        json!({"email": "a@example.com", "password": 123456}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_JSON");
    assert!(
        !body.to_string().contains("123456"),
        "the value must not be echoed: {body}"
    );
}

#[tokio::test]
async fn invalid_utf8_body_rejected() {
    let api = api();
    let mut request = request(Method::POST, "/api/auth/login", "");
    *request.body_mut() = Full::new(Bytes::from_static(b"{\"email\": \"\xff\"}"));
    let (status, body, _) = send(&api, request).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_JSON");
}

#[tokio::test]
async fn wrong_content_type_rejected() {
    let api = api();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = request(Method::POST, "/api/auth/signup", "{}");
        request.headers_mut().remove(CONTENT_TYPE);
        if let Some(value) = content_type {
            request
                .headers_mut()
                .insert(CONTENT_TYPE, value.parse().unwrap());
        }
        let (status, body, _) = send(&api, request).await;
        assert_error(
            status,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }
}

#[tokio::test]
async fn oversized_body_rejected() {
    let api = api();
    let password = "A1!a".repeat(10_000);
    let body = json!({"email": "a@example.com", "password": password}).to_string();
    let (status, json, _) = send(&api, request(Method::POST, "/api/auth/login", &body)).await;
    assert_error(
        status,
        &json,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    // A Content-Length over the limit is rejected without reading the body.
    let mut declared = request(Method::POST, "/api/auth/login", "{}");
    declared.headers_mut().insert(
        CONTENT_LENGTH,
        (10 * 1024 * 1024).to_string().parse().unwrap(),
    );
    let (status, json, _) = send(&api, declared).await;
    assert_error(
        status,
        &json,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
}

#[tokio::test]
async fn invalid_email_and_weak_password_list_details() {
    let api = api();
    let (status, body, _) = post(
        &api,
        "/api/auth/signup",
        json!({"email": "nope", "password": "short"}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let details = body["details"].as_array().unwrap();
    assert!(details.len() >= 4, "{body}");
}

#[tokio::test]
async fn overlong_password_rejected_on_every_flow() {
    let api = api();
    let long = format!("Aa1!{}", "x".repeat(1100));
    let (status, body, _) = post(
        &api,
        "/api/auth/signup",
        json!({"email": "a@example.com", "password": long}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, body, _) = post(
        &api,
        "/api/auth/login",
        json!({"email": "a@example.com", "password": long}),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    );
    let (status, body, _) = post(
        &api,
        "/api/auth/reset-password",
        json!({"token": "x".repeat(43), "password": long}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn forgot_password_same_answer_for_unknown() {
    let api = api();
    post(
        &api,
        "/api/auth/signup",
        json!({"email": "known@example.com", "password": PASSWORD}),
    )
    .await;
    let (known_status, known, _) = post(
        &api,
        "/api/auth/forgot-password",
        json!({"email": "known@example.com"}),
    )
    .await;
    let (unknown_status, unknown, _) = post(
        &api,
        "/api/auth/forgot-password",
        json!({"email": "unknown@example.com"}),
    )
    .await;
    assert_eq!(known_status, StatusCode::OK);
    assert_eq!(unknown_status, StatusCode::OK);
    assert_eq!(known, unknown);
}

#[tokio::test]
async fn bad_tokens_rejected() {
    let api = api();
    for path in ["/api/auth/reset-password", "/api/auth/verify-email"] {
        let body = json!({"token": "not-a-token", "password": PASSWORD});
        let (status, json, _) = post(&api, path, body).await;
        assert_error(status, &json, StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    }
}

#[tokio::test]
async fn unknown_route_and_wrong_method() {
    let api = api();
    let (status, body, _) = send(&api, request(Method::GET, "/api/auth/nope", "")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body, response) = send(&api, request(Method::GET, "/api/auth/login", "")).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert_eq!(response.headers()[ALLOW], "POST");
    let (status, _, response) = send(&api, request(Method::POST, "/api/auth/me", "")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[ALLOW], "GET, HEAD");
}

#[tokio::test]
async fn admin_routes_require_accepted_api_key() {
    let api = api();
    for path in ["/api/admin/users", "/api/admin/audit"] {
        let (status, body, _) = send(&api, request(Method::GET, path, "")).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "INVALID_API_KEY");
    }
    login(&api).await;
    let mut users = request(Method::GET, "/api/admin/users", "");
    users.extensions_mut().insert(ApiKeyMatched { index: 0 });
    let (status, body, _) = send(&api, users).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["users"].as_array().unwrap().len(), 1);
    assert!(body["users"][0].get("password_hash").is_none());

    let mut with_header = request(Method::GET, "/api/admin/users", "");
    with_header
        .headers_mut()
        .insert("x-api-key", "test-admin-key-0001".parse().unwrap());
    let (status, _, _) = send(&api, with_header).await;
    assert_eq!(status, StatusCode::OK);
    for wrong in ["", "test-admin-key-000", "test-admin-key-0001x"] {
        let mut request = request(Method::GET, "/api/admin/users", "");
        request
            .headers_mut()
            .insert("x-api-key", wrong.parse().unwrap());
        let (status, body, _) = send(&api, request).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "INVALID_API_KEY");
    }
}

#[tokio::test]
async fn admin_audit_filters_and_validates() {
    let api = api();
    login(&api).await;
    let admin = |query: &str| {
        let mut request = request(Method::GET, &format!("/api/admin/audit{query}"), "");
        request.extensions_mut().insert(ApiKeyMatched { index: 0 });
        request
    };
    let (status, body, _) = send(&api, admin("?event_type=LOGIN_SUCCESS&limit=5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "LOGIN_SUCCESS");
    assert_eq!(events[0]["ip_address"], "192.0.2.1");

    let (status, body, _) = send(&api, admin("")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["events"].as_array().unwrap().len() >= 3);

    for bad in [
        "?limit=0",
        "?limit=abc",
        "?since=yesterday",
        "?event_type=NOPE",
        "?user_id=1",
        "?x=1",
        "?limit=1&limit=2",
        "?since=2025-01-01T00:00:00Z&since=2026-01-01T00:00:00Z",
    ] {
        let (status, body, _) = send(&api, admin(bad)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // An unescaped + decodes to a space; the error says how to write it.
    let (status, body, _) = send(&api, admin("?since=2025-01-01T00:00:00+01:00")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        body["details"][0].as_str().unwrap().contains("%2B"),
        "{body}"
    );
    let (status, body, _) = send(&api, admin("?since=2025-01-01T00:00:00%2B01:00")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn admin_users_rejects_repeated_paging() {
    let api = api();
    let mut request = request(Method::GET, "/api/admin/users?offset=0&offset=5", "");
    request.extensions_mut().insert(ApiKeyMatched { index: 0 });
    let (status, body, _) = send(&api, request).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn session_list_marks_current_and_revokes_own() {
    let api = api();
    let (session, _) = login(&api).await;
    let mut list = request(Method::GET, "/api/auth/sessions", "");
    list.extensions_mut()
        .insert(CurrentSession(session.clone()));
    let (status, body, _) = send(&api, list).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[0]["ip_address"], "192.0.2.1");
    assert!(sessions[0].get("token_digest").is_none());

    let mut other = request(Method::DELETE, "/api/auth/sessions/not-a-uuid", "");
    other
        .extensions_mut()
        .insert(CurrentSession(session.clone()));
    let (status, body, _) = send(&api, other).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    let mut delete = request(
        Method::DELETE,
        &format!("/api/auth/sessions/{}", session.id),
        "",
    );
    delete
        .extensions_mut()
        .insert(CurrentSession(session.clone()));
    let (status, _, response) = send(&api, delete).await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        response.extensions().get::<SessionCookie>(),
        Some(SessionCookie::Clear)
    ));
}

/// A body that sends its first bytes and then stalls, like a client that stops sending.
struct StalledBody {
    sent: bool,
}

impl http_body::Body for StalledBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.sent {
            return std::task::Poll::Pending;
        }
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
            b"{\"email\":",
        )))))
    }
}

#[tokio::test(start_paused = true)]
async fn stalled_body_times_out_with_408() {
    let api = api();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/login")
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, "60")
        .body(StalledBody { sent: false })
        .unwrap();
    let response = api.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_error(
        status,
        &body,
        StatusCode::REQUEST_TIMEOUT,
        "REQUEST_TIMEOUT",
    );
}

#[tokio::test]
async fn compressed_body_is_unsupported() {
    let api = api();
    for encoding in ["gzip", "br", "identity, gzip"] {
        let mut request = request(Method::POST, "/api/auth/login", r#"{"email":"a@b.co"}"#);
        request
            .headers_mut()
            .insert(http::header::CONTENT_ENCODING, encoding.parse().unwrap());
        let (status, body, _) = send(&api, request).await;
        assert_error(
            status,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }
    let mut plain = request(
        Method::POST,
        "/api/auth/login",
        r#"{"email":"a@b.co","password":"Wrong-Pass-1"}"#,
    );
    plain
        .headers_mut()
        .insert(http::header::CONTENT_ENCODING, "identity".parse().unwrap());
    let (status, body, _) = send(&api, plain).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    );
}

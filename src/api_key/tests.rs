use std::convert::Infallible;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::*;
use crate::config::Secret;

const KEY: &str = "k3y-for-tests-0123456789abcdef";
const NEW_KEY: &str = "rotated-key-fedcba9876543210";

/// The inner service returns the matched key's position, or "none".
async fn echo_match(request: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = match request.extensions().get::<ApiKeyMatched>() {
        Some(matched) => matched.index.to_string(),
        None => "none".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

/// Sends a request with one `X-API-Key` header per entry of `presented`; returns the status
/// and the body.
async fn send(keys: &[&str], presented: &[&[u8]]) -> (StatusCode, String) {
    let keys: Vec<Secret> = keys.iter().map(|key| Secret::new(*key)).collect();
    let service = ApiKeyLayer::new(&keys).layer(service_fn(echo_match));
    let mut request = Request::get("/api/admin/users").body(()).unwrap();
    for value in presented {
        let value = HeaderValue::from_bytes(value).unwrap();
        request.headers_mut().append(X_API_KEY, value);
    }
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    if status == StatusCode::UNAUTHORIZED {
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error_code"], "INVALID_API_KEY");
    }
    (status, body)
}

#[tokio::test]
async fn configured_key_accepted() {
    let (status, body) = send(&[KEY], &[KEY.as_bytes()]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "0");
}

#[tokio::test]
async fn no_keys_rejects_every_request() {
    let presented: [&[&[u8]]; 5] = [&[], &[b""], &[b" "], &[b"anything"], &[KEY.as_bytes()]];
    for headers in presented {
        let (status, _) = send(&[], headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
    }
}

#[tokio::test]
async fn empty_configured_key_never_matches() {
    let presented: [&[&[u8]]; 4] = [&[], &[b""], &[b" "], &[b"anything"]];
    for headers in presented {
        let (status, _) = send(&[""], headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
    }
}

#[tokio::test]
async fn missing_header_rejected() {
    let (status, body) = send(&[KEY], &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains(KEY));
}

#[tokio::test]
async fn empty_or_blank_header_rejected() {
    for value in [&b""[..], b" ", b"   ", b"\t", b" \t "] {
        let (status, _) = send(&[KEY], &[value]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{value:?}");
    }
}

#[tokio::test]
async fn wrong_or_altered_key_rejected() {
    let shorter = &KEY[..KEY.len() - 1];
    let longer = format!("{KEY}x");
    let upper = KEY.to_uppercase();
    let padded = format!(" {KEY}");
    for value in [
        "wrong",
        shorter,
        longer.as_str(),
        upper.as_str(),
        padded.as_str(),
    ] {
        let (status, _) = send(&[KEY], &[value.as_bytes()]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{value:?}");
    }
}

#[tokio::test]
async fn header_name_matched_case_insensitively() {
    let service = ApiKeyLayer::new(&[Secret::new(KEY)]).layer(service_fn(echo_match));
    let request = Request::get("/").header("x-api-key", KEY).body(()).unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let request = Request::get("/").header("X-Api-KEY", KEY).body(()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn duplicate_headers_rejected() {
    let (status, _) = send(&[KEY], &[KEY.as_bytes(), KEY.as_bytes()]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&[KEY], &[KEY.as_bytes(), b"wrong"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&[KEY], &[b"wrong", KEY.as_bytes()]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_rotated_key_accepted() {
    let (status, body) = send(&[KEY, NEW_KEY], &[KEY.as_bytes()]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "0");
    let (status, body) = send(&[KEY, NEW_KEY], &[NEW_KEY.as_bytes()]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "1");
    let (status, _) = send(&[KEY, NEW_KEY], &[b"neither"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn debug_shows_no_key_material() {
    let layer = ApiKeyLayer::new(&[Secret::new(KEY), Secret::new(NEW_KEY)]);
    let digest = crate::token::TokenDigest::of(KEY.as_bytes()).to_hex();
    let service = layer.layer(());
    for text in [format!("{layer:?}"), format!("{service:?}")] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains(NEW_KEY), "{text}");
        assert!(!text.contains(&digest[..8]), "{text}");
        assert!(text.contains("keys: 2"), "{text}");
    }
}

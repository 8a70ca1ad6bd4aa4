use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::header::{COOKIE, HOST, HeaderValue, ORIGIN};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::*;

const APP: &str = "https://app.example.com";

fn config(allowed: &[&str]) -> CsrfConfig {
    CsrfConfig {
        enabled: true,
        allowed_origins: allowed.iter().map(|origin| (*origin).to_owned()).collect(),
    }
}

/// Sends `request` through the layer and returns the status and how often the inner
/// service ran.
async fn send(config: &CsrfConfig, request: Request<()>) -> (StatusCode, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let service = CsrfLayer::new(config)
        .unwrap()
        .layer(service_fn(move |_request: Request<()>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
        }));
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    if status == StatusCode::FORBIDDEN {
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error_code"], "CSRF_FAILED");
    } else {
        assert_eq!(&body[..], b"ok");
    }
    (status, calls.load(Ordering::SeqCst))
}

/// Builds a request to `example.com` with the given headers.
fn request(method: Method, headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/account/email")
        .header(HOST, "example.com");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

async fn post_status(config: &CsrfConfig, headers: &[(&str, &str)]) -> StatusCode {
    send(config, request(Method::POST, headers)).await.0
}

#[tokio::test]
async fn safe_methods_always_pass() {
    let hostile = [
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("referer", "https://evil.example/"),
    ];
    for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
        for header in hostile {
            let (status, calls) = send(&config(&[]), request(method.clone(), &[header])).await;
            assert_eq!(status, StatusCode::OK, "{method} {header:?}");
            assert_eq!(calls, 1, "{method} {header:?}");
        }
    }
}

#[tokio::test]
async fn unsafe_methods_all_checked() {
    let custom = Method::from_bytes(b"PURGE").unwrap();
    for method in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        custom,
    ] {
        let headers = [("origin", "https://evil.example")];
        let (status, calls) = send(&config(&[]), request(method.clone(), &headers)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}");
        assert_eq!(calls, 0, "{method}");
    }
}

#[tokio::test]
async fn request_without_browser_headers_passes() {
    let (status, calls) = send(&config(&[]), request(Method::POST, &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn login_without_cookie_still_checked() {
    let headers = [("origin", "https://evil.example")];
    assert_eq!(
        post_status(&config(&[]), &headers).await,
        StatusCode::FORBIDDEN
    );

    let with_cookie = [
        ("origin", "https://evil.example"),
        (COOKIE.as_str(), "amoskys_session=abc"),
    ];
    assert_eq!(
        post_status(&config(&[]), &with_cookie).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn origin_matching_host_passes() {
    for origin in [
        "https://example.com",
        "http://example.com",
        "https://EXAMPLE.com",
        "https://example.com:443",
    ] {
        let status = post_status(&config(&[]), &[("origin", origin)]).await;
        assert_eq!(status, StatusCode::OK, "{origin}");
    }
}

#[tokio::test]
async fn origin_port_must_match_host() {
    let cases = [
        (
            "example.com:8443",
            "https://example.com:8443",
            StatusCode::OK,
        ),
        ("example.com:443", "https://example.com", StatusCode::OK),
        (
            "example.com:8443",
            "https://example.com",
            StatusCode::FORBIDDEN,
        ),
        (
            "example.com",
            "https://example.com:8443",
            StatusCode::FORBIDDEN,
        ),
        (
            "example.com:443",
            "http://example.com",
            StatusCode::FORBIDDEN,
        ),
    ];
    for (host, origin, expected) in cases {
        let request = Request::post("/x")
            .header(HOST, host)
            .header(ORIGIN, origin)
            .body(())
            .unwrap();
        assert_eq!(
            send(&config(&[]), request).await.0,
            expected,
            "{host} {origin}"
        );
    }
}

#[tokio::test]
async fn cross_site_origin_rejected() {
    for origin in ["https://evil.example", "https://example.com.evil.example"] {
        let status = post_status(&config(&[]), &[("origin", origin)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
    }
}

#[tokio::test]
async fn allowed_origin_passes() {
    for origin in [
        APP,
        "HTTPS://App.Example.com",
        "https://app.example.com:443",
    ] {
        let status = post_status(&config(&[APP]), &[("origin", origin)]).await;
        assert_eq!(status, StatusCode::OK, "{origin}");
    }
    let other_scheme = [("origin", "http://app.example.com")];
    assert_eq!(
        post_status(&config(&[APP]), &other_scheme).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn null_origin_rejected_unless_configured() {
    let null = [("origin", "null")];
    assert_eq!(
        post_status(&config(&[APP]), &null).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(post_status(&config(&["null"]), &null).await, StatusCode::OK);
}

#[tokio::test]
async fn same_origin_fetch_site_passes() {
    for site in ["same-origin", "none"] {
        let status = post_status(&config(&[]), &[("sec-fetch-site", site)]).await;
        assert_eq!(status, StatusCode::OK, "{site}");
    }
}

#[tokio::test]
async fn cross_site_fetch_site_needs_allowed_origin() {
    for site in ["same-site", "cross-site"] {
        let without_origin = [("sec-fetch-site", site)];
        assert_eq!(
            post_status(&config(&[APP]), &without_origin).await,
            StatusCode::FORBIDDEN,
            "{site} without Origin"
        );
        // The Host matches, but Sec-Fetch-Site outranks the Host comparison.
        let own_host = [("sec-fetch-site", site), ("origin", "https://example.com")];
        assert_eq!(
            post_status(&config(&[APP]), &own_host).await,
            StatusCode::FORBIDDEN,
            "{site} with own host"
        );
        let allowed = [("sec-fetch-site", site), ("origin", APP)];
        assert_eq!(
            post_status(&config(&[APP]), &allowed).await,
            StatusCode::OK,
            "{site} with allowed origin"
        );
        let referer = [
            ("sec-fetch-site", site),
            ("referer", "https://app.example.com/p"),
        ];
        assert_eq!(
            post_status(&config(&[APP]), &referer).await,
            StatusCode::OK,
            "{site} with allowed referer"
        );
    }
}

#[tokio::test]
async fn unknown_fetch_site_rejected() {
    for site in ["Same-Origin", "same-origin, none", "", "cross-origin"] {
        let status = post_status(&config(&[]), &[("sec-fetch-site", site)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{site:?}");
    }
}

#[tokio::test]
async fn referer_used_without_origin() {
    let same = [("referer", "https://example.com/settings?tab=1")];
    assert_eq!(post_status(&config(&[]), &same).await, StatusCode::OK);
    let cross = [("referer", "https://evil.example/form")];
    assert_eq!(
        post_status(&config(&[]), &cross).await,
        StatusCode::FORBIDDEN
    );
    let allowed = [("referer", "https://app.example.com/form")];
    assert_eq!(post_status(&config(&[APP]), &allowed).await, StatusCode::OK);
}

#[tokio::test]
async fn origin_outranks_referer() {
    let headers = [
        ("origin", "https://evil.example"),
        ("referer", "https://example.com/settings"),
    ];
    assert_eq!(
        post_status(&config(&[]), &headers).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn duplicate_headers_rejected() {
    for name in ["origin", "referer", "sec-fetch-site"] {
        let value = match name {
            "sec-fetch-site" => "same-origin",
            _ => "https://example.com",
        };
        let status = post_status(&config(&[]), &[(name, value), (name, value)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }
}

#[tokio::test]
async fn unparseable_values_rejected() {
    let cases = [
        ("origin", "example.com"),
        ("origin", "https://example.com/"),
        ("origin", "https://user@example.com"),
        ("origin", ""),
        ("referer", "/relative"),
        ("referer", "null"),
        ("referer", "https://user:pw@example.com/"),
    ];
    for (name, value) in cases {
        let status = post_status(&config(&[]), &[(name, value)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {value:?}");
    }

    let mut request = request(Method::POST, &[]);
    let latin1 = HeaderValue::from_bytes(b"https://exampl\xe9.com").unwrap();
    request.headers_mut().insert(ORIGIN, latin1);
    assert_eq!(send(&config(&[]), request).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn missing_or_invalid_host_rejects_origin() {
    let no_host = Request::post("/x")
        .header(ORIGIN, "https://example.com")
        .body(())
        .unwrap();
    assert_eq!(send(&config(&[]), no_host).await.0, StatusCode::FORBIDDEN);

    let bad_host = Request::post("/x")
        .header(HOST, "example.com/evil")
        .header(ORIGIN, "https://example.com")
        .body(())
        .unwrap();
    assert_eq!(send(&config(&[]), bad_host).await.0, StatusCode::FORBIDDEN);

    let two_hosts = Request::post("/x")
        .header(HOST, "example.com")
        .header(HOST, "example.com")
        .header(ORIGIN, "https://example.com")
        .body(())
        .unwrap();
    assert_eq!(send(&config(&[]), two_hosts).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn uri_authority_replaces_missing_host() {
    let request = Request::post("https://example.com/x")
        .header(ORIGIN, "https://example.com")
        .body(())
        .unwrap();
    assert_eq!(send(&config(&[]), request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn disabled_layer_passes_everything() {
    let disabled = CsrfConfig {
        enabled: false,
        ..CsrfConfig::default()
    };
    for header in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let (status, calls) = send(&disabled, request(Method::POST, &[header])).await;
        assert_eq!(status, StatusCode::OK, "{header:?}");
        assert_eq!(calls, 1, "{header:?}");
    }
}

#[test]
fn invalid_allowed_origin_fails_build() {
    let error = CsrfLayer::new(&config(&["app.example.com"])).unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Invalid {
            setting: "csrf.allowed_origins",
            ..
        }
    ));
}

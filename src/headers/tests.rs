use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::header::{
    CONTENT_SECURITY_POLICY, HOST, LOCATION, REFERRER_POLICY, RETRY_AFTER,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::*;
use crate::body::ResponseBody;
use crate::config::{ConfigError, DEFAULT_CSP, HeadersConfig, XssProtection};
use crate::error::AuthError;

type Reply = Response<ResponseBody<Full<Bytes>>>;

async fn ok(_request: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

async fn send(config: &HeadersConfig, request: Request<()>) -> Reply {
    let layer = SecurityHeadersLayer::new(config).unwrap();
    layer.layer(service_fn(ok)).oneshot(request).await.unwrap()
}

fn get(uri: &str) -> Request<()> {
    Request::get(uri)
        .header(HOST, "example.com")
        .body(())
        .unwrap()
}

async fn body_json(response: Reply) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn plain_http_gets_headers_without_hsts() {
    let response = send(&HeadersConfig::default(), get("/page")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[X_XSS_PROTECTION], "1; mode=block");
    assert_eq!(headers[CONTENT_SECURITY_POLICY], DEFAULT_CSP);
    assert_eq!(headers[REFERRER_POLICY], "strict-origin-when-cross-origin");
    assert!(headers.get(STRICT_TRANSPORT_SECURITY).is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
}

#[tokio::test]
async fn client_chosen_https_uri_scheme_is_not_https() {
    // An absolute-form `https://` target over plain HTTP is the client's word, not the
    // transport's: no HSTS, and FORCE_HTTPS still redirects.
    let request = get("https://example.com/page");
    assert!(!is_https(&request));
    let response = send(&HeadersConfig::default(), request).await;
    assert!(response.headers().get(STRICT_TRANSPORT_SECURITY).is_none());
    let response = send(&forced(), get("https://example.com/page")).await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()[LOCATION], "https://example.com/page");
    assert!(response.headers().get(STRICT_TRANSPORT_SECURITY).is_none());

    let mut marked = get("https://example.com/page");
    marked.extensions_mut().insert(Https);
    let response = send(&forced(), marked).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
}

#[tokio::test]
async fn https_marker_gets_hsts() {
    let mut request = get("/page");
    request.extensions_mut().insert(Https);
    let response = send(&HeadersConfig::default(), request).await;
    assert_eq!(
        response.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
}

#[tokio::test]
async fn assume_https_gets_hsts() {
    let config = HeadersConfig {
        assume_https: true,
        ..HeadersConfig::default()
    };
    let response = send(&config, get("/page")).await;
    assert_eq!(
        response.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
}

#[tokio::test]
async fn hsts_directives_follow_config() {
    let config = HeadersConfig {
        hsts_max_age_secs: 600,
        hsts_include_subdomains: true,
        hsts_preload: true,
        assume_https: true,
        ..HeadersConfig::default()
    };
    let response = send(&config, get("/")).await;
    assert_eq!(
        response.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=600; includeSubDomains; preload"
    );
}

#[tokio::test]
async fn spoofed_forwarded_proto_ignored() {
    let mut request = get("/page");
    request
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let response = send(&HeadersConfig::default(), request).await;
    assert!(response.headers().get(STRICT_TRANSPORT_SECURITY).is_none());

    let mut request = get("/page");
    request
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let forced = HeadersConfig {
        force_https: true,
        ..HeadersConfig::default()
    };
    let response = send(&forced, request).await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
}

#[tokio::test]
async fn inner_errors_get_headers() {
    let layer = SecurityHeadersLayer::new(&HeadersConfig::default()).unwrap();
    let service = layer.layer(service_fn(|_request: Request<()>| async {
        let limited = AuthError::RateLimited {
            retry_after_secs: 7,
        };
        Ok::<_, Infallible>(limited.to_response())
    }));
    let response = service.oneshot(get("/page")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "7");
    assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(response.headers()[CONTENT_SECURITY_POLICY], DEFAULT_CSP);
}

#[tokio::test]
async fn handler_header_values_kept() {
    let layer = SecurityHeadersLayer::new(&HeadersConfig::default()).unwrap();
    let service = layer.layer(service_fn(|_request: Request<()>| async {
        let response = Response::builder()
            .header(CONTENT_SECURITY_POLICY, "default-src 'none'")
            .header(X_FRAME_OPTIONS, "SAMEORIGIN")
            .body(Full::new(Bytes::new()))
            .unwrap();
        Ok::<_, Infallible>(response)
    }));
    let response = service.oneshot(get("/embed")).await.unwrap();
    let headers = response.headers();
    assert_eq!(headers[CONTENT_SECURITY_POLICY], "default-src 'none'");
    assert_eq!(headers.get_all(CONTENT_SECURITY_POLICY).iter().count(), 1);
    assert_eq!(headers[X_FRAME_OPTIONS], "SAMEORIGIN");
    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn xss_protection_variants() {
    let disable = HeadersConfig {
        xss_protection: XssProtection::Disable,
        ..HeadersConfig::default()
    };
    let response = send(&disable, get("/")).await;
    assert_eq!(response.headers()[X_XSS_PROTECTION], "0");

    let omit = HeadersConfig {
        xss_protection: XssProtection::Omit,
        ..HeadersConfig::default()
    };
    let response = send(&omit, get("/")).await;
    assert!(response.headers().get(X_XSS_PROTECTION).is_none());
    assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn configured_values_sent() {
    let config = HeadersConfig {
        content_security_policy: "default-src 'self'".to_owned(),
        frame_options: "SAMEORIGIN".to_owned(),
        referrer_policy: "no-referrer".to_owned(),
        ..HeadersConfig::default()
    };
    let response = send(&config, get("/")).await;
    let headers = response.headers();
    assert_eq!(headers[CONTENT_SECURITY_POLICY], "default-src 'self'");
    assert_eq!(headers[X_FRAME_OPTIONS], "SAMEORIGIN");
    assert_eq!(headers[REFERRER_POLICY], "no-referrer");
}

type ConfigChange = fn(&mut HeadersConfig);

#[test]
fn header_injection_rejected_at_build() {
    let cases: [(&str, ConfigChange); 6] = [
        ("headers.content_security_policy", |config| {
            config.content_security_policy =
                "default-src 'self'; report-uri /r\nX-Injected: 1".to_owned();
        }),
        ("headers.content_security_policy", |config| {
            config.content_security_policy = "default-src 'self'\r".to_owned();
        }),
        ("headers.frame_options", |config| {
            config.frame_options = "DENY\r\nSet-Cookie: a=b".to_owned();
        }),
        ("headers.frame_options", |config| {
            config.frame_options = String::new();
        }),
        ("headers.referrer_policy", |config| {
            config.referrer_policy = "no-r\u{e9}ferrer".to_owned();
        }),
        ("headers.referrer_policy", |config| {
            config.referrer_policy = "no-referrer\t".to_owned();
        }),
    ];
    for (expected, change) in cases {
        let mut config = HeadersConfig::default();
        change(&mut config);
        match SecurityHeadersLayer::new(&config) {
            Err(ConfigError::Invalid { setting, .. }) => assert_eq!(setting, expected),
            other => panic!("{expected}: expected ConfigError::Invalid, got {other:?}"),
        }
    }
}

fn forced() -> HeadersConfig {
    HeadersConfig {
        force_https: true,
        ..HeadersConfig::default()
    }
}

#[tokio::test]
async fn force_https_redirects_plain_http() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let layer = SecurityHeadersLayer::new(&forced()).unwrap();
    let service = layer.layer(service_fn(move |request: Request<()>| {
        counter.fetch_add(1, Ordering::SeqCst);
        ok(request)
    }));
    let response = service.oneshot(get("/a/b?x=1&y=2")).await.unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers()[LOCATION],
        "https://example.com/a/b?x=1&y=2"
    );
    assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(response.headers()[CONTENT_SECURITY_POLICY], DEFAULT_CSP);
    assert!(response.headers().get(STRICT_TRANSPORT_SECURITY).is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn force_https_passes_https_requests() {
    let mut request = get("/page");
    request.extensions_mut().insert(Https);
    let response = send(&forced(), request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
}

#[tokio::test]
async fn redirect_keeps_ports_except_80() {
    let cases = [
        ("example.com:80", "https://example.com/p"),
        ("example.com:8443", "https://example.com:8443/p"),
        ("[2001:db8::1]", "https://[2001:db8::1]/p"),
        ("EXAMPLE.com", "https://EXAMPLE.com/p"),
    ];
    for (host, expected) in cases {
        let request = Request::get("/p").header(HOST, host).body(()).unwrap();
        let response = send(&forced(), request).await;
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{host}");
        assert_eq!(response.headers()[LOCATION], expected, "{host}");
    }
}

#[tokio::test]
async fn redirect_uses_uri_authority_without_host() {
    let request = Request::get("http://example.org/p?q").body(()).unwrap();
    let response = send(&forced(), request).await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()[LOCATION], "https://example.org/p?q");

    let request = Request::options("*").header(HOST, "example.org").body(());
    let response = send(&forced(), request.unwrap()).await;
    assert_eq!(response.headers()[LOCATION], "https://example.org/");
}

#[tokio::test]
async fn missing_host_gets_https_required() {
    let request = Request::get("/p").body(()).unwrap();
    let response = send(&forced(), request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(response.headers().get(LOCATION).is_none());
    assert!(response.headers().get(STRICT_TRANSPORT_SECURITY).is_none());
    let body = body_json(response).await;
    assert_eq!(body["error_code"], "HTTPS_REQUIRED");
    assert_eq!(body["error"], "HTTPS is required.");
}

#[tokio::test]
async fn invalid_host_gets_https_required() {
    for host in [
        "evil.com@example.com",
        "example.com/evil",
        "exa mple.com",
        "example.com:99999",
        "",
    ] {
        let request = Request::get("/p").header(HOST, host).body(()).unwrap();
        let response = send(&forced(), request).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{host:?}");
        assert!(response.headers().get(LOCATION).is_none(), "{host:?}");
    }

    let request = Request::get("/p")
        .header(HOST, "example.com")
        .header(HOST, "evil.com")
        .body(())
        .unwrap();
    let response = send(&forced(), request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn inner_service_error_passes_through() {
    let layer = SecurityHeadersLayer::new(&HeadersConfig::default()).unwrap();
    let service = layer.layer(service_fn(|_request: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>("backend failed")
    }));
    let error = service.oneshot(get("/")).await.unwrap_err();
    assert_eq!(error, "backend failed");
}

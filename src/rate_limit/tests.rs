//! Tests of the rate-limit layer and limiter, driven by governor's `FakeRelativeClock`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
use governor::clock::FakeRelativeClock;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::body::ResponseBody;
use crate::client_ip::{ClientIp, PeerAddr};
use crate::config::{RateLimitConfig, RateQuota, RouteRule};

const LOGIN: &str = "/api/auth/login";

fn count(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// Login 5 per minute, forgot-password 1 per minute, everything else 3 per minute.
fn config() -> RateLimitConfig {
    RateLimitConfig {
        enabled: true,
        default_quotas: vec![RateQuota::per_minute(count(3))],
        routes: vec![
            RouteRule::new(LOGIN, vec![RateQuota::per_minute(count(5))]),
            RouteRule::new(
                "/api/auth/forgot-password",
                vec![RateQuota::per_minute(count(1))],
            ),
        ],
        ..RateLimitConfig::default()
    }
}

type Inner = tower::util::ServiceFn<
    fn(Request<Full<Bytes>>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>,
>;

fn ok_handler(
    _request: Request<Full<Bytes>>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
}

struct Harness {
    clock: FakeRelativeClock,
    layer: RateLimitLayer<FakeRelativeClock>,
    service: RateLimit<Inner, FakeRelativeClock>,
}

impl Harness {
    fn new(config: &RateLimitConfig) -> Self {
        let clock = FakeRelativeClock::default();
        let layer = RateLimitLayer::with_clock(config, clock.clone()).unwrap();
        Self::from_layer(clock, layer)
    }

    fn from_layer(clock: FakeRelativeClock, layer: RateLimitLayer<FakeRelativeClock>) -> Self {
        let handler: Inner = service_fn(ok_handler as _);
        let service = layer.layer(handler);
        Self {
            clock,
            layer,
            service,
        }
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Response<ResponseBody<Full<Bytes>>> {
        self.service.clone().oneshot(request).await.unwrap()
    }

    /// Sends `method path` from `peer` and returns the status.
    async fn status(&self, method: Method, path: &str, peer: &str) -> StatusCode {
        self.send(request(method, path, Some(peer))).await.status()
    }

    async fn login(&self, peer: &str) -> StatusCode {
        self.status(Method::POST, LOGIN, peer).await
    }
}

fn request(method: Method, path: &str, peer: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::new()))
        .unwrap();
    if let Some(peer) = peer {
        let ip: IpAddr = peer.parse().unwrap();
        request
            .extensions_mut()
            .insert(PeerAddr((ip, 40_000).into()));
    }
    request
}

fn retry_after(response: &Response<ResponseBody<Full<Bytes>>>) -> u64 {
    response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn burst_of_count_then_rejected() {
    let harness = Harness::new(&config());
    for attempt in 1..=5 {
        assert_eq!(
            harness.login("192.0.2.1").await,
            StatusCode::OK,
            "attempt {attempt}"
        );
    }
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn boundary_admits_exactly_count() {
    for n in [1, 2, 5, 10] {
        let mut config = config();
        config.routes = vec![RouteRule::new(LOGIN, vec![RateQuota::per_minute(count(n))])];
        let harness = Harness::new(&config);
        for attempt in 1..=n {
            assert_eq!(
                harness.login("192.0.2.1").await,
                StatusCode::OK,
                "limit {n}, attempt {attempt}"
            );
        }
        assert_eq!(
            harness.login("192.0.2.1").await,
            StatusCode::TOO_MANY_REQUESTS,
            "limit {n}, attempt {}",
            n + 1
        );
    }
}

#[tokio::test]
async fn five_per_minute_refills_every_twelve_seconds() {
    let harness = Harness::new(&config());
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }

    harness.advance(Duration::from_millis(100));
    let rejected = harness
        .send(request(Method::POST, LOGIN, Some("192.0.2.1")))
        .await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&rejected), 12);

    harness.advance(Duration::from_millis(11_900));
    assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn first_minute_admits_up_to_nine() {
    let harness = Harness::new(&config());
    let mut passed = 0;
    for _ in 0..5 {
        passed += u32::from(harness.login("192.0.2.1").await == StatusCode::OK);
    }
    harness.advance(Duration::from_millis(100));
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Now at 0.1 s; the next requests arrive at 12, 24, 36 and 48 s.
    harness.advance(Duration::from_millis(11_900));
    for second in [12, 24, 36, 48] {
        let status = harness.login("192.0.2.1").await;
        assert_eq!(status, StatusCode::OK, "request at {second} s");
        passed += 1;
        harness.advance(Duration::from_secs(12));
    }
    assert_eq!(passed, 9);
}

#[tokio::test]
async fn one_per_minute_advertises_sixty() {
    let harness = Harness::new(&config());
    let path = "/api/auth/forgot-password";
    assert_eq!(
        harness.status(Method::POST, path, "192.0.2.1").await,
        StatusCode::OK
    );

    harness.advance(Duration::from_millis(400));
    let rejected = harness
        .send(request(Method::POST, path, Some("192.0.2.1")))
        .await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rejected.headers()[RETRY_AFTER], "60");

    harness.advance(Duration::from_secs(retry_after(&rejected)));
    assert_eq!(
        harness.status(Method::POST, path, "192.0.2.1").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn waiting_advertised_time_succeeds() {
    let harness = Harness::new(&config());
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    harness.advance(Duration::from_millis(3_700));
    let rejected = harness
        .send(request(Method::POST, LOGIN, Some("192.0.2.1")))
        .await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    // 12 s - 3.7 s = 8.3 s, rounded up.
    assert_eq!(retry_after(&rejected), 9);

    harness.advance(Duration::from_secs(retry_after(&rejected)));
    assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
}

#[tokio::test]
async fn retry_after_rounds_fraction_up() {
    let mut config = config();
    // One request per 3.333... s.
    config.routes = vec![RouteRule::new(
        LOGIN,
        vec![RateQuota::new(count(3), Duration::from_secs(10))],
    )];
    let harness = Harness::new(&config);
    for _ in 0..3 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    let rejected = harness
        .send(request(Method::POST, LOGIN, Some("192.0.2.1")))
        .await;
    assert_eq!(rejected.headers()[RETRY_AFTER], "4");
}

#[tokio::test]
async fn uneven_interval_never_exceeds_bound() {
    let mut config = config();
    // 10 s / 3 is not a whole number of nanoseconds.
    config.routes = vec![RouteRule::new(
        LOGIN,
        vec![RateQuota::new(count(3), Duration::from_secs(10))],
    )];
    let harness = Harness::new(&config);
    let mut passed = 0;
    for _ in 0..10 {
        passed += u32::from(harness.login("192.0.2.1").await == StatusCode::OK);
    }
    assert_eq!(passed, 3);

    harness.advance(Duration::from_secs(10) - Duration::from_nanos(1));
    for _ in 0..10 {
        passed += u32::from(harness.login("192.0.2.1").await == StatusCode::OK);
    }
    // At most 2 × 3 − 1 within the first 10 s.
    assert_eq!(passed, 5);
}

#[tokio::test]
async fn rejection_has_json_body_and_headers() {
    let harness = Harness::new(&config());
    for _ in 0..5 {
        harness.login("192.0.2.1").await;
    }
    let rejected = harness
        .send(request(Method::POST, LOGIN, Some("192.0.2.1")))
        .await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rejected.headers()[RETRY_AFTER], "12");
    assert_eq!(rejected.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(rejected.headers()[CONTENT_TYPE], "application/json");

    let body = rejected.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "error": "Rate limit exceeded. Please try again later.",
            "error_code": "RATE_LIMIT_EXCEEDED",
            "retry_after": "12 seconds"
        })
    );
}

#[tokio::test]
async fn passing_response_keeps_inner_body() {
    let harness = Harness::new(&config());
    let response = harness
        .send(request(Method::GET, "/", Some("192.0.2.1")))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");
}

#[tokio::test]
async fn clients_counted_independently() {
    let harness = Harness::new(&config());
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.2").await, StatusCode::OK);
    }
    assert_eq!(
        harness.login("192.0.2.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn route_rule_replaces_default_quotas() {
    let harness = Harness::new(&config());
    // The default allows 3; login has its own 5, independent of the default.
    for _ in 0..3 {
        assert_eq!(
            harness.status(Method::GET, "/", "192.0.2.1").await,
            StatusCode::OK
        );
    }
    assert_eq!(
        harness.status(Method::GET, "/", "192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        harness
            .status(Method::POST, "/api/auth/forgot-password", "192.0.2.1")
            .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn default_quota_shared_across_unmatched_paths() {
    let harness = Harness::new(&config());
    for path in ["/a", "/b", "/api/auth/login/"] {
        assert_eq!(
            harness.status(Method::GET, path, "192.0.2.1").await,
            StatusCode::OK
        );
    }
    for path in ["/c", "/a", "/api/auth/%6Cogin", "/d?x=1"] {
        assert_eq!(
            harness.status(Method::GET, path, "192.0.2.1").await,
            StatusCode::TOO_MANY_REQUESTS,
            "path {path}"
        );
    }
}

#[tokio::test]
async fn method_rule_matches_only_its_method() {
    let mut config = config();
    config.routes = vec![RouteRule {
        method: Some(Method::POST),
        path: LOGIN.to_owned(),
        quotas: vec![RateQuota::per_minute(count(1))],
    }];
    let harness = Harness::new(&config);
    assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // GET on the same path falls under the default quota of 3.
    for _ in 0..3 {
        assert_eq!(
            harness.status(Method::GET, LOGIN, "192.0.2.1").await,
            StatusCode::OK
        );
    }
    assert_eq!(
        harness.status(Method::GET, LOGIN, "192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn ipv6_rotation_within_prefix_shares_bucket() {
    let harness = Harness::new(&config());
    for host in 1..=10 {
        let peer = format!("2001:db8:aa:bb::{host:x}");
        let expected = if host <= 5 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(harness.login(&peer).await, expected, "peer {peer}");
    }
    assert_eq!(harness.login("2001:db8:aa:bc::1").await, StatusCode::OK);
}

#[tokio::test]
async fn exact_prefix_keys_each_ipv6_address() {
    let clock = FakeRelativeClock::default();
    let layer = RateLimitLayer::with_clock(&config(), clock.clone())
        .unwrap()
        .with_ipv6_prefix(Ipv6Prefix::EXACT);
    let harness = Harness::from_layer(clock, layer);
    for host in 1..=10 {
        let peer = format!("2001:db8:aa:bb::{host:x}");
        assert_eq!(harness.login(&peer).await, StatusCode::OK, "peer {peer}");
    }
}

#[tokio::test]
async fn mapped_ipv6_counts_against_ipv4() {
    let harness = Harness::new(&config());
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    assert_eq!(
        harness.login("::ffff:192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn ipv6_text_variants_share_bucket() {
    let clock = FakeRelativeClock::default();
    let layer = RateLimitLayer::with_clock(&config(), clock.clone())
        .unwrap()
        .with_ipv6_prefix(Ipv6Prefix::EXACT);
    let harness = Harness::from_layer(clock, layer);
    for _ in 0..3 {
        assert_eq!(harness.login("2001:db8::1").await, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(harness.login("2001:0db8:0:0:0:0:0:1").await, StatusCode::OK);
    }
    assert_eq!(
        harness.login("2001:0db8:0:0:0:0:0:1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn forwarded_for_header_ignored() {
    let harness = Harness::new(&config());
    for n in 1..=10 {
        let mut login = request(Method::POST, LOGIN, Some("203.0.113.10"));
        login.headers_mut().insert(
            "x-forwarded-for",
            format!("198.51.100.{n}").parse().unwrap(),
        );
        let status = harness.send(login).await.status();
        let expected = if n <= 5 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "request {n}");
    }
}

#[tokio::test]
async fn missing_address_uses_shared_fallback() {
    let harness = Harness::new(&config());
    for _ in 0..5 {
        let status = harness
            .send(request(Method::POST, LOGIN, None))
            .await
            .status();
        assert_eq!(status, StatusCode::OK);
    }
    let status = harness
        .send(request(Method::POST, LOGIN, None))
        .await
        .status();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Clients with an address are not affected by the fallback bucket.
    assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
}

#[tokio::test]
async fn inner_service_sees_same_client_ip() {
    let clock = FakeRelativeClock::default();
    let layer = RateLimitLayer::with_clock(&config(), clock).unwrap();
    let service = layer.layer(service_fn(|request: Request<Full<Bytes>>| async move {
        let client = crate::client_ip::client_ip(&request);
        let text = client.map_or("none".to_owned(), |ip| ip.to_string());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
    }));

    let mapped = request(Method::GET, "/", Some("::ffff:192.0.2.1"));
    let response = service.clone().oneshot(mapped).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"192.0.2.1");

    // The full address is recorded, not the /64 used as the key.
    let ipv6 = request(Method::GET, "/", Some("2001:db8:aa:bb::7"));
    let response = service.clone().oneshot(ipv6).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"2001:db8:aa:bb::7");
}

#[tokio::test]
async fn resolved_client_ip_preferred_over_peer() {
    let harness = Harness::new(&config());
    for _ in 0..5 {
        let mut login = request(Method::POST, LOGIN, Some("10.0.0.2"));
        login
            .extensions_mut()
            .insert(ClientIp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))));
        assert_eq!(harness.send(login).await.status(), StatusCode::OK);
    }
    // The proxy's own address still has its full quota.
    assert_eq!(harness.login("10.0.0.2").await, StatusCode::OK);
    assert_eq!(
        harness.login("192.0.2.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn disabled_layer_passes_everything() {
    let mut config = config();
    config.enabled = false;
    let harness = Harness::new(&config);
    for _ in 0..100 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    assert_eq!(harness.layer.key_count(), 0);
}

#[tokio::test]
async fn rejected_requests_spare_longer_quotas() {
    let mut config = config();
    // Listed longest first; the limiter checks the per-minute quota first regardless.
    config.routes = vec![RouteRule::new(
        LOGIN,
        vec![
            RateQuota::per_day(count(10)),
            RateQuota::per_minute(count(2)),
        ],
    )];
    let harness = Harness::new(&config);
    let periods: Vec<Duration> = harness
        .layer
        .limiter()
        .unwrap()
        .quotas(
            harness
                .layer
                .limiter()
                .unwrap()
                .rule_for(&Method::POST, LOGIN),
        )
        .map(|quota| quota.period)
        .collect();
    assert_eq!(
        periods,
        [Duration::from_secs(60), Duration::from_secs(86_400)]
    );

    let mut passed = 0;
    for minute in 0..5 {
        for _ in 0..50 {
            passed += u32::from(harness.login("192.0.2.1").await == StatusCode::OK);
        }
        harness.advance(Duration::from_secs(60));
        assert_eq!(passed, 2 * (minute + 1), "after minute {minute}");
    }
    // 250 rejected requests did not drain the daily quota: 10 passed in all.
    assert_eq!(passed, 10);
    let rejected = harness
        .send(request(Method::POST, LOGIN, Some("192.0.2.1")))
        .await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&rejected) > 3_600, "{}", retry_after(&rejected));
}

#[tokio::test]
async fn retain_recent_drops_idle_clients() {
    let harness = Harness::new(&config());
    let limiter = harness.layer.limiter().unwrap();
    let rule = limiter.rule_for(&Method::POST, LOGIN);
    for n in 0..100_000_u32 {
        let ip = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + n));
        assert!(
            limiter
                .check(rule, ClientKey::new(ip, Ipv6Prefix::DEFAULT))
                .is_ok()
        );
    }
    assert_eq!(harness.layer.key_count(), 100_000);

    // Still inside the refill time of every key: nothing may be dropped.
    harness.advance(Duration::from_secs(5));
    harness.layer.retain_recent();
    assert_eq!(harness.layer.key_count(), 100_000);

    harness.advance(Duration::from_secs(120));
    harness.layer.retain_recent();
    assert!(
        harness.layer.key_count() < 100,
        "{}",
        harness.layer.key_count()
    );
}

#[tokio::test]
async fn retain_recent_keeps_limited_clients() {
    let harness = Harness::new(&config());
    for _ in 0..6 {
        harness.login("192.0.2.1").await;
    }
    harness.advance(Duration::from_secs(1));
    harness.layer.retain_recent();
    assert_eq!(harness.layer.key_count(), 1);
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn external_storage_rejected() {
    let mut config = config();
    config.storage_url = Some("memcached://127.0.0.1:11211/0".to_owned());
    assert!(RateLimitLayer::new(&config).is_err());
    config.storage_url = Some("redis://127.0.0.1:6379/0".to_owned());
    assert!(MemoryRateLimiter::new(&config).is_err());
    config.storage_url = Some("memory://".to_owned());
    assert!(RateLimitLayer::new(&config).is_ok());
}

#[test]
fn building_layer_logs_active_backend() {
    let build = |config: &RateLimitConfig| {
        let (logs, _guard) = logs::capture_logs();
        RateLimitLayer::new(config).unwrap();
        logs.text()
    };
    let text = build(&config());
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("INFO"), "{text}");
    assert!(text.contains("memory"), "{text}");

    let disabled = RateLimitConfig {
        enabled: false,
        ..config()
    };
    assert!(build(&disabled).contains("disabled"));

    #[cfg(feature = "redis")]
    {
        let redis = RateLimitConfig {
            storage_url: Some("redis://:hunter2@127.0.0.1:6379/0".to_owned()),
            key_prefix: "amoskys-test:log:".to_owned(),
            ..config()
        };
        let text = build(&redis);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("INFO"), "{text}");
        assert!(text.contains("Redis"), "{text}");
        assert!(text.contains("127.0.0.1:6379"), "{text}");
        assert!(text.contains("amoskys-test:log:"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn invalid_rules_rejected() {
    let mut no_quota = config();
    no_quota.routes = vec![RouteRule::new(LOGIN, Vec::new())];
    assert!(MemoryRateLimiter::new(&no_quota).is_err());

    let mut relative_path = config();
    relative_path.routes = vec![RouteRule::new(
        "login",
        vec![RateQuota::per_minute(count(1))],
    )];
    assert!(MemoryRateLimiter::new(&relative_path).is_err());

    let mut zero_period = config();
    zero_period.default_quotas = vec![RateQuota::new(count(1), Duration::ZERO)];
    assert!(MemoryRateLimiter::new(&zero_period).is_err());

    let mut too_short = config();
    too_short.default_quotas = vec![RateQuota::new(count(10), Duration::from_nanos(5))];
    assert!(MemoryRateLimiter::new(&too_short).is_err());
}

#[test]
fn rule_lookup_uses_first_match() {
    let mut config = config();
    config.routes.insert(
        0,
        RouteRule {
            method: Some(Method::GET),
            path: LOGIN.to_owned(),
            quotas: vec![RateQuota::per_hour(count(7))],
        },
    );
    let limiter = MemoryRateLimiter::new(&config).unwrap();
    let get = limiter.rule_for(&Method::GET, LOGIN);
    let post = limiter.rule_for(&Method::POST, LOGIN);
    assert_ne!(get, post);
    assert_eq!(limiter.rule_path(get), Some(LOGIN));
    assert_eq!(limiter.quotas(get).next().unwrap().count.get(), 7);
    assert_eq!(limiter.quotas(post).next().unwrap().count.get(), 5);
    assert_eq!(limiter.rule_for(&Method::GET, "/other"), RuleId::DEFAULT);
    assert_eq!(limiter.rule_path(RuleId::DEFAULT), None);
}

#[tokio::test]
async fn poll_ready_delegates_to_inner() {
    let harness = Harness::new(&config());
    let mut service = harness.service.clone();
    let ready = std::future::poll_fn(|cx| service.poll_ready(cx)).await;
    assert!(ready.is_ok());
}

#[tokio::test]
async fn ipv6_prefix_setting_groups_rotation() {
    // Addresses that differ only after the first `bits` bits: the 6th within the prefix is
    // rejected, for every prefix length.
    let cases = [
        (
            48,
            [
                "2001:db8:aa:1::1",
                "2001:db8:aa:ff::2",
                "2001:db8:aa:1234::3",
            ],
        ),
        (
            56,
            [
                "2001:db8:aa:bb01::1",
                "2001:db8:aa:bbff::2",
                "2001:db8:aa:bb42::3",
            ],
        ),
        (
            64,
            [
                "2001:db8:aa:bb::1",
                "2001:db8:aa:bb::2",
                "2001:db8:aa:bb:1:2:3:4",
            ],
        ),
        (
            128,
            ["2001:db8::1", "2001:0db8:0:0:0:0:0:1", "2001:db8:0::1"],
        ),
    ];
    for (bits, addresses) in cases {
        let config = RateLimitConfig {
            ipv6_prefix: bits,
            ..config()
        };
        let harness = Harness::new(&config);
        for n in 0..5 {
            let peer = addresses[n % addresses.len()];
            assert_eq!(
                harness.login(peer).await,
                StatusCode::OK,
                "/{bits} request {n}"
            );
        }
        assert_eq!(
            harness.login(addresses[0]).await,
            StatusCode::TOO_MANY_REQUESTS,
            "/{bits}"
        );
        // An address outside the prefix has its own counter.
        assert_eq!(
            harness.login("2001:db8:bb::1").await,
            StatusCode::OK,
            "/{bits}"
        );
    }
    assert!(
        RateLimitLayer::new(&RateLimitConfig {
            ipv6_prefix: 0,
            ..config()
        })
        .is_err()
    );
    assert!(
        RateLimitLayer::new(&RateLimitConfig {
            ipv6_prefix: 129,
            ..config()
        })
        .is_err()
    );
}

#[tokio::test]
async fn flood_of_addresses_stays_under_cap() {
    const CAP: usize = 10_000;
    let config = RateLimitConfig {
        max_keys: CAP,
        ..config()
    };
    let harness = Harness::new(&config);
    let limiter = harness.layer.limiter().unwrap();
    let rule = limiter.rule_for(&Method::POST, LOGIN);
    let mut rejected = 0;
    for n in 0..100_000_u32 {
        let ip = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + n));
        if limiter
            .check(rule, ClientKey::new(ip, Ipv6Prefix::DEFAULT))
            .is_err()
        {
            rejected += 1;
        }
        assert!(
            limiter.key_count() <= CAP,
            "after {n}: {}",
            limiter.key_count()
        );
    }
    // The first CAP addresses got records; the other 90,000 shared one overflow record of
    // 5 per minute, so all but 5 of them were rejected rather than passed unchecked.
    assert_eq!(limiter.key_count(), CAP);
    assert_eq!(rejected, 90_000 - 5);

    // A client with a record keeps its own counter during the flood.
    let known = ClientKey::new("10.0.0.1".parse().unwrap(), Ipv6Prefix::DEFAULT);
    assert!(limiter.check(rule, known).is_ok());

    // Once every record is idle, the periodic cleanup empties the map and new clients get
    // records again.
    harness.advance(Duration::from_secs(120));
    harness.layer.retain_recent();
    assert_eq!(limiter.key_count(), 0);
    let newcomer = ClientKey::new("192.0.2.55".parse().unwrap(), Ipv6Prefix::DEFAULT);
    assert!(limiter.check(rule, newcomer).is_ok());
    assert_eq!(limiter.key_count(), 1);
}

#[tokio::test]
async fn full_map_sweeps_idle_records_for_newcomers() {
    let config = RateLimitConfig {
        max_keys: 100,
        ..config()
    };
    let harness = Harness::new(&config);
    let limiter = harness.layer.limiter().unwrap();
    let rule = limiter.rule_for(&Method::POST, LOGIN);
    for n in 0..100_u32 {
        let ip = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + n));
        assert!(
            limiter
                .check(rule, ClientKey::new(ip, Ipv6Prefix::DEFAULT))
                .is_ok()
        );
    }
    assert_eq!(limiter.key_count(), 100);
    // All records are idle after 2 minutes, so a new client triggers a sweep and gets its own
    // record without waiting for the periodic cleanup.
    harness.advance(Duration::from_secs(120));
    for _ in 0..5 {
        assert!(
            limiter
                .check(
                    rule,
                    ClientKey::new("192.0.2.1".parse().unwrap(), Ipv6Prefix::DEFAULT)
                )
                .is_ok()
        );
    }
    assert!(
        limiter
            .check(
                rule,
                ClientKey::new("192.0.2.1".parse().unwrap(), Ipv6Prefix::DEFAULT)
            )
            .is_err()
    );
    assert_eq!(limiter.key_count(), 1);
}

mod backends;
pub(crate) mod logs;
#[cfg(feature = "redis")]
mod redis;
mod shared_suite;

//! Redis-only behaviour: key expiry, repair of keys without one, and failure handling.

use ::redis::AsyncCommands;
use governor::clock::{Clock, Reference};
use serde_json::Value;

use super::backends::{delete_prefix, redis_connection, redis_url, unique_prefix};
use super::logs::capture_logs;
use super::*;
use crate::config::RateLimitFailureMode;

/// A Redis layer on a manual clock, for tests that need the raw limiter too.
fn redis_harness(url: &str, prefix: &str, mode: RateLimitFailureMode) -> Harness {
    let config = RateLimitConfig {
        storage_url: Some(url.to_owned()),
        key_prefix: prefix.to_owned(),
        failure_mode: mode,
        redis_timeout: Duration::from_millis(500),
        ..config()
    };
    let clock = FakeRelativeClock::default();
    let start = clock.now();
    let time = clock.clone();
    let limiter = RedisRateLimiter::new(&config)
        .unwrap()
        .with_time_source(move || {
            1_700_000_000_000_000 + time.now().duration_since(start).as_u64() / 1_000
        });
    Harness::from_layer(clock, RateLimitLayer::from_redis(limiter, &config).unwrap())
}

async fn json_body(response: Response<ResponseBody<Full<Bytes>>>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn every_key_gets_expiry() {
    let Some(url) = redis_url("every_key_gets_expiry").await else {
        return;
    };
    let prefix = unique_prefix("every_key_gets_expiry");
    let harness = redis_harness(&url, &prefix, RateLimitFailureMode::Closed);
    assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            harness.status(Method::GET, "/other", "192.0.2.1").await,
            StatusCode::OK
        );
    }
    assert_eq!(
        harness.status(Method::GET, "/other", "192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    let mut connection = redis_connection(&url).await.unwrap();
    let keys: Vec<String> = connection.keys(format!("{prefix}*")).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        let ttl: i64 = connection.pttl(key).await.unwrap();
        assert!(ttl > 0, "{key} has no expiry: {ttl}");
        // Login after one request is full again in 12 s; the default 3 per minute after 3
        // requests (and one rejected) in 60 s.
        assert!(ttl <= 60_000, "{key}: {ttl}");
    }
    delete_prefix(&url, &prefix).await;
}

#[tokio::test]
async fn key_without_expiry_repaired() {
    let Some(url) = redis_url("key_without_expiry_repaired").await else {
        return;
    };
    let prefix = unique_prefix("key_without_expiry_repaired");
    let harness = redis_harness(&url, &prefix, RateLimitFailureMode::Closed);
    let limiter = harness.layer.redis_limiter().unwrap();
    let rule = harness.layer.rule_for(&Method::POST, LOGIN);
    let mut connection = redis_connection(&url).await.unwrap();

    // A counter of another type and without expiry, as a non-atomic INCR would leave it.
    let first = limiter.key_name(
        rule,
        harness.layer.client_key(Some("192.0.2.1".parse().unwrap())),
    );
    let _: () = connection.set(&first, 3).await.unwrap();
    assert_eq!(connection.pttl::<_, i64>(&first).await.unwrap(), -1);
    assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    assert!(connection.pttl::<_, i64>(&first).await.unwrap() > 0);

    // A hash whose quota is exhausted (TAT at its bound, now + 60 s), without expiry:
    // rejected, and repaired.
    let second = limiter.key_name(
        rule,
        harness.layer.client_key(Some("192.0.2.2".parse().unwrap())),
    );
    let full = 1_700_000_000_000_000_u64 + 60_000_000;
    let _: () = connection.hset(&second, "5/60000000", full).await.unwrap();
    assert_eq!(connection.pttl::<_, i64>(&second).await.unwrap(), -1);
    assert_eq!(
        harness.login("192.0.2.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let ttl: i64 = connection.pttl(&second).await.unwrap();
    assert!(ttl > 0, "{ttl}");
    assert!(ttl <= 60_000, "{ttl}");
    delete_prefix(&url, &prefix).await;
}

#[tokio::test]
async fn corrupt_stored_values_count_as_fresh_key() {
    let test = "corrupt_stored_values_count_as_fresh_key";
    let Some(url) = redis_url(test).await else {
        return;
    };
    let prefix = unique_prefix(test);
    let harness = redis_harness(&url, &prefix, RateLimitFailureMode::Closed);
    let limiter = harness.layer.redis_limiter().unwrap();
    let rule = harness.layer.rule_for(&Method::POST, LOGIN);
    let mut connection = redis_connection(&url).await.unwrap();
    // No TAT can legitimately lie beyond now + interval + tolerance (60 s for 5 per minute).
    let beyond_bound = (1_700_000_000_000_000_u64 + 60_000_001).to_string();
    let corrupt = [
        "nan",
        "-nan",
        "inf",
        "-inf",
        "99999999999999999999999",
        "1e300",
        "-5",
        "-99999999999999999999999",
        "not a number",
        "",
        beyond_bound.as_str(),
    ];
    for (n, value) in corrupt.into_iter().enumerate() {
        let peer = format!("192.0.2.{}", n + 1);
        let key = limiter.key_name(rule, harness.layer.client_key(Some(peer.parse().unwrap())));
        let _: () = connection.hset(&key, "5/60000000", value).await.unwrap();
        assert_eq!(connection.pttl::<_, i64>(&key).await.unwrap(), -1);
        for attempt in 0..5 {
            assert_eq!(
                harness.login(&peer).await,
                StatusCode::OK,
                "{value:?}, attempt {attempt}"
            );
            let ttl: i64 = connection.pttl(&key).await.unwrap();
            assert!(ttl > 0, "{value:?}: {ttl}");
            assert!(ttl <= 60_000, "{value:?}: {ttl}");
        }
        assert_eq!(
            harness.login(&peer).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{value:?}"
        );
        let ttl: i64 = connection.pttl(&key).await.unwrap();
        assert!(ttl > 0, "{value:?}: {ttl}");
        assert!(ttl <= 60_000, "{value:?}: {ttl}");
    }

    // A full quota on a key without expiry: the rejection gives it one.
    let peer = "192.0.2.200";
    let key = limiter.key_name(rule, harness.layer.client_key(Some(peer.parse().unwrap())));
    for _ in 0..5 {
        assert_eq!(harness.login(peer).await, StatusCode::OK);
    }
    let _: () = connection.persist(&key).await.unwrap();
    assert_eq!(harness.login(peer).await, StatusCode::TOO_MANY_REQUESTS);
    let ttl: i64 = connection.pttl(&key).await.unwrap();
    assert!(ttl > 0, "{ttl}");
    assert!(ttl <= 60_000, "{ttl}");
    delete_prefix(&url, &prefix).await;
}

#[tokio::test]
async fn flushed_script_cache_falls_back_to_eval() {
    let Some(url) = redis_url("flushed_script_cache_falls_back_to_eval").await else {
        return;
    };
    let prefix = unique_prefix("flushed_script_cache_falls_back_to_eval");
    let harness = redis_harness(&url, &prefix, RateLimitFailureMode::Closed);
    assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    let mut admin = redis_connection(&url).await.unwrap();
    let _: () = ::redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut admin)
        .await
        .unwrap();
    // EVALSHA now fails with NOSCRIPT; the check loads the script and counts the request.
    for _ in 0..4 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    delete_prefix(&url, &prefix).await;
}

/// A Redis URL on loopback where nothing listens.
const DEAD_REDIS: &str = "redis://127.0.0.1:1";

#[tokio::test]
async fn unreachable_redis_fails_closed_with_503() {
    let (logs, _guard) = capture_logs();
    let harness = redis_harness(
        DEAD_REDIS,
        "amoskys-test:dead:",
        RateLimitFailureMode::Closed,
    );
    let response = harness
        .send(request(Method::POST, LOGIN, Some("192.0.2.1")))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body = json_body(response).await;
    assert_eq!(body["error_code"], "SERVICE_UNAVAILABLE");
    let text = logs.text();
    assert!(text.contains("rate-limit backend failed"), "{text}");
    assert!(text.contains(LOGIN), "{text}");
    assert!(text.contains("failure mode closed"), "{text}");
}

#[tokio::test]
async fn unreachable_redis_fails_open_when_configured() {
    let (logs, _guard) = capture_logs();
    let harness = redis_harness(DEAD_REDIS, "amoskys-test:dead:", RateLimitFailureMode::Open);
    for _ in 0..3 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    let text = logs.text();
    assert!(text.contains("rate-limit backend failed"), "{text}");
    assert!(text.contains("failure mode open"), "{text}");
    assert!(text.contains(LOGIN), "{text}");
}

#[tokio::test]
async fn hung_redis_times_out_with_503() {
    // A server on loopback that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let accept = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (logs, _guard) = capture_logs();
    let config = RateLimitConfig {
        storage_url: Some(url),
        key_prefix: "amoskys-test:hung:".to_owned(),
        redis_timeout: Duration::from_millis(200),
        ..config()
    };
    let harness = Harness::from_layer(
        FakeRelativeClock::default(),
        RateLimitLayer::with_clock(&config, FakeRelativeClock::default()).unwrap(),
    );
    for attempt in 0..2 {
        // The bound only keeps a hang from stalling the suite; the timeout under test is
        // 200 ms.
        let response = tokio::time::timeout(
            Duration::from_secs(30),
            harness.send(request(Method::POST, LOGIN, Some("192.0.2.1"))),
        )
        .await
        .expect("the request hung instead of timing out");
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}"
        );
    }
    // Concurrent requests queue behind one connection attempt; each still gets its 503.
    let send = || harness.send(request(Method::POST, LOGIN, Some("192.0.2.1")));
    let (first, second, third) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(send(), send(), send())
    })
    .await
    .expect("concurrent requests hung instead of timing out");
    for response in [first, second, third] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert!(logs.text().contains("rate-limit backend failed"));
    accept.abort();
}

/// Kills the limiter's connection with `CLIENT KILL`, expects the next request to get the
/// failure mode's answer, and the limit to hold again once the connection is back.
async fn killed_connection(mode: RateLimitFailureMode, during_outage: StatusCode) {
    let test = "killed_connection_recovers";
    let Some(url) = redis_url(test).await else {
        return;
    };
    let (logs, _guard) = capture_logs();
    let prefix = unique_prefix(test);
    let harness = redis_harness(&url, &prefix, mode);
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    assert_eq!(
        harness.login("192.0.2.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    let id = harness
        .layer
        .redis_limiter()
        .unwrap()
        .connection_id()
        .await
        .unwrap();
    let mut admin = redis_connection(&url).await.unwrap();
    let killed: u64 = ::redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1);

    assert_eq!(harness.login("192.0.2.1").await, during_outage);
    let text = logs.text();
    assert!(text.contains("rate-limit backend failed"), "{text}");
    assert!(text.contains(LOGIN), "{text}");

    // The connection manager reconnects in the background; poll a bounded number of times.
    let mut status = StatusCode::OK;
    for _ in 0..100 {
        status = harness.login("192.0.2.1").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "limit enforced again"
    );
    assert!(logs.text().contains("rate-limit backend recovered"));
    delete_prefix(&url, &prefix).await;
}

#[tokio::test]
async fn killed_connection_fails_closed_then_recovers() {
    killed_connection(
        RateLimitFailureMode::Closed,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
}

#[tokio::test]
async fn killed_connection_fails_open_then_recovers() {
    killed_connection(RateLimitFailureMode::Open, StatusCode::OK).await;
}

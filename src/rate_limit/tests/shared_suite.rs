//! One suite of exact boundary checks, run against every backend: the in-memory limiter and
//! the real Redis at `REDIS_URL`, each case under its own key prefix.

use super::backends::{Kind, Subject};
use super::*;

const TWO_QUOTAS: &str = "/two-quotas";

/// Login 5 per minute, forgot-password 1 per minute, a route limited by 2 per minute and
/// 3 per hour together, everything else 3 per minute.
fn suite_config() -> RateLimitConfig {
    let mut config = config();
    config.routes.push(RouteRule::new(
        TWO_QUOTAS,
        vec![
            RateQuota::per_hour(count(3)),
            RateQuota::per_minute(count(2)),
        ],
    ));
    config
}

async fn subject(kind: Kind, test: &str) -> Option<Subject> {
    Subject::new(kind, test, suite_config()).await
}

/// The 5th request of 5 per minute passes, the 6th waits exactly 12 s, and a retry after
/// exactly that wait passes.
async fn nth_passes_next_waits_exactly(kind: Kind) {
    let Some(subject) = subject(kind, "nth_passes_next_waits_exactly").await else {
        return;
    };
    for n in 1..=5 {
        assert_eq!(
            subject.check(LOGIN, "192.0.2.1").await,
            Ok(()),
            "request {n}"
        );
    }
    assert_eq!(
        subject.check(LOGIN, "192.0.2.1").await,
        Err(Duration::from_secs(12))
    );
    subject.advance(Duration::from_millis(11_999));
    assert_eq!(
        subject.check(LOGIN, "192.0.2.1").await,
        Err(Duration::from_millis(1))
    );
    subject.advance(Duration::from_millis(1));
    assert_eq!(subject.check(LOGIN, "192.0.2.1").await, Ok(()));
    assert_eq!(
        subject.check(LOGIN, "192.0.2.1").await,
        Err(Duration::from_secs(12))
    );
    subject.finish().await;
}

/// 1 per minute: a second request 0.4 s later waits 59.6 s, advertised as 60, and the retry
/// after 60 s passes.
async fn one_per_minute_retry_after_sixty(kind: Kind) {
    let Some(subject) = subject(kind, "one_per_minute_retry_after_sixty").await else {
        return;
    };
    let path = "/api/auth/forgot-password";
    assert_eq!(subject.check(path, "192.0.2.1").await, Ok(()));
    subject.advance(Duration::from_millis(400));
    let wait = subject.check(path, "192.0.2.1").await.unwrap_err();
    assert_eq!(wait, Duration::from_millis(59_600));
    assert_eq!(crate::error::retry_after_secs(wait), 60);
    subject.advance(Duration::from_secs(60));
    assert_eq!(subject.check(path, "192.0.2.1").await, Ok(()));
    subject.finish().await;
}

/// With 2 per minute and 3 per hour, requests rejected by either quota count against neither,
/// and the wait is the longest of the rejecting quotas.
async fn multi_quota_all_or_nothing(kind: Kind) {
    let Some(subject) = subject(kind, "multi_quota_all_or_nothing").await else {
        return;
    };
    let ip = "192.0.2.1";
    assert_eq!(subject.check(TWO_QUOTAS, ip).await, Ok(()));
    assert_eq!(subject.check(TWO_QUOTAS, ip).await, Ok(()));
    // Rejected by the minute quota; these must not drain the hour quota.
    for _ in 0..20 {
        assert_eq!(
            subject.check(TWO_QUOTAS, ip).await,
            Err(Duration::from_secs(30))
        );
    }
    subject.advance(Duration::from_secs(30));
    assert_eq!(
        subject.check(TWO_QUOTAS, ip).await,
        Ok(()),
        "third of the hour"
    );

    // Now the hour quota is exhausted: the next cell is free at 1,200 s, 1,140 s from now,
    // while the minute quota has room. Rejections by the hour quota must not drain it.
    subject.advance(Duration::from_secs(30));
    for _ in 0..20 {
        assert_eq!(
            subject.check(TWO_QUOTAS, ip).await,
            Err(Duration::from_secs(1_140))
        );
    }
    subject.advance(Duration::from_secs(1_140));
    assert_eq!(subject.check(TWO_QUOTAS, ip).await, Ok(()));
    // Hour quota: its next cell is at 2,400 s, 1,200 s after now.
    assert_eq!(
        subject.check(TWO_QUOTAS, ip).await,
        Err(Duration::from_secs(1_200))
    );
    subject.finish().await;
}

/// Counters are separate per client and per rule, and unmatched paths share the default.
async fn keys_independent_per_rule_and_client(kind: Kind) {
    let Some(subject) = subject(kind, "keys_independent_per_rule_and_client").await else {
        return;
    };
    for _ in 0..5 {
        assert_eq!(subject.check(LOGIN, "192.0.2.1").await, Ok(()));
    }
    assert!(subject.check(LOGIN, "192.0.2.1").await.is_err());
    assert_eq!(
        subject.check(LOGIN, "192.0.2.2").await,
        Ok(()),
        "other client"
    );
    assert_eq!(
        subject
            .check("/api/auth/forgot-password", "192.0.2.1")
            .await,
        Ok(()),
        "other rule"
    );
    for path in ["/a", "/b", "/c"] {
        assert_eq!(subject.check(path, "192.0.2.1").await, Ok(()), "{path}");
    }
    assert!(
        subject.check("/d", "192.0.2.1").await.is_err(),
        "default shared"
    );
    subject.finish().await;
}

/// Textual variants of one address and addresses inside one /64 share a counter.
async fn address_variants_share_counter(kind: Kind) {
    let Some(subject) = subject(kind, "address_variants_share_counter").await else {
        return;
    };
    for ip in ["2001:db8::1", "2001:0db8:0:0:0:0:0:1", "2001:db8::ffff"] {
        assert_eq!(subject.check(LOGIN, ip).await, Ok(()), "{ip}");
    }
    assert_eq!(subject.check(LOGIN, "2001:db8:0:0:1:2:3:4").await, Ok(()));
    assert_eq!(subject.check(LOGIN, "2001:db8::2").await, Ok(()));
    assert!(
        subject.check(LOGIN, "2001:db8::3").await.is_err(),
        "6th in the /64"
    );
    assert_eq!(
        subject.check(LOGIN, "2001:db8:0:1::1").await,
        Ok(()),
        "next /64"
    );

    for _ in 0..5 {
        assert_eq!(subject.check(LOGIN, "192.0.2.1").await, Ok(()));
    }
    assert!(
        subject.check(LOGIN, "::ffff:192.0.2.1").await.is_err(),
        "mapped address counts as IPv4"
    );
    subject.finish().await;
}

/// Over the HTTP layer, the 429 carries an integer `Retry-After` rounded up.
async fn layer_rejects_with_retry_after(kind: Kind) {
    let Some(subject) = subject(kind, "layer_rejects_with_retry_after").await else {
        return;
    };
    let harness = &subject.harness;
    for _ in 0..5 {
        assert_eq!(harness.login("192.0.2.1").await, StatusCode::OK);
    }
    harness.advance(Duration::from_millis(400));
    let response = harness
        .send(request(Method::POST, LOGIN, Some("192.0.2.1")))
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&response), 12);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert!(
        !response.headers().contains_key("ratelimit"),
        "draft fields off by default"
    );
    subject.finish().await;
}

/// With the draft fields on, a 429 names every quota of the rule and the one that rejected,
/// with the same seconds as `Retry-After`; passes and the default setting carry none.
async fn draft_headers_agree_with_retry_after(kind: Kind) {
    let test = "draft_headers_agree_with_retry_after";
    let config = RateLimitConfig {
        draft_headers: true,
        ..suite_config()
    };
    let Some(subject) = Subject::new(kind, test, config).await else {
        return;
    };
    let harness = &subject.harness;
    let send = |path: &'static str| harness.send(request(Method::POST, path, Some("192.0.2.1")));
    for _ in 0..5 {
        let response = send(LOGIN).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("ratelimit"));
    }
    let response = send(LOGIN).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&response), 12);
    assert_eq!(
        response.headers()["ratelimit-policy"],
        "\"5-per-60s\";q=5;w=60"
    );
    assert_eq!(response.headers()["ratelimit"], "\"5-per-60s\";r=0;t=12");

    // Two quotas: after 3 requests in a minute the hour quota rejects for 1,140 s.
    for _ in 0..2 {
        assert_eq!(send(TWO_QUOTAS).await.status(), StatusCode::OK);
    }
    harness.advance(Duration::from_secs(30));
    assert_eq!(send(TWO_QUOTAS).await.status(), StatusCode::OK);
    harness.advance(Duration::from_secs(30));
    let response = send(TWO_QUOTAS).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&response), 1_140);
    assert_eq!(
        response.headers()["ratelimit-policy"],
        "\"2-per-60s\";q=2;w=60, \"3-per-3600s\";q=3;w=3600"
    );
    assert_eq!(
        response.headers()["ratelimit"],
        "\"3-per-3600s\";r=0;t=1140"
    );
    subject.finish().await;
}

/// Empty default quotas leave unmatched routes unlimited, while route rules still apply.
async fn empty_default_quotas_unlimited(kind: Kind) {
    let config = RateLimitConfig {
        default_quotas: Vec::new(),
        ..suite_config()
    };
    let Some(subject) = Subject::new(kind, "empty_default_quotas_unlimited", config).await else {
        return;
    };
    for n in 0..20 {
        assert_eq!(subject.check("/anything", "192.0.2.1").await, Ok(()), "{n}");
    }
    for _ in 0..5 {
        assert_eq!(subject.check(LOGIN, "192.0.2.1").await, Ok(()));
    }
    assert!(subject.check(LOGIN, "192.0.2.1").await.is_err());
    subject.finish().await;
}

macro_rules! shared_suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Kind::Memory).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Kind::Redis).await;
                }
            )*
        }
    };
}

shared_suite!(
    nth_passes_next_waits_exactly,
    one_per_minute_retry_after_sixty,
    multi_quota_all_or_nothing,
    keys_independent_per_rule_and_client,
    address_variants_share_counter,
    layer_rejects_with_retry_after,
    draft_headers_agree_with_retry_after,
    empty_default_quotas_unlimited,
);

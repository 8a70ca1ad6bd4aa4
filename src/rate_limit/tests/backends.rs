//! Test backends: the in-memory limiter and the real Redis named by `REDIS_URL`, both on one
//! manual clock so that the shared suite can check exact waits.

#[cfg(feature = "redis")]
use governor::clock::{Clock, FakeRelativeClock, Reference};

use super::*;

/// The backend a shared-suite case runs against.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Memory,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Redis,
}

/// Microseconds added to the manual clock for Redis, so TATs look like Unix times.
#[cfg(feature = "redis")]
const EPOCH_OFFSET_MICROS: u64 = 1_700_000_000_000_000;

/// Returns the Redis URL for tests: `None` (after printing that the test is skipped) when
/// `REDIS_URL` is unset, and a panic when `AMOSKYS_TEST_REQUIRE_SERVICES=1` demands it.
#[cfg(feature = "redis")]
pub(super) async fn redis_url(test: &str) -> Option<String> {
    let required = std::env::var("AMOSKYS_TEST_REQUIRE_SERVICES").as_deref() == Ok("1");
    let Ok(url) = std::env::var("REDIS_URL") else {
        assert!(
            !required,
            "{test}: REDIS_URL is unset but AMOSKYS_TEST_REQUIRE_SERVICES=1"
        );
        eprintln!("{test}: skipped, REDIS_URL is unset");
        return None;
    };
    match ping(&url).await {
        Ok(()) => Some(url),
        Err(error) if !required => {
            eprintln!("{test}: skipped, Redis at REDIS_URL is unreachable: {error}");
            None
        }
        Err(error) => panic!("{test}: Redis at REDIS_URL is unreachable: {error}"),
    }
}

#[cfg(feature = "redis")]
async fn ping(url: &str) -> Result<(), ::redis::RedisError> {
    let mut connection = redis_connection(url).await?;
    ::redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await
        .map(drop)
}

/// Opens a separate connection for inspecting and cleaning up keys.
#[cfg(feature = "redis")]
pub(super) async fn redis_connection(
    url: &str,
) -> Result<::redis::aio::MultiplexedConnection, ::redis::RedisError> {
    ::redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await
}

/// Returns a key prefix that no other test uses.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(super) fn unique_prefix(test: &str) -> String {
    format!("amoskys-test:{test}:{}:", uuid::Uuid::new_v4().simple())
}

/// Deletes every key under `prefix`.
#[cfg(feature = "redis")]
pub(super) async fn delete_prefix(url: &str, prefix: &str) {
    let mut connection = redis_connection(url).await.unwrap();
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    if !keys.is_empty() {
        ::redis::cmd("DEL")
            .arg(&keys)
            .query_async::<u64>(&mut connection)
            .await
            .unwrap();
    }
}

/// A layer under test on a manual clock, with what its cleanup needs.
pub(super) struct Subject {
    pub(super) harness: Harness,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) redis: Option<(String, String)>,
}

impl Subject {
    /// Builds the layer of `config` on `kind`, or `None` when Redis is not configured and not
    /// required.
    pub(super) async fn new(kind: Kind, test: &str, config: RateLimitConfig) -> Option<Self> {
        match kind {
            Kind::Memory => Some(Self {
                harness: Harness::new(&config),
                redis: None,
            }),
            #[cfg(feature = "redis")]
            Kind::Redis => {
                let url = redis_url(test).await?;
                let prefix = unique_prefix(test);
                let config = RateLimitConfig {
                    storage_url: Some(url.clone()),
                    key_prefix: prefix.clone(),
                    ..config
                };
                let clock = FakeRelativeClock::default();
                let start = clock.now();
                let time = clock.clone();
                let limiter = RedisRateLimiter::new(&config)
                    .unwrap()
                    .with_time_source(move || {
                        EPOCH_OFFSET_MICROS + time.now().duration_since(start).as_u64() / 1_000
                    });
                let layer = RateLimitLayer::from_redis(limiter, &config).unwrap();
                Some(Self {
                    harness: Harness::from_layer(clock, layer),
                    redis: Some((url, prefix)),
                })
            }
            #[cfg(not(feature = "redis"))]
            Kind::Redis => {
                eprintln!("{test}: skipped, built without the redis feature");
                None
            }
        }
    }

    /// Deletes the Redis keys of the case.
    pub(super) async fn finish(self) {
        #[cfg(feature = "redis")]
        if let Some((url, prefix)) = &self.redis {
            delete_prefix(url, prefix).await;
        }
    }

    pub(super) fn advance(&self, by: Duration) {
        self.harness.advance(by);
    }

    /// Checks one request of `ip` under the rule of `POST path`, returning the wait on
    /// rejection and failing the test on a backend error.
    pub(super) async fn check(&self, path: &str, ip: &str) -> Result<(), Duration> {
        let layer = &self.harness.layer;
        let rule = layer.rule_for(&Method::POST, path);
        let key = layer.client_key(Some(ip.parse().unwrap()));
        match layer.check(rule, key).await {
            Ok(()) => Ok(()),
            Err(CheckError::Exceeded { wait, .. }) => Err(wait),
            Err(other) => panic!("backend failed: {other}"),
        }
    }
}

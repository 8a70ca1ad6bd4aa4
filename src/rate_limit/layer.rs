//! [`RateLimitLayer`]: the tower layer around a rate-limit backend.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use tower_layer::Layer;

use super::key::{ClientKey, Ipv6Prefix};
use super::memory::MemoryRateLimiter;
#[cfg(feature = "redis")]
use super::redis::RedisRateLimiter;
use super::rules::{Exceeded, RuleId, Rules};
use super::service::RateLimit;
use crate::config::{ConfigError, RateLimitConfig, RateLimitFailureMode, RateQuota};

/// The counter storage.
pub(crate) enum Backend<C: Clock> {
    Memory(MemoryRateLimiter<C>),
    /// Boxed because the in-memory variant, the common one, is much smaller.
    #[cfg(feature = "redis")]
    Redis(Box<RedisRateLimiter>),
}

impl<C: Clock> std::fmt::Debug for Backend<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory(limiter) => limiter.fmt(f),
            #[cfg(feature = "redis")]
            Self::Redis(limiter) => limiter.fmt(f),
        }
    }
}

/// The reason a check did not admit a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A quota rejected the request; every quota admits a retry after `wait`.
    #[error("rate limit exceeded; retry after {wait:?}")]
    Exceeded {
        /// The time until a retry passes.
        wait: Duration,
        /// The quota that needs that wait.
        quota: RateQuota,
    },
    /// The backend could not decide (Redis unreachable, timed out or failing).
    #[error("rate-limit backend unavailable")]
    Unavailable {
        /// The failure, for logs.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// State shared by a layer and every service it built.
pub(crate) struct Shared<C: Clock> {
    pub(crate) backend: Backend<C>,
    pub(crate) failure_mode: RateLimitFailureMode,
    pub(crate) draft_headers: bool,
    /// Requests seen without a client address, for rate-limited logging.
    pub(crate) unknown_client_requests: AtomicU64,
    /// Backend failures in a row, for rate-limited logging.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) backend_failures: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("backend", &self.backend)
            .field("failure_mode", &self.failure_mode)
            .field("draft_headers", &self.draft_headers)
            .finish_non_exhaustive()
    }
}

impl<C: Clock> Shared<C> {
    pub(crate) fn rules(&self) -> &Rules {
        match &self.backend {
            Backend::Memory(limiter) => limiter.rules(),
            #[cfg(feature = "redis")]
            Backend::Redis(limiter) => limiter.rules(),
        }
    }
}

/// A tower layer that limits requests per client address and route; see the
/// [module documentation](super) for the rules and the quota model.
///
/// Clones share one set of counters.
pub struct RateLimitLayer<C: Clock = DefaultClock> {
    shared: Arc<Shared<C>>,
    ipv6_prefix: Ipv6Prefix,
}

impl<C: Clock> std::fmt::Debug for RateLimitLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("shared", &self.shared)
            .field("ipv6_prefix", &self.ipv6_prefix.bits())
            .finish()
    }
}

impl<C: Clock> Clone for RateLimitLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            ipv6_prefix: self.ipv6_prefix,
        }
    }
}

impl RateLimitLayer<DefaultClock> {
    /// Builds the layer from `config`: counters in memory, or in Redis when `storage_url` is a
    /// `redis://` URL and the `redis` feature is on.
    ///
    /// # Errors
    ///
    /// The errors of [`MemoryRateLimiter::new`], [`ConfigError::Invalid`] for an
    /// `ipv6_prefix` outside 1..=128, and for Redis those of `RedisRateLimiter::new`.
    pub fn new(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock> RateLimitLayer<C> {
    /// Builds the layer from `config` with `clock` for the in-memory backend, such as
    /// governor's `FakeRelativeClock` in tests. The Redis backend ignores `clock`.
    ///
    /// # Errors
    ///
    /// The errors of [`RateLimitLayer::new`].
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Result<Self, ConfigError> {
        #[cfg(feature = "redis")]
        if config
            .storage_url
            .as_deref()
            .is_some_and(|url| crate::config::has_scheme(url, "redis"))
        {
            let limiter = RedisRateLimiter::new(config)?;
            return Self::from_backend(Backend::Redis(Box::new(limiter)), config);
        }
        let limiter = MemoryRateLimiter::with_clock(config, clock)?;
        Self::from_backend(Backend::Memory(limiter), config)
    }

    /// Builds the layer around a Redis limiter, such as one with its own time source.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for an `ipv6_prefix` outside 1..=128.
    #[cfg(feature = "redis")]
    pub fn from_redis(
        limiter: RedisRateLimiter,
        config: &RateLimitConfig,
    ) -> Result<Self, ConfigError> {
        Self::from_backend(Backend::Redis(Box::new(limiter)), config)
    }

    fn from_backend(backend: Backend<C>, config: &RateLimitConfig) -> Result<Self, ConfigError> {
        log_backend(&backend, config);
        let layer = Self {
            shared: Arc::new(Shared {
                backend,
                failure_mode: config.failure_mode,
                draft_headers: config.draft_headers,
                unknown_client_requests: AtomicU64::new(0),
                backend_failures: AtomicU64::new(0),
            }),
            ipv6_prefix: Ipv6Prefix::new(config.ipv6_prefix)?,
        };
        Ok(layer)
    }

    /// Wraps an existing in-memory limiter, grouping IPv6 clients by
    /// [`Ipv6Prefix::DEFAULT`] (/64), failing closed and without draft headers.
    pub fn from_limiter(limiter: MemoryRateLimiter<C>) -> Self {
        Self {
            shared: Arc::new(Shared {
                backend: Backend::Memory(limiter),
                failure_mode: RateLimitFailureMode::Closed,
                draft_headers: false,
                unknown_client_requests: AtomicU64::new(0),
                backend_failures: AtomicU64::new(0),
            }),
            ipv6_prefix: Ipv6Prefix::DEFAULT,
        }
    }

    /// Sets the prefix length by which IPv6 clients are grouped. Default: the configuration's
    /// `ipv6_prefix`, /64.
    #[must_use]
    pub fn with_ipv6_prefix(mut self, prefix: Ipv6Prefix) -> Self {
        self.ipv6_prefix = prefix;
        self
    }

    /// Returns the in-memory limiter, or `None` when counters live in Redis.
    pub fn limiter(&self) -> Option<&MemoryRateLimiter<C>> {
        match &self.shared.backend {
            Backend::Memory(limiter) => Some(limiter),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => None,
        }
    }

    /// Returns the Redis limiter, or `None` when counters live in memory.
    #[cfg(feature = "redis")]
    pub fn redis_limiter(&self) -> Option<&RedisRateLimiter> {
        match &self.shared.backend {
            Backend::Redis(limiter) => Some(limiter),
            Backend::Memory(_) => None,
        }
    }

    /// Finds the rule of a request; see [`MemoryRateLimiter::rule_for`].
    pub fn rule_for(&self, method: &http::Method, path: &str) -> RuleId {
        self.shared.rules().rule_for(method, path)
    }

    /// Returns the key of `ip` under this layer's IPv6 grouping.
    pub fn client_key(&self, ip: Option<std::net::IpAddr>) -> ClientKey {
        ClientKey::from_optional(ip, self.ipv6_prefix)
    }

    /// Counts one request of `key` under `rule` in whichever backend the layer uses.
    ///
    /// # Errors
    ///
    /// [`CheckError::Exceeded`] when a quota rejects the request (which then counts against
    /// none), [`CheckError::Unavailable`] when the backend cannot decide.
    pub async fn check(&self, rule: RuleId, key: ClientKey) -> Result<(), CheckError> {
        self.shared.check(rule, key).await
    }

    /// Drops the counters of idle clients and shrinks the map; see
    /// [`MemoryRateLimiter::retain_recent`]. Redis expires its keys by itself, so there this
    /// does nothing.
    pub fn retain_recent(&self) {
        match &self.shared.backend {
            Backend::Memory(limiter) => limiter.retain_recent(),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => {}
        }
    }

    /// Returns the number of in-memory records held; see [`MemoryRateLimiter::key_count`].
    /// Always 0 with Redis.
    pub fn key_count(&self) -> usize {
        self.limiter().map_or(0, MemoryRateLimiter::key_count)
    }
}

/// Logs once, when a layer is built, where its counters live; never a Redis password.
fn log_backend<C: Clock>(backend: &Backend<C>, config: &RateLimitConfig) {
    if !config.enabled {
        tracing::info!("rate limiting disabled");
        return;
    }
    match backend {
        Backend::Memory(_) => tracing::info!(
            backend = "memory",
            max_keys = config.max_keys,
            "rate limiting with counters in process memory, per instance"
        ),
        #[cfg(feature = "redis")]
        Backend::Redis(limiter) => tracing::info!(
            backend = "redis",
            server = %limiter.server(),
            prefix = %limiter.prefix(),
            timeout_ms = u64::try_from(config.redis_timeout.as_millis()).unwrap_or(u64::MAX),
            failure_mode = ?config.failure_mode,
            "rate limiting with counters in Redis, shared by every instance on that server and prefix"
        ),
    }
}

impl<C: Clock> Shared<C> {
    pub(crate) async fn check(&self, rule: RuleId, key: ClientKey) -> Result<(), CheckError> {
        match &self.backend {
            Backend::Memory(limiter) => limiter
                .check_quotas(rule, key)
                .map_err(|Exceeded { wait, quota }| CheckError::Exceeded { wait, quota }),
            #[cfg(feature = "redis")]
            Backend::Redis(limiter) => match limiter.check(rule, key).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(Exceeded { wait, quota })) => Err(CheckError::Exceeded { wait, quota }),
                Err(error) => Err(CheckError::Unavailable {
                    source: Box::new(error),
                }),
            },
        }
    }
}

impl<S, C: Clock> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimit<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, Arc::clone(&self.shared), self.ipv6_prefix)
    }
}

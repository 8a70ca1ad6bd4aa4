//! [`RateLimitLayer`]: the tower layer around [`MemoryRateLimiter`].

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use governor::clock::{Clock, DefaultClock};
use tower_layer::Layer;

use super::key::Ipv6Prefix;
use super::memory::MemoryRateLimiter;
use super::service::RateLimit;
use crate::config::{ConfigError, RateLimitConfig};

/// State shared by a layer and every service it built.
#[derive(Debug)]
pub(crate) struct Shared<C: Clock> {
    pub(crate) limiter: MemoryRateLimiter<C>,
    /// Requests seen without a client address, for rate-limited logging.
    pub(crate) unknown_client_requests: AtomicU64,
}

/// A tower layer that limits requests per client address and route; see the
/// [module documentation](super) for the rules and the quota model.
///
/// Clones share one set of counters.
#[derive(Debug)]
pub struct RateLimitLayer<C: Clock = DefaultClock> {
    shared: Arc<Shared<C>>,
    ipv6_prefix: Ipv6Prefix,
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
    /// Builds the layer from `config`, grouping IPv6 clients by [`Ipv6Prefix::DEFAULT`] (/64).
    ///
    /// # Errors
    ///
    /// The errors of [`MemoryRateLimiter::new`].
    pub fn new(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimitLayer<C> {
    /// Builds the layer from `config` with `clock`, such as governor's `FakeRelativeClock` in
    /// tests.
    ///
    /// # Errors
    ///
    /// The errors of [`MemoryRateLimiter::new`].
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Result<Self, ConfigError> {
        Ok(Self::from_limiter(MemoryRateLimiter::with_clock(
            config, clock,
        )?))
    }
}

impl<C: Clock> RateLimitLayer<C> {
    /// Wraps an existing limiter, grouping IPv6 clients by [`Ipv6Prefix::DEFAULT`] (/64).
    pub fn from_limiter(limiter: MemoryRateLimiter<C>) -> Self {
        Self {
            shared: Arc::new(Shared {
                limiter,
                unknown_client_requests: AtomicU64::new(0),
            }),
            ipv6_prefix: Ipv6Prefix::DEFAULT,
        }
    }

    /// Sets the prefix length by which IPv6 clients are grouped. Default: /64.
    #[must_use]
    pub fn with_ipv6_prefix(mut self, prefix: Ipv6Prefix) -> Self {
        self.ipv6_prefix = prefix;
        self
    }

    /// Returns the limiter, for [`MemoryRateLimiter::retain_recent`] and direct checks.
    pub fn limiter(&self) -> &MemoryRateLimiter<C> {
        &self.shared.limiter
    }

    /// Drops the counters of idle clients and shrinks the maps; see
    /// [`MemoryRateLimiter::retain_recent`].
    ///
    /// Call it periodically, for example once a minute from a background task, or memory
    /// grows with every client address ever seen.
    pub fn retain_recent(&self) {
        self.shared.limiter.retain_recent();
    }

    /// Returns the number of counters held; see [`MemoryRateLimiter::key_count`].
    pub fn key_count(&self) -> usize {
        self.shared.limiter.key_count()
    }
}

impl<S, C: Clock> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimit<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, Arc::clone(&self.shared), self.ipv6_prefix)
    }
}

//! Rate limiting per client address and route, in process memory.
//!
//! [`RateLimitLayer`] counts every request against quotas chosen by its route and responds
//! with `429 Too Many Requests` when one is exhausted, with `Retry-After` and the JSON body:
//!
//! ```json
//! {"error": "Rate limit exceeded. Please try again later.",
//!  "error_code": "RATE_LIMIT_EXCEEDED",
//!  "retry_after": "12 seconds"}
//! ```
//!
//! # Rules
//!
//! A request whose path (and method, when the rule sets one) matches a
//! [`RouteRule`](crate::config::RouteRule) is counted against that rule's quotas only. Every
//! other request is counted against
//! [`default_quotas`](crate::config::RateLimitConfig::default_quotas), and those counters are
//! shared by all unmatched routes of a client: a client that invents new paths draws from the
//! same quotas rather than getting fresh ones per path. Paths are compared byte for byte with
//! the request's path as this layer sees it, without percent-decoding or trailing-slash
//! removal; see [`MemoryRateLimiter::rule_for`].
//!
//! A request passes only if every quota of its rule admits it. The `Retry-After` of a 429 is
//! the wait of the quota that rejected, rounded up to whole seconds and at least 1, so a client
//! that waits exactly that long passes that quota.
//!
//! # Quota model
//!
//! A quota of `count` per `period` is enforced with GCRA (the generic cell rate algorithm, as
//! implemented by `governor`): a burst of `count` requests, refilled at one request per
//! `period / count`. It is not a fixed or sliding window. For 5 per minute this means:
//!
//! - 5 requests at once pass, and the 6th is rejected with `Retry-After: 12`;
//! - after that, one request passes every 12 s;
//! - so up to 9 can pass in the first minute (5 at t = 0, then at 12, 24, 36 and 48 s), and in
//!   general at most `2 × count − 1` within any span of one `period`;
//! - over longer spans the rate converges to `count` per `period`.
//!
//! For 1 per minute a second request 0.4 s after the first is rejected with `Retry-After: 60`.
//!
//! # Clients
//!
//! The client is [`client_ip`](crate::client_ip::client_ip): the TCP peer address, never a
//! header the client controls. `X-Forwarded-For` and `Forwarded` are ignored, so forged values
//! get no fresh quotas; behind a reverse proxy, an earlier layer that knows the proxy must
//! insert the real client as [`ClientIp`](crate::client_ip::ClientIp), or every user shares
//! the proxy's counters. The key is a parsed address ([`ClientKey`]): IPv4-mapped IPv6
//! addresses count as their IPv4 address, textual variants of one address are one key, and
//! IPv6 clients are grouped by their /64 (see [`Ipv6Prefix`]), because one host can rotate
//! through every address of its /64.
//!
//! A request without a client address (no [`PeerAddr`](crate::client_ip::PeerAddr) in its
//! extensions) is counted under one shared key, [`ClientKey::Unknown`], and logged at debug
//! level with a falling frequency. It is never answered with a 500.
//!
//! The layer reads the client with [`client_ip`](crate::client_ip::client_ip), like sessions
//! and the audit trail, so all three see the same client.
//!
//! # Memory
//!
//! Each client seen keeps one counter per quota it was counted against, until
//! [`RateLimitLayer::retain_recent`] drops those whose quotas are full again. Call it
//! periodically, for example once a minute; without it, a flood of distinct addresses grows
//! memory without bound.
//!
//! ```
//! use std::time::Duration;
//!
//! use amoskys_auth::config::RateLimitConfig;
//! use amoskys_auth::rate_limit::RateLimitLayer;
//!
//! fn spawn_cleanup(layer: RateLimitLayer) {
//!     tokio::spawn(async move {
//!         let mut tick = tokio::time::interval(Duration::from_secs(60));
//!         loop {
//!             tick.tick().await;
//!             layer.retain_recent();
//!         }
//!     });
//! }
//!
//! # fn main() -> Result<(), amoskys_auth::config::ConfigError> {
//! let layer = RateLimitLayer::new(&RateLimitConfig::default())?;
//! // Inside a Tokio runtime: spawn_cleanup(layer.clone());
//! # let _ = spawn_cleanup;
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! # Logging
//!
//! Rejections are logged at debug level with the route and the client address, passes at
//! trace level.

mod future;
mod key;
mod layer;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod rules;
mod service;

#[cfg(test)]
mod tests;

pub use self::future::ResponseFuture;
pub use self::key::{ClientKey, Ipv6Prefix};
pub use self::layer::{CheckError, RateLimitLayer};
pub use self::memory::MemoryRateLimiter;
#[cfg(feature = "redis")]
pub use self::redis::{RedisCheckError, RedisRateLimiter};
pub use self::rules::{MAX_QUOTAS_PER_RULE, RuleId};
pub use self::service::RateLimit;

//! Rate limiting per client address and route, in process memory or in Redis.
//!
//! [`RateLimitLayer`] counts every request against quotas chosen by its route and responds
//! with `429 Too Many Requests` when one is exhausted, with `Retry-After`,
//! `Cache-Control: no-store` and the JSON body:
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
//! A request passes only if every quota of its rule admits it, and all quotas are decided in
//! one step: a rejected request counts against none of them, so a flood rejected by
//! 50 per hour does not drain 200 per day. The `Retry-After` of a 429 is the longest wait of
//! the quotas that rejected, rounded up to whole seconds and at least 1, so a client that
//! waits exactly that long passes every quota. A rule has at most [`MAX_QUOTAS_PER_RULE`]
//! quotas.
//!
//! # Quota model
//!
//! A quota of `count` per `period` is enforced with GCRA (the generic cell rate algorithm, as
//! in `governor`): a burst of `count` requests, refilled at one request per
//! `period / count`. It is not a fixed or sliding window. For 5 per minute this means:
//!
//! - 5 requests at once pass, and the 6th is rejected with `Retry-After: 12`;
//! - after that, one request passes every 12 s;
//! - so up to 9 can pass in the first minute (5 at t = 0, then at 12, 24, 36 and 48 s), and in
//!   general at most `2 × count − 1` within any span of one `period`;
//! - over longer spans the rate converges to `count` per `period`.
//!
//! For 1 per minute a second request 0.4 s after the first is rejected with `Retry-After: 60`.
//! Both backends follow this model; one test suite checks both against exact waits.
//!
//! # Backends
//!
//! With `storage_url` unset or `memory://`, counters live in process memory
//! ([`MemoryRateLimiter`]), so several processes behind a load balancer each admit the full
//! quota. With the `redis` feature and `RATE_LIMIT_STORAGE_URL=redis://...`, they live in
//! Redis (`RedisRateLimiter`) and every process shares them: each check is one atomic Lua
//! script that also sets the key's expiry, under the prefix `RATE_LIMIT_KEY_PREFIX`.
//!
//! When Redis cannot decide within
//! [`redis_timeout`](crate::config::RateLimitConfig::redis_timeout) (unreachable, hung,
//! failing), [`failure_mode`](crate::config::RateLimitConfig::failure_mode) applies. The
//! default, closed, responds with `503` and `error_code` `SERVICE_UNAVAILABLE`: an attacker who can
//! disrupt Redis must not gain unlimited password guesses. Open passes the request unlimited.
//! Failures are logged with the route, and the connection reconnects by itself.
//!
//! # Clients
//!
//! The client is [`client_ip`](crate::client_ip::client_ip): the TCP peer address, or the
//! [`ClientIp`](crate::client_ip::ClientIp) that [`ClientIpLayer`](crate::client_ip::ClientIpLayer)
//! resolved from a trusted proxy's forwarding header. Headers from other peers are ignored, so
//! forged values get no fresh quotas. The key is a parsed address ([`ClientKey`]):
//! IPv4-mapped IPv6 addresses count as their IPv4 address, textual variants of one address
//! are one key, and IPv6 clients are grouped by a prefix
//! ([`ipv6_prefix`](crate::config::RateLimitConfig::ipv6_prefix), /64 by default; see
//! [`Ipv6Prefix`]), because one host can rotate through every address of its /64.
//!
//! A request without a client address (no [`PeerAddr`](crate::client_ip::PeerAddr) in its
//! extensions) is counted under one shared key, [`ClientKey::Unknown`], and logged at debug
//! level with a falling frequency. It is never answered with a 500.
//!
//! Sessions and the audit trail read the client with the same function, so all three see the
//! same client.
//!
//! # Memory
//!
//! The in-memory backend keeps one record per (rule, client) pair until
//! [`RateLimitLayer::retain_recent`] drops those whose quotas are full again. Call it
//! periodically, for example once a minute ([`Auth::spawn_maintenance`](crate::Auth) does, in
//! one task for every limiter). The map never holds more than
//! [`max_keys`](crate::config::RateLimitConfig::max_keys) records; when it is full, new
//! clients share an overflow record per rule, described at [`MemoryRateLimiter`]. Redis keys
//! expire by themselves.
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
//! trace level, backend failures at error level.

mod future;
mod key;
mod layer;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod rules;
mod service;

#[cfg(test)]
pub(crate) mod tests;

pub use self::future::ResponseFuture;
pub use self::key::{ClientKey, Ipv6Prefix};
pub use self::layer::{CheckError, RateLimitLayer};
pub use self::memory::MemoryRateLimiter;
#[cfg(feature = "redis")]
pub use self::redis::{RedisCheckError, RedisRateLimiter};
pub use self::rules::{Exceeded, MAX_QUOTAS_PER_RULE, RuleId};
pub use self::service::RateLimit;

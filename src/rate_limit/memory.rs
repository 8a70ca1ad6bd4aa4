//! [`MemoryRateLimiter`]: the rules and counters, usable without HTTP.

use std::fmt;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use http::Method;

use super::key::ClientKey;
use crate::config::{ConfigError, RateLimitConfig, RateQuota};

type KeyedLimiter<C> =
    RateLimiter<ClientKey, DashMapStateStore<ClientKey>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The rule a request falls under, resolved once per request by
/// [`MemoryRateLimiter::rule_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(u32);

impl RuleId {
    /// The default rule, for every request that no route rule matches.
    pub const DEFAULT: Self = Self(u32::MAX);
}

/// One quota of a rule, with its counters.
struct QuotaLimiter<C: Clock> {
    quota: RateQuota,
    limiter: KeyedLimiter<C>,
}

/// A route rule with its counters.
struct RouteLimiter<C: Clock> {
    method: Option<Method>,
    path: Box<str>,
    quotas: Box<[QuotaLimiter<C>]>,
}

/// The in-memory rate limiter: route rules, default quotas and one `governor` keyed limiter per
/// quota.
///
/// [`RateLimitLayer`](super::RateLimitLayer) wraps it for HTTP; use it directly to limit work
/// that does not arrive as a request. The module documentation describes the quota model.
/// State lives in this process only, so several processes behind a load balancer each count
/// separately.
///
/// Call [`MemoryRateLimiter::retain_recent`] periodically, for example once a minute: every
/// client address that was ever seen keeps an entry until then.
pub struct MemoryRateLimiter<C: Clock = DefaultClock> {
    enabled: bool,
    routes: Box<[RouteLimiter<C>]>,
    default_quotas: Box<[QuotaLimiter<C>]>,
}

impl MemoryRateLimiter<DefaultClock> {
    /// Builds the limiter from `config` with the process's monotonic clock.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when a quota has a period shorter than one nanosecond per
    /// request or longer than 584 years, a route has no quota or a path does not start with `/`, or `storage_url` names a store
    /// other than `memory://`.
    pub fn new(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C> MemoryRateLimiter<C>
where
    C: Clock + Clone,
{
    /// Builds the limiter from `config` with `clock`, such as governor's `FakeRelativeClock` in
    /// tests.
    ///
    /// # Errors
    ///
    /// The same as [`MemoryRateLimiter::new`].
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Result<Self, ConfigError> {
        if let Some(url) = &config.storage_url
            && !url.starts_with("memory://")
        {
            return Err(ConfigError::Invalid {
                setting: "rate_limit.storage_url",
                reason: "the in-memory rate limiter cannot use an external store; \
                         leave storage_url unset or use memory://"
                    .to_owned(),
            });
        }
        if !config.enabled {
            return Ok(Self {
                enabled: false,
                routes: Box::default(),
                default_quotas: Box::default(),
            });
        }

        let default_quotas = build_quotas(&config.default_quotas, &clock)?;
        let mut routes = Vec::with_capacity(config.routes.len());
        for rule in &config.routes {
            if !rule.path.starts_with('/') {
                return Err(ConfigError::Invalid {
                    setting: "rate_limit.routes",
                    reason: format!("path {:?} must start with /", rule.path),
                });
            }
            if rule.quotas.is_empty() {
                return Err(ConfigError::Invalid {
                    setting: "rate_limit.routes",
                    reason: format!("route {:?} has no quota", rule.path),
                });
            }
            routes.push(RouteLimiter {
                method: rule.method.clone(),
                path: rule.path.as_str().into(),
                quotas: build_quotas(&rule.quotas, &clock)?,
            });
        }
        if u32::try_from(routes.len()).is_err() {
            return Err(ConfigError::Invalid {
                setting: "rate_limit.routes",
                reason: format!("{} route rules is more than u32::MAX", routes.len()),
            });
        }
        Ok(Self {
            enabled: true,
            routes: routes.into_boxed_slice(),
            default_quotas,
        })
    }
}

impl<C: Clock> MemoryRateLimiter<C> {
    /// Returns whether the limiter limits anything; `false` when the configuration disabled it.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Finds the rule of a request. That is the first route rule, in configuration order, whose
    /// path equals `path` byte for byte and whose method is unset or equals `method`. Without
    /// such a rule it returns [`RuleId::DEFAULT`].
    ///
    /// The comparison is exact: `/api/auth/login/` and `/api/auth/%6Cogin` do not match a rule
    /// for `/api/auth/login`. Such requests still count against the default quotas, which every
    /// unmatched path shares, so rewriting a path never yields fresh counters.
    pub fn rule_for(&self, method: &Method, path: &str) -> RuleId {
        let position = self.routes.iter().position(|rule| {
            *rule.path == *path && rule.method.as_ref().is_none_or(|only| only == method)
        });
        match position {
            // `with_clock` rejects more than u32::MAX rules, so the index fits.
            Some(index) => RuleId(index as u32),
            None => RuleId::DEFAULT,
        }
    }

    /// Returns the path of a route rule, or `None` for the default rule.
    pub fn rule_path(&self, rule: RuleId) -> Option<&str> {
        self.route(rule).map(|route| &*route.path)
    }

    /// Returns the quotas of `rule`, in the order they are checked.
    pub fn quotas(&self, rule: RuleId) -> impl Iterator<Item = RateQuota> + '_ {
        self.quota_limiters(rule).iter().map(|quota| quota.quota)
    }

    /// Counts one request of `key` under `rule`.
    ///
    /// Returns `Ok(())` when every quota of the rule admits the request, else the time after
    /// which a retry can pass the quota that rejected it. A [`RuleId`] from another limiter
    /// falls back to the default rule.
    ///
    /// # Errors
    ///
    /// The wait, when a quota rejects the request.
    pub fn check(&self, rule: RuleId, key: ClientKey) -> Result<(), Duration> {
        // NOTE: the quotas are separate governor limiters, so the check is not all-or-nothing.
        // When a later quota rejects, the earlier ones have already counted the request.
        // `with_clock` sorts the shortest period first, so what is counted in vain lands on
        // the quota that refills fastest, and the check stops at the first rejection so that
        // a flood of rejected requests does not drain the longer quotas. The wait is that
        // quota's, so a retry after it may still meet a later quota's rejection. An atomic
        // check of all quotas needs a store that updates them together.
        for quota in self.quota_limiters(rule) {
            if let Err(not_until) = quota.limiter.check_key(&key) {
                return Err(not_until.wait_time_from(quota.limiter.clock().now()));
            }
        }
        Ok(())
    }

    /// Drops the counters of clients whose quotas are full again, then shrinks the maps.
    ///
    /// A dropped client is indistinguishable from one never seen, so this changes no decision.
    /// Call it periodically, for example once a minute from a background task: without it,
    /// every distinct client address stays in memory, which a flood of addresses can exploit.
    /// It locks each map shard in turn, briefly delaying requests that hash to that shard.
    pub fn retain_recent(&self) {
        for quota in self.all_quota_limiters() {
            quota.limiter.retain_recent();
            quota.limiter.shrink_to_fit();
        }
    }

    /// Returns the number of counters held, one per client and quota it was counted against.
    pub fn key_count(&self) -> usize {
        self.all_quota_limiters()
            .map(|quota| quota.limiter.len())
            .sum()
    }

    fn route(&self, rule: RuleId) -> Option<&RouteLimiter<C>> {
        self.routes.get(rule.0 as usize)
    }

    fn quota_limiters(&self, rule: RuleId) -> &[QuotaLimiter<C>] {
        self.route(rule)
            .map_or(&self.default_quotas, |route| &route.quotas)
    }

    fn all_quota_limiters(&self) -> impl Iterator<Item = &QuotaLimiter<C>> {
        self.routes
            .iter()
            .flat_map(|route| route.quotas.iter())
            .chain(self.default_quotas.iter())
    }
}

impl<C: Clock> fmt::Debug for MemoryRateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self
            .routes
            .iter()
            .map(|route| (route.method.as_ref(), &*route.path, route.quotas.len()))
            .collect();
        f.debug_struct("MemoryRateLimiter")
            .field("enabled", &self.enabled)
            .field("routes", &routes)
            .field("default_quotas", &self.default_quotas.len())
            .field("key_count", &self.key_count())
            .finish()
    }
}

/// Builds one keyed limiter per quota, shortest period first.
fn build_quotas<C: Clock + Clone>(
    quotas: &[RateQuota],
    clock: &C,
) -> Result<Box<[QuotaLimiter<C>]>, ConfigError> {
    let mut sorted = quotas.to_vec();
    sorted.sort_by_key(|quota| (quota.period, quota.count));
    sorted
        .into_iter()
        .map(|quota| {
            Ok(QuotaLimiter {
                quota,
                limiter: RateLimiter::dashmap_with_clock(governor_quota(quota)?, clock.clone()),
            })
        })
        .collect()
}

/// Converts a quota to GCRA parameters: a burst of `count`, then one request per
/// `period / count`.
///
/// The interval is rounded up to whole nanoseconds, so `count` intervals never add up to less
/// than `period` and no span of one `period` admits more than `2 × count − 1` requests.
fn governor_quota(quota: RateQuota) -> Result<Quota, ConfigError> {
    let period_nanos = quota.period.as_nanos();
    let count = u128::from(quota.count.get());
    if period_nanos < count {
        return Err(ConfigError::Invalid {
            setting: "rate_limit",
            reason: format!(
                "quota {quota} has a period shorter than one nanosecond per request; \
                 use a longer period or a smaller count"
            ),
        });
    }
    let interval =
        u64::try_from(period_nanos.div_ceil(count)).map_err(|_| ConfigError::Invalid {
            setting: "rate_limit",
            reason: format!("quota {quota} has a period longer than 584 years"),
        })?;
    let governor_quota = Quota::with_period(Duration::from_nanos(interval))
        .expect("the interval is at least one nanosecond");
    Ok(governor_quota.allow_burst(quota.count))
}

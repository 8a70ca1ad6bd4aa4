//! [`Rules`]: the route rules and default quotas, shared by every backend.

use std::fmt;
use std::time::Duration;

use http::Method;

use crate::config::{ConfigError, RateLimitConfig, RateQuota};

/// The largest number of quotas one rule may have. Both backends keep every quota of a
/// (rule, client) pair in one fixed-size record, so the record never allocates.
pub const MAX_QUOTAS_PER_RULE: usize = 4;

/// The rule a request falls under, resolved once per request by
/// [`MemoryRateLimiter::rule_for`](super::MemoryRateLimiter::rule_for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(pub(crate) u32);

impl RuleId {
    /// The default rule, for every request that no route rule matches.
    pub const DEFAULT: Self = Self(u32::MAX);
}

/// GCRA parameters of one quota in nanoseconds: one request per `interval`, and a request
/// passes while its theoretical arrival time is at most `tolerance` ahead of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    pub(crate) interval: u64,
    pub(crate) tolerance: u64,
}

impl Gcra {
    /// Converts a quota to GCRA parameters: a burst of `count`, then one request per
    /// `period / count`.
    ///
    /// The interval is rounded up to whole nanoseconds, so `count` intervals never add up to
    /// less than `period` and no span of one `period` admits more than `2 × count − 1`
    /// requests.
    pub(crate) fn new(quota: RateQuota) -> Result<Self, ConfigError> {
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
        let too_long = || ConfigError::Invalid {
            setting: "rate_limit",
            reason: format!("quota {quota} has a period longer than 584 years"),
        };
        let interval = u64::try_from(period_nanos.div_ceil(count)).map_err(|_| too_long())?;
        let tolerance = interval
            .checked_mul(u64::from(quota.count.get() - 1))
            .ok_or_else(too_long)?;
        Ok(Self {
            interval,
            tolerance,
        })
    }
}

/// One rule: where it applies and its quotas, shortest period first.
pub(crate) struct Rule {
    pub(crate) method: Option<Method>,
    /// The exact path, or empty for the default rule.
    pub(crate) path: Box<str>,
    pub(crate) quotas: Box<[RateQuota]>,
    pub(crate) gcra: Box<[Gcra]>,
}

impl Rule {
    fn new(method: Option<Method>, path: &str, quotas: &[RateQuota]) -> Result<Self, ConfigError> {
        if quotas.len() > MAX_QUOTAS_PER_RULE {
            return Err(ConfigError::Invalid {
                setting: "rate_limit.routes",
                reason: format!(
                    "a rule has {} quotas; at most {MAX_QUOTAS_PER_RULE} are supported",
                    quotas.len()
                ),
            });
        }
        let mut sorted = quotas.to_vec();
        sorted.sort_by_key(|quota| (quota.period, quota.count));
        let gcra = sorted
            .iter()
            .map(|quota| Gcra::new(*quota))
            .collect::<Result<Box<[_]>, _>>()?;
        Ok(Self {
            method,
            path: path.into(),
            quotas: sorted.into_boxed_slice(),
            gcra,
        })
    }
}

/// The route rules and the default rule of one limiter.
pub(crate) struct Rules {
    pub(crate) enabled: bool,
    pub(crate) routes: Box<[Rule]>,
    pub(crate) default: Rule,
}

impl Rules {
    /// Validates and builds the rules of `config`. The storage URL is not checked here.
    pub(crate) fn new(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        if !config.enabled {
            return Ok(Self {
                enabled: false,
                routes: Box::default(),
                default: Rule::new(None, "", &[])?,
            });
        }
        let default = Rule::new(None, "", &config.default_quotas)?;
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
            routes.push(Rule::new(rule.method.clone(), &rule.path, &rule.quotas)?);
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
            default,
        })
    }

    /// Finds the first route rule whose path equals `path` byte for byte and whose method is
    /// unset or equals `method`, else [`RuleId::DEFAULT`].
    pub(crate) fn rule_for(&self, method: &Method, path: &str) -> RuleId {
        let position = self.routes.iter().position(|rule| {
            *rule.path == *path && rule.method.as_ref().is_none_or(|only| only == method)
        });
        match position {
            // `new` rejects more than u32::MAX rules, so the index fits.
            Some(index) => RuleId(index as u32),
            None => RuleId::DEFAULT,
        }
    }

    /// Returns a rule; an id from another limiter falls back to the default rule.
    pub(crate) fn get(&self, rule: RuleId) -> &Rule {
        self.routes.get(rule.0 as usize).unwrap_or(&self.default)
    }

    /// Returns the path of a route rule, or `None` for the default rule.
    pub(crate) fn path(&self, rule: RuleId) -> Option<&str> {
        self.routes.get(rule.0 as usize).map(|route| &*route.path)
    }

    /// Returns the rejection of `rule` for a wait of `wait_nanos` by quota `index`.
    pub(crate) fn exceeded(&self, rule: RuleId, wait_nanos: u64, index: usize) -> Exceeded {
        let quotas = &self.get(rule).quotas;
        Exceeded {
            wait: Duration::from_nanos(wait_nanos),
            quota: quotas[index.min(quotas.len().saturating_sub(1))],
        }
    }

    /// Iterates over every rule, the default last, with its id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RuleId, &Rule)> {
        self.routes
            .iter()
            .enumerate()
            .map(|(index, rule)| (RuleId(index as u32), rule))
            .chain(std::iter::once((RuleId::DEFAULT, &self.default)))
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self
            .routes
            .iter()
            .map(|route| (route.method.as_ref(), &*route.path, route.quotas.len()))
            .collect();
        f.debug_struct("Rules")
            .field("enabled", &self.enabled)
            .field("routes", &routes)
            .field("default_quotas", &self.default.quotas.len())
            .finish()
    }
}

/// A rejection: how long until every quota of the rule admits a retry, and the quota that
/// needs the longest of those waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// The time until a retry passes every quota.
    pub wait: Duration,
    /// The quota that rejected with that wait.
    pub quota: RateQuota,
}

/// Decides one request against every quota of a rule, all or nothing.
///
/// `tats` holds the theoretical arrival time of each quota in nanoseconds on the limiter's
/// clock, where a value at or before `now` means the quota is full. The request passes only
/// if every quota admits it, and only then are all of them advanced; a rejected request
/// changes nothing. On rejection, returns the wait in nanoseconds after which every quota
/// admits a retry, and the index of the quota that needs it.
#[inline]
pub(crate) fn decide(gcra: &[Gcra], tats: &mut [u64], now: u64) -> Result<(), (u64, usize)> {
    let mut wait = 0;
    let mut rejecting = 0;
    for (index, (params, tat)) in gcra.iter().zip(tats.iter()).enumerate() {
        let earliest = tat.saturating_sub(params.tolerance);
        if now < earliest && earliest - now > wait {
            wait = earliest - now;
            rejecting = index;
        }
    }
    if wait > 0 {
        return Err((wait, rejecting));
    }
    for (params, tat) in gcra.iter().zip(tats.iter_mut()) {
        *tat = (*tat).max(now).saturating_add(params.interval);
    }
    Ok(())
}

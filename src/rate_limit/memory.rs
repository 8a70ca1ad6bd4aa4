//! [`MemoryRateLimiter`]: the rules and counters in process memory, usable without HTTP.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use governor::clock::{Clock, DefaultClock, Reference};
use http::Method;

use super::key::ClientKey;
use super::rules::{Exceeded, MAX_QUOTAS_PER_RULE, RuleId, Rules, decide};
use crate::config::{ConfigError, RateLimitConfig, RateQuota};

/// The theoretical arrival times of every quota of one (rule, client) pair, in nanoseconds
/// since the limiter was built. Unused slots stay 0.
type Tats = [u64; MAX_QUOTAS_PER_RULE];

/// The minimum time between two sweeps that a full map triggers: one second, in nanoseconds.
const FULL_SWEEP_SPACING_NANOS: u64 = 1_000_000_000;

/// The in-memory rate limiter: route rules, default quotas and one record per (rule, client)
/// pair that holds the state of all the rule's quotas.
///
/// [`RateLimitLayer`](super::RateLimitLayer) wraps it for HTTP; use it directly to limit work
/// that does not arrive as a request. The module documentation describes the quota model.
/// State lives in this process only, so several processes behind a load balancer each count
/// separately; the `redis` feature shares counters between them.
///
/// Each check locks one shard of a sharded map, decides every quota of the rule together and
/// allocates nothing when the pair already has a record.
///
/// # Memory
///
/// Call [`MemoryRateLimiter::retain_recent`] periodically, for example once a minute: every
/// pair keeps its record until then. The map holds at most [`RateLimitConfig::max_keys`]
/// records (threads inserting at the same instant may each add one more). When it is full, a new pair first triggers a sweep of
/// idle records (at most one per second); if the map is still full, the request is counted
/// against one overflow record per rule, shared by every client that found no room. A flood
/// of new addresses therefore throttles itself and other new clients, but never passes
/// unchecked, and clients that already have a record keep their own counters.
pub struct MemoryRateLimiter<C: Clock = DefaultClock> {
    rules: Rules,
    records: DashMap<(RuleId, ClientKey), Tats>,
    /// The number of records, kept beside the map so that a check need not lock every shard.
    record_count: AtomicUsize,
    max_keys: usize,
    /// One record per rule, in the order of [`Rules::iter`], for pairs that found the map full.
    overflow: Box<[Mutex<Tats>]>,
    last_full_sweep: AtomicU64,
    /// Requests counted against an overflow record, for rate-limited logging.
    overflow_requests: AtomicU64,
    clock: C,
    start: C::Instant,
}

impl MemoryRateLimiter<DefaultClock> {
    /// Builds the limiter from `config` with the process's monotonic clock.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when a quota has a period shorter than one nanosecond per
    /// request or longer than 584 years, a rule has more than
    /// [`MAX_QUOTAS_PER_RULE`](super::MAX_QUOTAS_PER_RULE) quotas, a route has no quota or a
    /// path does not start with `/`, `max_keys` is 0, or `storage_url` names a store other
    /// than `memory://`.
    pub fn new(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock> MemoryRateLimiter<C> {
    /// Builds the limiter from `config` with `clock`, such as governor's `FakeRelativeClock` in
    /// tests.
    ///
    /// # Errors
    ///
    /// The same as [`MemoryRateLimiter::new`].
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Result<Self, ConfigError> {
        if let Some(url) = &config.storage_url
            && !crate::config::has_scheme(url, "memory")
        {
            return Err(ConfigError::Invalid {
                setting: "rate_limit.storage_url",
                reason: "the in-memory rate limiter cannot use an external store; \
                         leave storage_url unset or use memory://"
                    .to_owned(),
            });
        }
        Self::from_rules(Rules::new(config)?, config.max_keys, clock)
    }

    pub(crate) fn from_rules(rules: Rules, max_keys: usize, clock: C) -> Result<Self, ConfigError> {
        if max_keys == 0 {
            return Err(ConfigError::Invalid {
                setting: "rate_limit.max_keys",
                reason: "must be at least 1".to_owned(),
            });
        }
        let overflow = rules.iter().map(|_| Mutex::new(Tats::default())).collect();
        let start = clock.now();
        Ok(Self {
            rules,
            records: DashMap::new(),
            record_count: AtomicUsize::new(0),
            max_keys,
            overflow,
            last_full_sweep: AtomicU64::new(0),
            overflow_requests: AtomicU64::new(0),
            clock,
            start,
        })
    }

    /// Returns whether the limiter limits anything; `false` when the configuration disabled it.
    pub fn is_enabled(&self) -> bool {
        self.rules.enabled
    }

    /// Finds the rule of a request. That is the first route rule, in configuration order, whose
    /// path equals `path` byte for byte and whose method is unset or equals `method`. Without
    /// such a rule it returns [`RuleId::DEFAULT`].
    ///
    /// The comparison is exact: `/api/auth/login/` and `/api/auth/%6Cogin` do not match a rule
    /// for `/api/auth/login`. Such requests still count against the default quotas, which every
    /// unmatched path shares, so rewriting a path never yields fresh counters.
    pub fn rule_for(&self, method: &Method, path: &str) -> RuleId {
        self.rules.rule_for(method, path)
    }

    /// Returns the path of a route rule, or `None` for the default rule.
    pub fn rule_path(&self, rule: RuleId) -> Option<&str> {
        self.rules.path(rule)
    }

    /// Returns the quotas of `rule`, shortest period first.
    pub fn quotas(&self, rule: RuleId) -> impl Iterator<Item = RateQuota> + '_ {
        self.rules.get(rule).quotas.iter().copied()
    }

    /// Counts one request of `key` under `rule`.
    ///
    /// Returns `Ok(())` when every quota of the rule admits the request, which then counts
    /// against all of them. Otherwise the request counts against none, and the error is the
    /// time after which every quota admits a retry. A [`RuleId`] from another limiter falls
    /// back to the default rule.
    ///
    /// # Errors
    ///
    /// The wait, when a quota rejects the request.
    pub fn check(&self, rule: RuleId, key: ClientKey) -> Result<(), Duration> {
        self.check_quotas(rule, key)
            .map_err(|exceeded| exceeded.wait)
    }

    /// Counts one request like [`MemoryRateLimiter::check`], and on rejection also names the
    /// quota that needs the longest wait.
    ///
    /// # Errors
    ///
    /// The rejection, when a quota rejects the request.
    pub fn check_quotas(&self, rule: RuleId, key: ClientKey) -> Result<(), Exceeded> {
        let gcra = &*self.rules.get(rule).gcra;
        if gcra.is_empty() {
            // Empty default quotas limit nothing; a record would only take memory.
            return Ok(());
        }
        let now = self.now_nanos();
        let outcome = match self.records.entry((rule, key)) {
            Entry::Occupied(mut record) => decide(gcra, record.get_mut(), now),
            Entry::Vacant(vacant) => {
                if self.record_count.load(Ordering::Relaxed) < self.max_keys {
                    let mut tats = Tats::default();
                    let outcome = decide(gcra, &mut tats, now);
                    vacant.insert(tats);
                    self.record_count.fetch_add(1, Ordering::Relaxed);
                    outcome
                } else {
                    drop(vacant);
                    return self.check_when_full(rule, key, now);
                }
            }
        };
        outcome.map_err(|(wait, index)| self.rules.exceeded(rule, wait, index))
    }

    /// Handles a new pair while the map is full: sweeps idle records if none was swept in the
    /// last second, then inserts the pair if that made room, else counts the request against
    /// the rule's overflow record.
    #[cold]
    fn check_when_full(&self, rule: RuleId, key: ClientKey, now: u64) -> Result<(), Exceeded> {
        let last = self.last_full_sweep.load(Ordering::Relaxed);
        if (now >= last.saturating_add(FULL_SWEEP_SPACING_NANOS) || last == 0)
            && self
                .last_full_sweep
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.retain_recent();
        }
        let gcra = &*self.rules.get(rule).gcra;
        if self.record_count.load(Ordering::Relaxed) < self.max_keys {
            let mut record = self.records.entry((rule, key)).or_insert_with(|| {
                self.record_count.fetch_add(1, Ordering::Relaxed);
                Tats::default()
            });
            return decide(gcra, record.value_mut(), now)
                .map_err(|(wait, index)| self.rules.exceeded(rule, wait, index));
        }
        let overflowed = self.overflow_requests.fetch_add(1, Ordering::Relaxed) + 1;
        // Logs the 1st, 2nd, 4th, 8th... such request, so a flood shows without a line each.
        if overflowed.is_power_of_two() {
            tracing::warn!(
                rule = self.rules.path(rule).unwrap_or("default"),
                max_keys = self.max_keys,
                overflowed,
                "rate-limit map is full; counting new clients against a shared overflow record"
            );
        }
        let index = self
            .rules
            .iter()
            .position(|(id, _)| id == rule)
            .unwrap_or(self.overflow.len() - 1);
        let mut tats = self.overflow[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        decide(gcra, &mut tats[..], now)
            .map_err(|(wait, index)| self.rules.exceeded(rule, wait, index))
    }

    /// Drops the records of pairs whose quotas are all full again, then shrinks the map.
    ///
    /// A dropped pair is indistinguishable from one never seen, so this changes no decision.
    /// Call it periodically, for example once a minute from a background task: without it,
    /// every distinct client address keeps a record until the map reaches `max_keys`. It locks
    /// each map shard in turn, briefly delaying requests that hash to that shard.
    pub fn retain_recent(&self) {
        let now = self.now_nanos();
        let removed = AtomicUsize::new(0);
        self.records.retain(|_, tats| {
            let busy = tats.iter().any(|tat| *tat > now);
            if !busy {
                removed.fetch_add(1, Ordering::Relaxed);
            }
            busy
        });
        self.record_count
            .fetch_sub(removed.into_inner(), Ordering::Relaxed);
        self.records.shrink_to_fit();
    }

    /// Returns the number of records held, one per (rule, client) pair seen since its quotas
    /// were last full.
    pub fn key_count(&self) -> usize {
        self.record_count.load(Ordering::Relaxed)
    }

    /// Returns the largest number of records the map holds.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        self.clock.now().duration_since(self.start).as_u64()
    }
}

impl<C: Clock> fmt::Debug for MemoryRateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("rules", &self.rules)
            .field("key_count", &self.key_count())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

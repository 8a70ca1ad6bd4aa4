//! [`RedisRateLimiter`]: the same rules and quota model, with counters in Redis so that every
//! process behind a load balancer shares them.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::OnceCell;

use super::key::ClientKey;
use super::rules::{Exceeded, RuleId, Rules};
use crate::config::{ConfigError, RateLimitConfig};

/// The check of every quota of one (rule, client) pair, run atomically inside Redis.
///
/// `KEYS[1]` is the pair's hash, with one field per quota holding its theoretical arrival time
/// (TAT) in microseconds. `ARGV[1]` is the current time in microseconds, or empty to use the
/// server's `TIME`. Then come triples of field name, emission interval and tolerance, both in
/// microseconds. The request passes only if every quota admits it; only then are all TATs
/// advanced, and the key's expiry is set in the same step to the time when every quota is
/// full again. A rejection changes no TAT but gives an expiry to a key found without one, and
/// a key of another type under the prefix is replaced. A stored TAT that is not a number,
/// is NaN, negative or infinite, or lies beyond `now + interval + tolerance` (where no
/// admission can put it) counts as absent, so a tampered value can neither lift the limit nor
/// make the expiry overflow. Returns `{0, 0}` on admission, else
/// the wait in microseconds (at least 1) and the 0-based index of the quota that needs it.
const CHECK_SCRIPT: &str = r"
local key = KEYS[1]
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'hash' and kind ~= 'none' then
  redis.call('DEL', key)
end
local count = (#ARGV - 1) / 3
local fields = {}
for i = 1, count do
  fields[i] = ARGV[3 * i - 1]
end
local stored = redis.call('HMGET', key, unpack(fields))
local wait = 0
local rejecting = 0
local next_tats = {}
local longest = 0
for i = 1, count do
  local interval = tonumber(ARGV[3 * i])
  local tolerance = tonumber(ARGV[3 * i + 1])
  local tat = tonumber(stored[i])
  if not tat or tat ~= tat or tat < 0 or tat > now + interval + tolerance then
    tat = now
  end
  if now < tat - tolerance and tat - tolerance - now > wait then
    wait = tat - tolerance - now
    rejecting = i - 1
  end
  next_tats[i] = math.max(tat, now) + interval
  longest = math.max(longest, tat - now)
end
if wait > 0 then
  if redis.call('PTTL', key) == -1 then
    redis.call('PEXPIRE', key, math.max(1, math.ceil(longest / 1000)))
  end
  return {math.ceil(wait), rejecting}
end
local pairs_to_set = {}
longest = 0
for i = 1, count do
  pairs_to_set[2 * i - 1] = fields[i]
  pairs_to_set[2 * i] = string.format('%.0f', next_tats[i])
  longest = math.max(longest, next_tats[i] - now)
end
redis.call('HSET', key, unpack(pairs_to_set))
redis.call('PEXPIRE', key, math.max(1, math.ceil(longest / 1000)))
return {0, 0}
";

/// The clock of the Redis limiter.
#[derive(Clone)]
enum TimeSource {
    /// The Redis server's `TIME`, one clock for every process.
    Server,
    /// A caller's clock, in microseconds.
    Explicit(Arc<dyn Fn() -> u64 + Send + Sync>),
}

/// The failure of a check against Redis: no connection, a timeout or an error reply.
#[derive(Debug, thiserror::Error)]
#[error("rate-limit check in Redis failed: {0}")]
pub struct RedisCheckError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// The Redis rate limiter: the rules of [`MemoryRateLimiter`](super::MemoryRateLimiter), with
/// counters in Redis.
///
/// Each check is one round trip: a Lua script (sent with `EVALSHA`, falling back to `EVAL`
/// when the server does not have it cached) that decides every quota of the rule at once and
/// sets the key's expiry in the same step, so no key ever stays without one. All quotas of a
/// (rule, client) pair live in one hash, so a check touches one key and works on Redis
/// Cluster.
///
/// Keys are `<prefix><rule>|<client>`. The rule is `<METHOD> <path>` for a rule limited to
/// one method, `* <path>` (a literal asterisk, then a space) for a rule on every method, as
/// the default login, signup and forgot-password rules are, and `default` for the quotas
/// shared by routes without a rule. The client is `v4:<address>`, `v6:<network>` (the
/// address with the bits past the IPv6 prefix cleared, such as `v6:2001:db8:aa:bb::` for
/// /64) or `unknown`:
///
/// ```
/// use amoskys_auth::config::RateLimitConfig;
/// use amoskys_auth::rate_limit::RateLimitLayer;
///
/// let config = RateLimitConfig {
///     storage_url: Some("redis://127.0.0.1:6379".to_owned()),
///     ..RateLimitConfig::default()
/// };
/// // No connection is made until the first check.
/// let layer = RateLimitLayer::new(&config)?;
/// let redis = layer.redis_limiter().expect("a redis:// URL selects Redis");
/// let login = layer.rule_for(&http::Method::POST, "/api/auth/login");
/// let client = layer.client_key(Some("192.0.2.1".parse()?));
/// assert_eq!(
///     redis.key_name(login, client),
///     "amoskys:rl:* /api/auth/login|v4:192.0.2.1"
/// );
/// let other = layer.rule_for(&http::Method::GET, "/api/things");
/// let client = layer.client_key(Some("2001:db8:aa:bb:1:2:3:4".parse()?));
/// assert_eq!(
///     redis.key_name(other, client),
///     "amoskys:rl:default|v6:2001:db8:aa:bb::"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The `*` is a glob character and the space splits shell words, so quote both when
/// scanning: `redis-cli --scan --pattern 'amoskys:rl:\* /api/auth/login|*'` lists the login
/// keys (`\*` matches the literal asterisk), and a shell loop should read keys one per line
/// (`while IFS= read -r key`) rather than split them on spaces.
///
/// The time is the Redis server's `TIME` by default, so processes with skewed clocks still
/// agree. TATs are kept in microseconds, so intervals are rounded up to whole microseconds
/// (nanoseconds in memory).
///
/// The connection is opened on the first check and multiplexed over every concurrent check;
/// after a failure it reconnects by itself. Connection and response timeouts come from
/// [`RateLimitConfig::redis_timeout`].
pub struct RedisRateLimiter {
    rules: Rules,
    client: Client,
    connection: OnceCell<ConnectionManager>,
    script: Script,
    prefix: Box<str>,
    timeout: Duration,
    time: TimeSource,
    /// Per rule, the key part and the quota arguments, in the order of [`Rules::iter`].
    rule_args: Box<[RuleArgs]>,
}

struct RuleArgs {
    id: RuleId,
    name: Box<str>,
    /// Field, interval and tolerance of each quota.
    quotas: Box<[(String, u64, u64)]>,
}

impl RedisRateLimiter {
    /// Builds the limiter from `config`, whose `storage_url` must be a `redis://` URL. No
    /// connection is made until the first check.
    ///
    /// # Errors
    ///
    /// The rule errors of [`MemoryRateLimiter::new`](super::MemoryRateLimiter::new), and
    /// [`ConfigError::Invalid`] when the URL is missing or invalid.
    pub fn new(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        let url = config.storage_url.as_deref().unwrap_or_default();
        let client = Client::open(url).map_err(|error| ConfigError::Invalid {
            setting: "rate_limit.storage_url",
            reason: format!("not a valid Redis URL ({:?})", error.kind()),
        })?;
        Self::from_parts(Rules::new(config)?, client, config)
    }

    pub(crate) fn from_parts(
        rules: Rules,
        client: Client,
        config: &RateLimitConfig,
    ) -> Result<Self, ConfigError> {
        let rule_args = rules
            .iter()
            .map(|(id, rule)| RuleArgs {
                id,
                name: rule_name(rule.method.as_ref(), &rule.path).into(),
                quotas: rule
                    .quotas
                    .iter()
                    .zip(rule.gcra.iter())
                    .map(|(quota, gcra)| {
                        let interval = gcra.interval.div_ceil(1_000);
                        let tolerance = interval * u64::from(quota.count.get() - 1);
                        let field = format!("{}/{}", quota.count, quota.period.as_micros());
                        (field, interval, tolerance)
                    })
                    .collect(),
            })
            .collect();
        Ok(Self {
            rules,
            client,
            connection: OnceCell::new(),
            script: Script::new(CHECK_SCRIPT),
            prefix: config.key_prefix.as_str().into(),
            timeout: config.redis_timeout,
            time: TimeSource::Server,
            rule_args,
        })
    }

    /// Takes the current time from `now_micros` instead of the Redis server, for tests with a
    /// manual clock. Every process sharing the keys must then use the same clock.
    #[must_use]
    pub fn with_time_source(
        mut self,
        now_micros: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Self {
        self.time = TimeSource::Explicit(Arc::new(now_micros));
        self
    }

    /// Returns the key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Returns the server's address, `host:port` (`[v6]:port` for IPv6) or a socket path,
    /// without user name or password, for logs.
    pub fn server(&self) -> String {
        match self.client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) if host.contains(':') => {
                format!("[{host}]:{port}")
            }
            addr => addr.to_string(),
        }
    }

    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Counts one request of `key` under `rule`, with the semantics of
    /// [`MemoryRateLimiter::check_quotas`](super::MemoryRateLimiter::check_quotas).
    ///
    /// # Errors
    ///
    /// [`RedisCheckError`] when Redis cannot be reached, the call times out or the script
    /// fails. The outer result is the decision.
    pub async fn check(
        &self,
        rule: RuleId,
        key: ClientKey,
    ) -> Result<Result<(), Exceeded>, RedisCheckError> {
        let args = self.args(rule);
        if args.quotas.is_empty() {
            // A rule without quotas limits nothing, so there is nothing to ask Redis.
            return Ok(Ok(()));
        }
        let mut invocation = self.script.key(self.redis_key(args, key));
        match &self.time {
            TimeSource::Server => invocation.arg(""),
            TimeSource::Explicit(now) => invocation.arg(now()),
        };
        for (field, interval, tolerance) in &*args.quotas {
            invocation.arg(field).arg(interval).arg(tolerance);
        }
        // One deadline for waiting on the connection and the script together: callers that
        // queue behind a connection attempt to a hung server must not add up their waits.
        let call = async {
            let mut connection = self.connection().await?;
            invocation
                .invoke_async::<(u64, usize)>(&mut connection)
                .await
                .map_err(|error| RedisCheckError(Box::new(error)))
        };
        let (wait_micros, index) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|elapsed| RedisCheckError(Box::new(elapsed)))??;
        Ok(match wait_micros {
            0 => Ok(()),
            wait => Err(self.rules.exceeded(rule, wait.saturating_mul(1_000), index)),
        })
    }

    /// Returns the Redis `CLIENT ID` of the connection the checks use, opening it if needed.
    ///
    /// # Errors
    ///
    /// [`RedisCheckError`] when Redis cannot be reached.
    pub async fn connection_id(&self) -> Result<u64, RedisCheckError> {
        let mut connection = self.connection().await?;
        let mut command = redis::cmd("CLIENT");
        command.arg("ID");
        let call = command.query_async::<u64>(&mut connection);
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|elapsed| RedisCheckError(Box::new(elapsed)))?
            .map_err(|error| RedisCheckError(Box::new(error)))
    }

    /// Returns the Redis key of `key` under `rule`.
    pub fn key_name(&self, rule: RuleId, key: ClientKey) -> String {
        self.redis_key(self.args(rule), key)
    }

    fn args(&self, rule: RuleId) -> &RuleArgs {
        self.rule_args
            .iter()
            .find(|args| args.id == rule)
            .unwrap_or_else(|| &self.rule_args[self.rule_args.len() - 1])
    }

    fn redis_key(&self, args: &RuleArgs, key: ClientKey) -> String {
        let mut name = String::with_capacity(self.prefix.len() + args.name.len() + 48);
        name.push_str(&self.prefix);
        name.push_str(&args.name);
        name.push('|');
        // Writing to a String cannot fail.
        let _ = match key {
            ClientKey::V4(ip) => write!(name, "v4:{ip}"),
            ClientKey::V6(ip) => write!(name, "v6:{ip}"),
            ClientKey::Unknown => write!(name, "unknown"),
        };
        name
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisCheckError> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(self.timeout);
                let open = ConnectionManager::new_with_config(self.client.clone(), config);
                tokio::time::timeout(self.timeout, open)
                    .await
                    .map_err(|elapsed| RedisCheckError(Box::new(elapsed)))?
                    .map_err(|error| RedisCheckError(Box::new(error)))
            })
            .await?;
        Ok(connection.clone())
    }
}

/// Names a rule inside keys: `METHOD path`, `* path` for every method, `default`.
fn rule_name(method: Option<&http::Method>, path: &str) -> String {
    if path.is_empty() {
        return "default".to_owned();
    }
    format!("{} {path}", method.map_or("*", http::Method::as_str))
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("rules", &self.rules)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connected", &self.connection.initialized())
            .finish_non_exhaustive()
    }
}

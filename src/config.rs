//! [`AuthConfig`]: every setting of the crate, with its default.
//!
//! [`AuthConfig::default`] is the production-safe configuration: Secure cookies, strict CSP,
//! email verification required. [`AuthConfig::development`] relaxes exactly what plain HTTP on
//! localhost needs. [`AuthConfig::from_env`] starts from one of the two (chosen by
//! `AMOSKYS_DEBUG`) and applies the environment variables listed there.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use http::Method;

pub use crate::config_env::redacted_url;
use crate::config_env::{EnvError, Lookup};

/// Lifetime of a session from login, in hours (`AMOSKYS_SESSION_LIFETIME_HOURS`): 24.
pub const DEFAULT_SESSION_LIFETIME_HOURS: u64 = 24;
/// Idle timeout of a session, in hours (`AMOSKYS_SESSION_IDLE_TIMEOUT_HOURS`): 2.
pub const DEFAULT_SESSION_IDLE_TIMEOUT_HOURS: u64 = 2;
/// Sessions kept per user; a new login evicts the oldest beyond it
/// (`AMOSKYS_SESSION_MAX_PER_USER`): 10.
pub const DEFAULT_SESSION_MAX_PER_USER: usize = 10;
/// Name of the session cookie: `amoskys_session`.
pub const DEFAULT_SESSION_COOKIE_NAME: &str = "amoskys_session";
/// `Max-Age` of the session cookie, in seconds: 86400 (24 hours).
pub const DEFAULT_SESSION_COOKIE_MAX_AGE_SECS: u64 = 86_400;
/// Minimum time between two writes of a session's `last_seen_at`, in seconds: 60.
pub const DEFAULT_SESSION_TOUCH_INTERVAL_SECS: u64 = 60;

/// `max-age` of `Strict-Transport-Security`, in seconds: 31536000 (one year).
pub const DEFAULT_HSTS_MAX_AGE_SECS: u64 = 31_536_000;
/// The default Content-Security-Policy. It allows inline scripts and styles and scripts from
/// `cdn.jsdelivr.net`, which pages built for it rely on; [`STRICT_CSP`] removes both.
pub const DEFAULT_CSP: &str = "default-src 'self'; \
script-src 'self' 'unsafe-inline' cdn.jsdelivr.net; \
style-src 'self' 'unsafe-inline'; \
img-src 'self' data: https:; \
connect-src 'self' ws: wss:; \
frame-ancestors 'none'; \
base-uri 'self'; \
form-action 'self'";
/// A stricter Content-Security-Policy for applications that serve no inline scripts or
/// styles and load nothing from other hosts: no `'unsafe-inline'`, no CDN, images and
/// connections only from the application itself. Set it as
/// [`HeadersConfig::content_security_policy`]; the default stays [`DEFAULT_CSP`] for
/// compatibility with pages written against it.
pub const STRICT_CSP: &str = "default-src 'self'; \
script-src 'self'; \
style-src 'self'; \
img-src 'self' data:; \
connect-src 'self'; \
object-src 'none'; \
frame-ancestors 'none'; \
base-uri 'self'; \
form-action 'self'";
/// The relaxed Content-Security-Policy of development mode: also allows `'unsafe-eval'` and
/// plain-HTTP connections, which dev servers with hot reload need.
pub const DEVELOPMENT_CSP: &str = "default-src 'self'; \
script-src 'self' 'unsafe-inline' 'unsafe-eval' cdn.jsdelivr.net; \
style-src 'self' 'unsafe-inline'; \
img-src 'self' data: https: http:; \
connect-src 'self' ws: wss: http: https:; \
frame-ancestors 'none'; \
base-uri 'self'; \
form-action 'self'";
/// `Referrer-Policy`: `strict-origin-when-cross-origin`.
pub const DEFAULT_REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// Failed logins that lock an email address: 5.
pub const DEFAULT_LOCKOUT_MAX_ATTEMPTS: u32 = 5;
/// How long a lock lasts, in minutes (`AMOSKYS_LOCKOUT_MINUTES`): 15.
pub const DEFAULT_LOCKOUT_MINUTES: u64 = 15;

/// Argon2id iterations (t): 3.
pub const DEFAULT_ARGON2_TIME_COST: u32 = 3;
/// Argon2id memory in KiB (m): 65536, that is 64 MiB.
pub const DEFAULT_ARGON2_MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id lanes (p): 4.
pub const DEFAULT_ARGON2_PARALLELISM: u32 = 4;
/// Argon2id output length in bytes: 32 (256 bits).
pub const DEFAULT_ARGON2_HASH_LEN: usize = 32;
/// Argon2id salt length in bytes: 16 (128 bits).
pub const DEFAULT_ARGON2_SALT_LEN: usize = 16;

/// Minimum password length, in characters: 8.
pub const DEFAULT_PASSWORD_MIN_CHARS: usize = 8;
/// Maximum password length, in bytes of UTF-8, checked before any hashing: 1024.
pub const DEFAULT_PASSWORD_MAX_BYTES: usize = 1024;

/// Lifetime of a password-reset token, in minutes: 60.
pub const DEFAULT_RESET_TOKEN_MINUTES: u64 = 60;
/// Lifetime of an email-verification token, in hours: 24.
pub const DEFAULT_VERIFY_TOKEN_HOURS: u64 = 24;

/// Largest accepted request body of the JSON API, in bytes: 16384.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;

/// A rate quota: at most `count` requests per `period`, enforced as GCRA with a burst of
/// `count` (see [`crate::rate_limit`] for the exact model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    /// Requests allowed per period.
    pub count: NonZeroU32,
    /// The period.
    pub period: Duration,
}

impl RateQuota {
    /// `count` requests per second.
    pub const fn per_second(count: NonZeroU32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }
    /// `count` requests per minute.
    pub const fn per_minute(count: NonZeroU32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }
    /// `count` requests per hour.
    pub const fn per_hour(count: NonZeroU32) -> Self {
        Self::new(count, Duration::from_secs(3600))
    }
    /// `count` requests per day.
    pub const fn per_day(count: NonZeroU32) -> Self {
        Self::new(count, Duration::from_secs(86_400))
    }
    /// `count` requests per `period`.
    pub const fn new(count: NonZeroU32, period: Duration) -> Self {
        Self { count, period }
    }
}

impl fmt::Display for RateQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {} s", self.count, self.period.as_secs())
    }
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("quota count must not be zero"),
    }
}

/// The rate limit of one route: a request passes only if every quota admits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// Only requests with this method; `None` matches every method.
    pub method: Option<Method>,
    /// The exact request path, such as `/api/auth/login`.
    pub path: String,
    /// The quotas, each counted per client address.
    pub quotas: Vec<RateQuota>,
}

impl RouteRule {
    /// Creates a rule for every method on `path`.
    pub fn new(path: impl Into<String>, quotas: Vec<RateQuota>) -> Self {
        Self {
            method: None,
            path: path.into(),
            quotas,
        }
    }
}

/// Rate-limit settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Whether requests are limited at all. Default: true.
    pub enabled: bool,
    /// Quotas of every route without its own rule, counted per client address across all such
    /// routes (so new paths cannot mint new quotas). Default: 200 per day and 50 per hour.
    pub default_quotas: Vec<RateQuota>,
    /// Route rules; a route's rule replaces the default quotas. Default: signup 10 per hour,
    /// login 5 per minute, forgot-password 1 per minute.
    pub routes: Vec<RouteRule>,
    /// The counter storage (`RATE_LIMIT_STORAGE_URL`): unset or `memory://` for process
    /// memory, `redis://` for Redis (needs the `redis` feature; TLS `rediss://` is not
    /// supported). The scheme is matched without regard to case. Default: `None`.
    pub storage_url: Option<String>,
    /// The IPv6 prefix length, in bits, by which clients are grouped
    /// (`AMOSKYS_RATE_LIMIT_IPV6_PREFIX`). Default: 64; 48, 56 and 128 are common choices.
    pub ipv6_prefix: u8,
    /// The largest number of (rule, client) records the in-memory backend holds
    /// (`AMOSKYS_RATE_LIMIT_MAX_KEYS`). When full, new clients share one overflow record per
    /// rule (see [`crate::rate_limit::MemoryRateLimiter`]). Default:
    /// [`DEFAULT_RATE_LIMIT_MAX_KEYS`].
    pub max_keys: usize,
    /// The prefix of every Redis key (`RATE_LIMIT_KEY_PREFIX`). Default: `amoskys:rl:`.
    pub key_prefix: String,
    /// The connection and response timeout of Redis calls (`AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS`),
    /// longer than zero and at most [`MAX_RATE_LIMIT_REDIS_TIMEOUT`]. Default: 250
    /// milliseconds.
    pub redis_timeout: Duration,
    /// The handling of requests when the Redis backend fails (`AMOSKYS_RATE_LIMIT_FAILURE_MODE`).
    /// Default: [`RateLimitFailureMode::Closed`].
    pub failure_mode: RateLimitFailureMode,
    /// Whether 429 responses carry the IETF draft `RateLimit-Policy` and `RateLimit` fields
    /// (`AMOSKYS_RATE_LIMIT_HEADERS`), with the same seconds as `Retry-After`. Passing
    /// responses carry none. Default: false.
    pub draft_headers: bool,
}

/// The default cap of in-memory rate-limit records: 1,000,000. Each record holds 32 bytes of
/// state plus its key and the map's overhead, so a full map takes an estimated 100 MB.
pub const DEFAULT_RATE_LIMIT_MAX_KEYS: usize = 1_000_000;

/// The longest accepted [`RateLimitConfig::redis_timeout`]: 60 seconds. A longer deadline
/// would let a hung Redis hold requests almost indefinitely.
pub const MAX_RATE_LIMIT_REDIS_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns whether `url` starts with `scheme://`, comparing the scheme without regard to case
/// as RFC 3986 requires.
pub(crate) fn has_scheme(url: &str, scheme: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(found, _)| found.eq_ignore_ascii_case(scheme))
}

/// The handling of a request whose Redis check failed or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitFailureMode {
    /// Reject the request with 503 `SERVICE_UNAVAILABLE`. An attacker who can disrupt Redis
    /// then gains no unlimited password guesses, at the cost of an outage while Redis is down.
    #[default]
    Closed,
    /// Pass the request unlimited, keeping the service up while Redis is down.
    ///
    /// # Security
    ///
    /// Anyone who can make Redis unreachable (or slower than the timeout) lifts every limit,
    /// including the login limit that slows password guessing.
    Open,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_quotas: vec![RateQuota::per_day(nz(200)), RateQuota::per_hour(nz(50))],
            routes: vec![
                RouteRule::new("/api/auth/signup", vec![RateQuota::per_hour(nz(10))]),
                RouteRule::new("/api/auth/login", vec![RateQuota::per_minute(nz(5))]),
                RouteRule::new(
                    "/api/auth/forgot-password",
                    vec![RateQuota::per_minute(nz(1))],
                ),
            ],
            storage_url: None,
            ipv6_prefix: 64,
            max_keys: DEFAULT_RATE_LIMIT_MAX_KEYS,
            key_prefix: "amoskys:rl:".to_owned(),
            redis_timeout: Duration::from_millis(250),
            failure_mode: RateLimitFailureMode::Closed,
            draft_headers: false,
        }
    }
}

/// The `X-XSS-Protection` header to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XssProtection {
    /// `1; mode=block`, the default, kept for compatibility. Modern browsers ignore it,
    /// and in old ones the filter itself could be abused to leak data.
    #[default]
    Block,
    /// `0`, which OWASP now recommends: it switches the legacy filter off.
    Disable,
    /// Send no `X-XSS-Protection` header.
    Omit,
}

/// Security-header settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadersConfig {
    /// `Strict-Transport-Security` max-age in seconds; sent only on HTTPS requests.
    /// Default: [`DEFAULT_HSTS_MAX_AGE_SECS`].
    pub hsts_max_age_secs: u64,
    /// Adds `includeSubDomains` to HSTS. Default: false.
    pub hsts_include_subdomains: bool,
    /// Adds `preload` to HSTS. Default: false.
    pub hsts_preload: bool,
    /// Treat every request as HTTPS, for deployments behind a TLS-terminating proxy
    /// (`AMOSKYS_ASSUME_HTTPS`). Default: false.
    pub assume_https: bool,
    /// Redirect plain-HTTP requests to HTTPS with 308 (`FORCE_HTTPS`). Default: false.
    pub force_https: bool,
    /// `Content-Security-Policy`. Default: [`DEFAULT_CSP`]; [`DEVELOPMENT_CSP`] in development.
    pub content_security_policy: String,
    /// `X-XSS-Protection`. Default: [`XssProtection::Block`].
    pub xss_protection: XssProtection,
    /// `X-Frame-Options`. Default: `DENY`.
    pub frame_options: String,
    /// `Referrer-Policy`. Default: [`DEFAULT_REFERRER_POLICY`].
    pub referrer_policy: String,
}

impl Default for HeadersConfig {
    fn default() -> Self {
        Self {
            hsts_max_age_secs: DEFAULT_HSTS_MAX_AGE_SECS,
            hsts_include_subdomains: false,
            hsts_preload: false,
            assume_https: false,
            force_https: false,
            content_security_policy: DEFAULT_CSP.to_owned(),
            xss_protection: XssProtection::Block,
            frame_options: "DENY".to_owned(),
            referrer_policy: DEFAULT_REFERRER_POLICY.to_owned(),
        }
    }
}

/// The `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`, the default.
    #[default]
    Lax,
    /// `SameSite=None`; requires `Secure`.
    None,
}

impl SameSite {
    /// Returns the attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// Session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Cookie name. Default: [`DEFAULT_SESSION_COOKIE_NAME`].
    pub cookie_name: String,
    /// Cookie `Path`. Default: `/`.
    pub cookie_path: String,
    /// Cookie `Domain`. Default: none (host-only cookie).
    pub cookie_domain: Option<String>,
    /// Cookie `Secure`. Default: true; false only in development.
    pub cookie_secure: bool,
    /// Cookie `SameSite`. Default: Lax.
    pub same_site: SameSite,
    /// Absolute lifetime. Default: 24 hours.
    pub lifetime: Duration,
    /// Idle timeout. Default: 2 hours.
    pub idle_timeout: Duration,
    /// Sessions per user. Default: 10.
    pub max_per_user: usize,
    /// Reject a session used from another client address than at login. Default: false.
    pub bind_ip: bool,
    /// Reject a session used with another `User-Agent` than at login. Default: false.
    pub bind_user_agent: bool,
    /// Minimum time between writes of `last_seen_at`. Default: 60 seconds.
    pub touch_interval: Duration,
    /// With `bind_ip`, IPv4 addresses match when they share this many leading bits.
    /// Default: 32, the exact address; 24 tolerates moves inside a /24.
    pub bind_ipv4_prefix: u8,
    /// With `bind_ip`, IPv6 addresses match when they share this many leading bits.
    /// Default: 64, one subnet, since hosts rotate their interface identifiers.
    pub bind_ipv6_prefix: u8,
    /// The reaction to a binding mismatch. Default: [`BindingMode::Enforce`].
    pub binding_mode: BindingMode,
}

/// The reaction to a session used from another address or `User-Agent` than at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindingMode {
    /// Revoke the session, treat the request as anonymous and record a `SESSION_REVOKED`
    /// event.
    #[default]
    Enforce,
    /// Keep the session and record a `SECURITY_ALERT` event, to measure false alarms before
    /// enforcing.
    LogOnly,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cookie_name: DEFAULT_SESSION_COOKIE_NAME.to_owned(),
            cookie_path: "/".to_owned(),
            cookie_domain: None,
            cookie_secure: true,
            same_site: SameSite::Lax,
            lifetime: Duration::from_secs(DEFAULT_SESSION_LIFETIME_HOURS * 3600),
            idle_timeout: Duration::from_secs(DEFAULT_SESSION_IDLE_TIMEOUT_HOURS * 3600),
            max_per_user: DEFAULT_SESSION_MAX_PER_USER,
            bind_ip: false,
            bind_user_agent: false,
            touch_interval: Duration::from_secs(DEFAULT_SESSION_TOUCH_INTERVAL_SECS),
            bind_ipv4_prefix: 32,
            bind_ipv6_prefix: 64,
            binding_mode: BindingMode::Enforce,
        }
    }
}

/// Argon2id parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    /// Iterations. Default: 3.
    pub time_cost: u32,
    /// Memory in KiB. Default: 65536.
    pub memory_kib: u32,
    /// Lanes, computed in parallel. Default: 4.
    pub parallelism: u32,
    /// Output length in bytes. Default: 32.
    pub hash_len: usize,
    /// Salt length in bytes. Default: 16.
    pub salt_len: usize,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            time_cost: DEFAULT_ARGON2_TIME_COST,
            memory_kib: DEFAULT_ARGON2_MEMORY_KIB,
            parallelism: DEFAULT_ARGON2_PARALLELISM,
            hash_len: DEFAULT_ARGON2_HASH_LEN,
            salt_len: DEFAULT_ARGON2_SALT_LEN,
        }
    }
}

/// Password policy and hashing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordConfig {
    /// Minimum length in characters. Default: 8.
    pub min_chars: usize,
    /// Maximum length in UTF-8 bytes, checked before hashing. Default: 1024.
    pub max_bytes: usize,
    /// Require an upper-case letter. Default: true.
    pub require_uppercase: bool,
    /// Require a lower-case letter. Default: true.
    pub require_lowercase: bool,
    /// Require a digit. Default: true.
    pub require_digit: bool,
    /// Require a character that is neither a letter, a digit nor white space. Default: true.
    pub require_special: bool,
    /// Reject passwords of the bundled common-password list. Default: true.
    pub reject_common: bool,
    /// Argon2id parameters.
    pub argon2: Argon2Config,
    /// Hashes computed at once; each uses `argon2.memory_kib` of memory. Default: the
    /// number of CPUs the process may use.
    pub max_concurrent_hashes: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_chars: DEFAULT_PASSWORD_MIN_CHARS,
            max_bytes: DEFAULT_PASSWORD_MAX_BYTES,
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_special: true,
            reject_common: true,
            argon2: Argon2Config::default(),
            max_concurrent_hashes: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Account lockout settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Failed logins that lock an email address (`AMOSKYS_LOCKOUT_MAX_ATTEMPTS`). Default: 5.
    pub max_attempts: u32,
    /// How long a lock lasts (`AMOSKYS_LOCKOUT_MINUTES`). Default: 15 minutes.
    pub lock_duration: Duration,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_LOCKOUT_MAX_ATTEMPTS,
            lock_duration: Duration::from_secs(DEFAULT_LOCKOUT_MINUTES * 60),
        }
    }
}

/// Account-flow settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsConfig {
    /// Require a verified email address before login (`AMOSKYS_REQUIRE_EMAIL_VERIFICATION`).
    /// Default: true; false in development.
    pub require_email_verification: bool,
    /// Lifetime of password-reset tokens. Default: 60 minutes.
    pub reset_token_lifetime: Duration,
    /// Lifetime of email-verification tokens. Default: 24 hours.
    pub verify_token_lifetime: Duration,
    /// Base URL of links in emails, such as `https://app.example.com`
    /// (`AMOSKYS_PUBLIC_URL`). Default: `http://127.0.0.1:5000`.
    pub public_url: String,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            require_email_verification: true,
            reset_token_lifetime: Duration::from_secs(DEFAULT_RESET_TOKEN_MINUTES * 60),
            verify_token_lifetime: Duration::from_secs(DEFAULT_VERIFY_TOKEN_HOURS * 3600),
            public_url: "http://127.0.0.1:5000".to_owned(),
        }
    }
}

/// CSRF settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfConfig {
    /// Whether unsafe methods are checked. Default: true.
    pub enabled: bool,
    /// Origins besides the request's own that may send unsafe requests, such as
    /// `https://app.example.com` (`ALLOWED_ORIGINS`, comma-separated). Default: none.
    pub allowed_origins: Vec<String>,
}

impl Default for CsrfConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_origins: Vec::new(),
        }
    }
}

/// A secret string whose `Debug` form hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Client address resolution: which peers are reverse proxies whose forwarding headers count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIpConfig {
    /// Networks of trusted reverse proxies (`AMOSKYS_TRUSTED_PROXIES`, comma-separated CIDRs
    /// such as `10.0.0.0/8, ::1/128`). Forwarding headers and `X-Forwarded-Proto` are read only
    /// from these peers. Default: none, so the TCP peer is the client.
    pub trusted_proxies: Vec<crate::client_ip::IpNet>,
    /// The header the trusted proxies write (`AMOSKYS_FORWARDED_HEADER`:
    /// `x-forwarded-for` or `forwarded`). Default: `X-Forwarded-For`.
    pub forwarded_header: crate::client_ip::ForwardedHeader,
}

/// Every setting of the crate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Development mode (`AMOSKYS_DEBUG`): cookies without `Secure`, relaxed CSP, no email
    /// verification. Default: false.
    pub development: bool,
    /// Security headers.
    pub headers: HeadersConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// Client address resolution behind reverse proxies.
    pub client_ip: ClientIpConfig,
    /// Sessions.
    pub session: SessionConfig,
    /// Passwords.
    pub password: PasswordConfig,
    /// Lockout.
    pub lockout: LockoutConfig,
    /// Account flows.
    pub accounts: AccountsConfig,
    /// CSRF checks.
    pub csrf: CsrfConfig,
    /// API keys accepted by the API-key layer (`AMOSKYS_API_KEY`, comma-separated for
    /// rotation). Default: none, so every request to a key-protected route is rejected.
    pub api_keys: Vec<Secret>,
    /// Application secret (`SECRET_KEY`), at least 32 bytes when set. Default: none.
    pub secret_key: Option<Secret>,
    /// Database URL (`DATABASE_URL`). Default: none.
    pub database_url: Option<String>,
    /// Largest JSON request body in bytes. Default: [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            development: false,
            headers: HeadersConfig::default(),
            rate_limit: RateLimitConfig::default(),
            client_ip: ClientIpConfig::default(),
            session: SessionConfig::default(),
            password: PasswordConfig::default(),
            lockout: LockoutConfig::default(),
            accounts: AccountsConfig::default(),
            csrf: CsrfConfig::default(),
            api_keys: Vec::new(),
            secret_key: None,
            database_url: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl AuthConfig {
    /// Returns the production-safe defaults; the same as [`AuthConfig::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the development defaults: plain HTTP on localhost, cookies without `Secure`,
    /// the relaxed [`DEVELOPMENT_CSP`], no email verification.
    ///
    /// # Security
    ///
    /// Never serve real users with this configuration: session cookies then travel over plain
    /// HTTP and anyone can log in with an address they do not own.
    pub fn development() -> Self {
        let mut config = Self {
            development: true,
            ..Self::default()
        };
        config.session.cookie_secure = false;
        config.headers.content_security_policy = DEVELOPMENT_CSP.to_owned();
        config.accounts.require_email_verification = false;
        config
    }

    /// Reads the configuration from the process environment; see [`AuthConfig::from_lookup`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `lookup`, which returns a variable's value or `None`.
    ///
    /// Starts from [`AuthConfig::development`] when `AMOSKYS_DEBUG` is true, else from
    /// [`AuthConfig::default`], then applies: `FORCE_HTTPS`, `AMOSKYS_ASSUME_HTTPS`,
    /// `SECRET_KEY`, `DATABASE_URL`, `ALLOWED_ORIGINS`, `AMOSKYS_API_KEY`,
    /// `RATE_LIMIT_STORAGE_URL`, `AMOSKYS_SESSION_LIFETIME_HOURS`,
    /// `AMOSKYS_SESSION_IDLE_TIMEOUT_HOURS`, `AMOSKYS_SESSION_MAX_PER_USER`,
    /// `AMOSKYS_SESSION_BIND_IP`, `AMOSKYS_SESSION_BIND_UA`, `AMOSKYS_LOCKOUT_MAX_ATTEMPTS`,
    /// `AMOSKYS_LOCKOUT_MINUTES`, `AMOSKYS_REQUIRE_EMAIL_VERIFICATION` and
    /// `AMOSKYS_PUBLIC_URL`. Booleans accept `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    /// The result is checked with [`AuthConfig::validate`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Lookup::new(&lookup);
        let mut config = if env.bool("AMOSKYS_DEBUG")?.unwrap_or(false) {
            Self::development()
        } else {
            Self::default()
        };
        crate::config_env::apply(&env, &mut config)?;
        config.validate().map_err(|error| match error {
            // Name the variable the user set rather than the internal setting.
            ConfigError::Invalid { setting, reason } => {
                match crate::config_env::variable_of(setting)
                    .filter(|variable| lookup(variable).is_some())
                {
                    Some(variable) => ConfigError::InvalidEnv { variable, reason },
                    None => ConfigError::Invalid { setting, reason },
                }
            }
            other => other,
        })?;
        Ok(config)
    }

    /// Checks every setting, so that a mistake fails at start-up with a clear message rather
    /// than on the first request.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the setting and the problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::config_env::validate(self)
    }
}

/// An invalid configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable has a value that cannot be used.
    #[error("invalid value for environment variable {variable}: {reason}")]
    InvalidEnv {
        /// The variable's name.
        variable: &'static str,
        /// The problem and the expected form. Never contains the value of a secret.
        reason: String,
    },
    /// A setting has a value that cannot be used.
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        /// The setting's path, such as `session.cookie_path`.
        setting: &'static str,
        /// The problem and the expected form.
        reason: String,
    },
}

impl From<EnvError> for ConfigError {
    fn from(error: EnvError) -> Self {
        Self::InvalidEnv {
            variable: error.variable,
            reason: error.reason,
        }
    }
}

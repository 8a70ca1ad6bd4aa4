//! Reading [`AuthConfig`] from environment variables, and checking it.

use std::time::Duration;

use crate::client_ip::{ForwardedHeader, IpNet};
use crate::config::{
    AuthConfig, ConfigError, MAX_RATE_LIMIT_REDIS_TIMEOUT, RateLimitFailureMode, SameSite, Secret,
    SessionConfig, has_scheme,
};

/// A variable that could not be parsed.
#[derive(Debug)]
pub(crate) struct EnvError {
    pub(crate) variable: &'static str,
    pub(crate) reason: String,
}

/// Typed access to a variable lookup function.
pub(crate) struct Lookup<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// Returns the trimmed value, treating an empty value as unset.
    fn string(&self, variable: &'static str) -> Option<String> {
        (self.lookup)(variable)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    pub(crate) fn bool(&self, variable: &'static str) -> Result<Option<bool>, EnvError> {
        let Some(value) = self.string(variable) else {
            return Ok(None);
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(EnvError {
                variable,
                reason: format!("expected true or false, got {value:?}"),
            }),
        }
    }

    fn positive(&self, variable: &'static str) -> Result<Option<u64>, EnvError> {
        let Some(value) = self.string(variable) else {
            return Ok(None);
        };
        match value.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(EnvError {
                variable,
                reason: format!("expected a whole number greater than 0, got {value:?}"),
            }),
        }
    }

    fn hours(&self, variable: &'static str) -> Result<Option<Duration>, EnvError> {
        let Some(hours) = self.positive(variable)? else {
            return Ok(None);
        };
        // Bounded at 10 years, so adding the duration to a current timestamp cannot overflow.
        if hours > 24 * 365 * 10 {
            return Err(EnvError {
                variable,
                reason: format!("expected at most 87600 hours (10 years), got {hours}"),
            });
        }
        Ok(Some(Duration::from_secs(hours * 3600)))
    }
}

/// Applies every supported variable to `config`.
pub(crate) fn apply(env: &Lookup<'_>, config: &mut AuthConfig) -> Result<(), EnvError> {
    if let Some(force) = env.bool("FORCE_HTTPS")? {
        config.headers.force_https = force;
    }
    if let Some(assume) = env.bool("AMOSKYS_ASSUME_HTTPS")? {
        config.headers.assume_https = assume;
    }
    if let Some(key) = env.string("SECRET_KEY") {
        config.secret_key = Some(Secret::new(key));
    }
    if let Some(url) = env.string("DATABASE_URL") {
        config.database_url = Some(url);
    }
    if let Some(origins) = env.string("ALLOWED_ORIGINS") {
        config.csrf.allowed_origins = origins
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Some(keys) = (env.lookup)("AMOSKYS_API_KEY") {
        config.api_keys = parse_api_keys(&keys)?;
    }
    apply_rate_limit(env, config)?;
    if let Some(lifetime) = env.hours("AMOSKYS_SESSION_LIFETIME_HOURS")? {
        config.session.lifetime = lifetime;
    }
    if let Some(idle) = env.hours("AMOSKYS_SESSION_IDLE_TIMEOUT_HOURS")? {
        config.session.idle_timeout = idle;
    }
    if let Some(max) = env.positive("AMOSKYS_SESSION_MAX_PER_USER")? {
        config.session.max_per_user = usize::try_from(max).unwrap_or(usize::MAX);
    }
    if let Some(bind) = env.bool("AMOSKYS_SESSION_BIND_IP")? {
        config.session.bind_ip = bind;
    }
    if let Some(bind) = env.bool("AMOSKYS_SESSION_BIND_UA")? {
        config.session.bind_user_agent = bind;
    }
    if let Some(max) = env.positive("AMOSKYS_LOCKOUT_MAX_ATTEMPTS")? {
        config.lockout.max_attempts = u32::try_from(max).map_err(|_| EnvError {
            variable: "AMOSKYS_LOCKOUT_MAX_ATTEMPTS",
            reason: format!("expected at most {}, got {max}", u32::MAX),
        })?;
    }
    if let Some(minutes) = env.positive("AMOSKYS_LOCKOUT_MINUTES")? {
        if minutes > 60 * 24 * 365 {
            return Err(EnvError {
                variable: "AMOSKYS_LOCKOUT_MINUTES",
                reason: format!("expected at most 525600 minutes (one year), got {minutes}"),
            });
        }
        config.lockout.lock_duration = Duration::from_secs(minutes * 60);
    }
    if let Some(require) = env.bool("AMOSKYS_REQUIRE_EMAIL_VERIFICATION")? {
        config.accounts.require_email_verification = require;
    }
    if let Some(url) = env.string("AMOSKYS_PUBLIC_URL") {
        config.accounts.public_url = url.trim_end_matches('/').to_owned();
    }
    Ok(())
}

/// Applies the rate-limit and client-address variables.
fn apply_rate_limit(env: &Lookup<'_>, config: &mut AuthConfig) -> Result<(), EnvError> {
    let limits = &mut config.rate_limit;
    if let Some(url) = env.string("RATE_LIMIT_STORAGE_URL") {
        limits.storage_url = Some(url);
    }
    if let Some(prefix) = env.string("RATE_LIMIT_KEY_PREFIX") {
        limits.key_prefix = prefix;
    }
    if let Some(bits) = env.positive("AMOSKYS_RATE_LIMIT_IPV6_PREFIX")? {
        limits.ipv6_prefix = u8::try_from(bits).map_err(|_| EnvError {
            variable: "AMOSKYS_RATE_LIMIT_IPV6_PREFIX",
            reason: ipv6_prefix_reason(bits),
        })?;
    }
    if let Some(max) = env.positive("AMOSKYS_RATE_LIMIT_MAX_KEYS")? {
        limits.max_keys = usize::try_from(max).unwrap_or(usize::MAX);
    }
    if let Some(millis) = env.positive("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS")? {
        limits.redis_timeout = Duration::from_millis(millis);
    }
    if let Some(mode) = env.string("AMOSKYS_RATE_LIMIT_FAILURE_MODE") {
        limits.failure_mode = match mode.to_ascii_lowercase().as_str() {
            "closed" => RateLimitFailureMode::Closed,
            "open" => RateLimitFailureMode::Open,
            _ => {
                return Err(EnvError {
                    variable: "AMOSKYS_RATE_LIMIT_FAILURE_MODE",
                    reason: format!("expected closed or open, got {mode:?}"),
                });
            }
        };
    }
    if let Some(on) = env.bool("AMOSKYS_RATE_LIMIT_HEADERS")? {
        limits.draft_headers = on;
    }
    if let Some(list) = env.string("AMOSKYS_TRUSTED_PROXIES") {
        let networks: Vec<IpNet> = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry.parse::<IpNet>().map_err(|reason| EnvError {
                    variable: "AMOSKYS_TRUSTED_PROXIES",
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        // Only separators probably means an unfilled template. To trust no proxy, leave the
        // variable unset or empty.
        if networks.is_empty() {
            return Err(EnvError {
                variable: "AMOSKYS_TRUSTED_PROXIES",
                reason: format!(
                    "{list:?} lists no network; leave the variable unset or empty to trust \
                     no proxy"
                ),
            });
        }
        config.client_ip.trusted_proxies = networks;
    }
    if let Some(header) = env.string("AMOSKYS_FORWARDED_HEADER") {
        config.client_ip.forwarded_header = match header.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            _ => {
                return Err(EnvError {
                    variable: "AMOSKYS_FORWARDED_HEADER",
                    reason: format!("expected x-forwarded-for or forwarded, got {header:?}"),
                });
            }
        };
    }
    Ok(())
}

/// Splits a comma-separated key list. An entry that is empty or only white space is an error,
/// because silently dropping it could leave no key at all while the operator believes one is set.
fn parse_api_keys(value: &str) -> Result<Vec<Secret>, EnvError> {
    value
        .split(',')
        .enumerate()
        .map(|(index, key)| {
            let key = key.trim();
            if key.is_empty() {
                Err(EnvError {
                    variable: "AMOSKYS_API_KEY",
                    reason: format!("key number {} is empty", index + 1),
                })
            } else {
                Ok(Secret::new(key))
            }
        })
        .collect()
}

/// The shortest API key accepted, in bytes: short keys can be guessed.
pub(crate) const MIN_API_KEY_BYTES: usize = 16;

/// Returns the environment variable behind a setting, for error messages after
/// [`apply`], so a user who set the variable reads its name.
pub(crate) fn variable_of(setting: &str) -> Option<&'static str> {
    let variable = match setting {
        "api_keys" => "AMOSKYS_API_KEY",
        "secret_key" => "SECRET_KEY",
        "csrf.allowed_origins" => "ALLOWED_ORIGINS",
        "accounts.public_url" => "AMOSKYS_PUBLIC_URL",
        "rate_limit.storage_url" => "RATE_LIMIT_STORAGE_URL",
        "rate_limit.ipv6_prefix" => "AMOSKYS_RATE_LIMIT_IPV6_PREFIX",
        "rate_limit.max_keys" => "AMOSKYS_RATE_LIMIT_MAX_KEYS",
        "rate_limit.key_prefix" => "RATE_LIMIT_KEY_PREFIX",
        "rate_limit.redis_timeout" => "AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS",
        "session.touch_interval" => "AMOSKYS_SESSION_IDLE_TIMEOUT_HOURS",
        _ => return None,
    };
    Some(variable)
}

/// Checks every setting of `config`.
pub(crate) fn validate(config: &AuthConfig) -> Result<(), ConfigError> {
    validate_session(&config.session)?;
    validate_headers(config)?;
    validate_rate_limit(config)?;
    validate_password(config)?;

    if config.lockout.max_attempts == 0 {
        return invalid("lockout.max_attempts", "must be at least 1");
    }
    if config.lockout.lock_duration.is_zero() {
        return invalid("lockout.lock_duration", "must be longer than zero");
    }
    for (index, key) in config.api_keys.iter().enumerate() {
        let key = key.expose();
        if key.trim().is_empty() {
            return invalid("api_keys", format!("key number {} is empty", index + 1));
        }
        if key.len() < MIN_API_KEY_BYTES {
            return invalid(
                "api_keys",
                format!(
                    "key number {} is shorter than {MIN_API_KEY_BYTES} bytes; use a random value \
                     such as 32 hex digits",
                    index + 1
                ),
            );
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return invalid(
                "api_keys",
                format!(
                    "key number {} must be printable ASCII without spaces",
                    index + 1
                ),
            );
        }
    }
    if let Some(secret) = &config.secret_key
        && secret.expose().len() < 32
    {
        return invalid("secret_key", "must be at least 32 bytes");
    }
    for origin in &config.csrf.allowed_origins {
        if !is_valid_origin(origin) {
            return invalid(
                "csrf.allowed_origins",
                format!(
                    "{origin:?} is not an origin of the form scheme://host[:port] without a path"
                ),
            );
        }
    }
    let url = &config.accounts.public_url;
    if !(url.starts_with("https://") || url.starts_with("http://")) || has_control(url) {
        return invalid(
            "accounts.public_url",
            format!("{url:?} must be an http:// or https:// URL"),
        );
    }
    if config.accounts.reset_token_lifetime.is_zero()
        || config.accounts.verify_token_lifetime.is_zero()
    {
        return invalid("accounts", "token lifetimes must be longer than zero");
    }
    if config.max_body_bytes < 1024 {
        return invalid("max_body_bytes", "must be at least 1024 bytes");
    }
    Ok(())
}

/// Checks the session settings on their own, for layers built without a whole config.
pub(crate) fn validate_session(session: &SessionConfig) -> Result<(), ConfigError> {
    let name_ok = !session.cookie_name.is_empty()
        && session
            .cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !name_ok {
        return invalid(
            "session.cookie_name",
            format!("{:?} is not a valid cookie name", session.cookie_name),
        );
    }
    if !session.cookie_path.starts_with('/') || !is_attribute_value(&session.cookie_path) {
        return invalid(
            "session.cookie_path",
            "must start with / and contain no ';', white space or control characters",
        );
    }
    if let Some(domain) = &session.cookie_domain {
        let domain_ok = !domain.is_empty()
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !domain_ok {
            return invalid(
                "session.cookie_domain",
                "must be a host name of letters, digits, '.' and '-'",
            );
        }
    }
    if session.same_site == SameSite::None && !session.cookie_secure {
        return invalid(
            "session.same_site",
            "SameSite=None requires cookie_secure, or browsers drop the cookie",
        );
    }
    if session.lifetime.is_zero() || session.idle_timeout.is_zero() {
        return invalid(
            "session",
            "lifetime and idle_timeout must be longer than zero",
        );
    }
    if session.max_per_user == 0 {
        return invalid("session.max_per_user", "must be at least 1");
    }
    if session.bind_ipv4_prefix > 32 || session.bind_ipv6_prefix > 128 {
        return invalid(
            "session.bind_ipv4_prefix",
            "IPv4 binding prefixes go up to 32 bits and IPv6 prefixes up to 128",
        );
    }
    if session.touch_interval >= session.idle_timeout {
        return invalid(
            "session.touch_interval",
            "must be shorter than session.idle_timeout, or active sessions would expire",
        );
    }
    Ok(())
}

fn validate_headers(config: &AuthConfig) -> Result<(), ConfigError> {
    let headers = &config.headers;
    for (setting, value) in [
        (
            "headers.content_security_policy",
            &headers.content_security_policy,
        ),
        ("headers.frame_options", &headers.frame_options),
        ("headers.referrer_policy", &headers.referrer_policy),
    ] {
        if value.is_empty() || has_control(value) || !value.is_ascii() {
            return invalid(
                setting,
                "must be non-empty printable ASCII without CR, LF or other control characters",
            );
        }
    }
    Ok(())
}

fn validate_rate_limit(config: &AuthConfig) -> Result<(), ConfigError> {
    let limits = &config.rate_limit;
    let all_quotas = limits
        .default_quotas
        .iter()
        .chain(limits.routes.iter().flat_map(|rule| rule.quotas.iter()));
    for quota in all_quotas {
        if quota.period.is_zero() {
            return invalid("rate_limit", format!("quota {quota} has a zero period"));
        }
    }
    for rule in &limits.routes {
        if !rule.path.starts_with('/') {
            return invalid(
                "rate_limit.routes",
                format!("path {:?} must start with /", rule.path),
            );
        }
        if rule.quotas.is_empty() {
            return invalid(
                "rate_limit.routes",
                format!("route {:?} has no quota", rule.path),
            );
        }
    }
    if limits.ipv6_prefix == 0 || limits.ipv6_prefix > 128 {
        return invalid(
            "rate_limit.ipv6_prefix",
            ipv6_prefix_reason(limits.ipv6_prefix.into()),
        );
    }
    if limits.max_keys == 0 {
        return invalid("rate_limit.max_keys", "must be at least 1");
    }
    if limits.redis_timeout.is_zero() || limits.redis_timeout > MAX_RATE_LIMIT_REDIS_TIMEOUT {
        return invalid(
            "rate_limit.redis_timeout",
            format!(
                "{} ms is outside 1..={} ms",
                limits.redis_timeout.as_millis(),
                MAX_RATE_LIMIT_REDIS_TIMEOUT.as_millis()
            ),
        );
    }
    if let Some(url) = &limits.storage_url {
        let redis = has_scheme(url, "redis");
        if redis && cfg!(feature = "redis") {
            #[cfg(feature = "redis")]
            if let Err(error) = redis::Client::open(url.as_str()) {
                return invalid(
                    "rate_limit.storage_url",
                    format!(
                        "{:?} is not a valid Redis URL ({:?})",
                        redacted_url(url),
                        error.kind()
                    ),
                );
            }
            if limits.key_prefix.is_empty() {
                return invalid(
                    "rate_limit.key_prefix",
                    "must not be empty, so rate-limit keys cannot collide with other data",
                );
            }
        } else if !has_scheme(url, "memory") {
            let supported = if cfg!(feature = "redis") {
                "memory:// or redis://"
            } else {
                "memory://; redis:// needs the redis feature"
            };
            return invalid(
                "rate_limit.storage_url",
                format!(
                    "unsupported storage {:?}: use {supported}",
                    redacted_url(url)
                ),
            );
        }
    }
    Ok(())
}

/// Returns why an IPv6 prefix length of `bits` is rejected, naming the value as given.
fn ipv6_prefix_reason(bits: u64) -> String {
    format!("{bits} is outside 1..=128; 64 is the usual value")
}

fn validate_password(config: &AuthConfig) -> Result<(), ConfigError> {
    let password = &config.password;
    if password.min_chars == 0 {
        return invalid("password.min_chars", "must be at least 1");
    }
    if password.max_bytes < password.min_chars || password.max_bytes > 4096 {
        return invalid(
            "password.max_bytes",
            "must be at least password.min_chars and at most 4096",
        );
    }
    if password.max_concurrent_hashes == 0 {
        return invalid("password.max_concurrent_hashes", "must be at least 1");
    }
    let argon2 = &password.argon2;
    if argon2::Params::new(
        argon2.memory_kib,
        argon2.time_cost,
        argon2.parallelism,
        Some(argon2.hash_len),
    )
    .is_err()
    {
        return invalid(
            "password.argon2",
            "parameters out of range for Argon2 (memory must be at least 8 KiB per lane, \
             time cost at least 1, hash length at least 4 bytes)",
        );
    }
    // The PHC string format limits salts to 8-48 bytes and outputs to 10-64 bytes.
    if !(8..=48).contains(&argon2.salt_len) {
        return invalid("password.argon2.salt_len", "must be 8 to 48 bytes");
    }
    if !(10..=64).contains(&argon2.hash_len) {
        return invalid("password.argon2.hash_len", "must be 10 to 64 bytes");
    }
    Ok(())
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        setting,
        reason: reason.into(),
    })
}

fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// Returns true for a valid cookie attribute value: visible ASCII except `;`, so it cannot add
/// or end attributes.
fn is_attribute_value(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_graphic() && b != b';')
}

/// Returns true for `scheme://host[:port]` with no path, query, user info or white space.
pub(crate) fn is_valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric());
    let host_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    scheme_ok && host_ok
}

/// Returns `url` with only its scheme, host, port and path, for logs and error messages: no
/// user name or password, and no query or fragment, where a PostgreSQL URL may carry
/// `password=` and other settings.
pub fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if scheme.is_empty() {
        rest.to_owned()
    } else {
        format!("{scheme}://{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from_vars(vars: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AuthConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_documented_values() {
        let config = AuthConfig::default();
        assert!(!config.development);
        assert!(config.session.cookie_secure);
        assert_eq!(config.session.cookie_name, "amoskys_session");
        assert_eq!(config.session.lifetime, Duration::from_secs(86_400));
        assert_eq!(config.session.idle_timeout, Duration::from_secs(7_200));
        assert_eq!(config.session.max_per_user, 10);
        assert!(!config.session.bind_ip);
        assert!(!config.session.bind_user_agent);
        assert_eq!(config.password.argon2.time_cost, 3);
        assert_eq!(config.password.argon2.memory_kib, 65_536);
        assert_eq!(config.password.argon2.parallelism, 4);
        assert_eq!(config.lockout.max_attempts, 5);
        assert!(config.api_keys.is_empty());
        assert!(config.accounts.require_email_verification);
        config.validate().unwrap();
    }

    #[test]
    fn empty_environment_gives_defaults() {
        assert_eq!(from_vars(&[]).unwrap(), AuthConfig::default());
    }

    #[test]
    fn debug_switch_selects_development() {
        let config = from_vars(&[("AMOSKYS_DEBUG", "true")]).unwrap();
        assert!(config.development);
        assert!(!config.session.cookie_secure);
        assert!(!config.accounts.require_email_verification);
    }

    #[test]
    fn session_variables_applied() {
        let config = from_vars(&[
            ("AMOSKYS_SESSION_LIFETIME_HOURS", "12"),
            ("AMOSKYS_SESSION_IDLE_TIMEOUT_HOURS", "1"),
            ("AMOSKYS_SESSION_MAX_PER_USER", "3"),
            ("AMOSKYS_SESSION_BIND_IP", "yes"),
            ("AMOSKYS_SESSION_BIND_UA", "1"),
        ])
        .unwrap();
        assert_eq!(config.session.lifetime, Duration::from_secs(12 * 3600));
        assert_eq!(config.session.idle_timeout, Duration::from_secs(3600));
        assert_eq!(config.session.max_per_user, 3);
        assert!(config.session.bind_ip);
        assert!(config.session.bind_user_agent);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (variable, value) in [
            ("AMOSKYS_SESSION_LIFETIME_HOURS", "0"),
            ("AMOSKYS_SESSION_LIFETIME_HOURS", "-1"),
            ("AMOSKYS_SESSION_MAX_PER_USER", "ten"),
            ("AMOSKYS_SESSION_BIND_IP", "maybe"),
            ("FORCE_HTTPS", "2"),
            ("AMOSKYS_LOCKOUT_MINUTES", "x"),
        ] {
            let error = from_vars(&[(variable, value)]).unwrap_err();
            match error {
                ConfigError::InvalidEnv { variable: name, .. } => assert_eq!(name, variable),
                other => panic!("expected InvalidEnv for {variable}, got {other:?}"),
            }
        }
    }

    #[test]
    fn api_keys_split_for_rotation() {
        let config =
            from_vars(&[("AMOSKYS_API_KEY", "old-key-0123456789, new-key-9876543210")]).unwrap();
        let keys: Vec<&str> = config.api_keys.iter().map(Secret::expose).collect();
        assert_eq!(keys, ["old-key-0123456789", "new-key-9876543210"]);
    }

    #[test]
    fn empty_api_key_entry_rejected() {
        for value in ["", " ", "a,,b", "key,"] {
            let error = from_vars(&[("AMOSKYS_API_KEY", value)]).unwrap_err();
            assert!(
                matches!(
                    error,
                    ConfigError::InvalidEnv {
                        variable: "AMOSKYS_API_KEY",
                        ..
                    }
                ),
                "{value:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn api_key_value_never_in_error() {
        let error = from_vars(&[("AMOSKYS_API_KEY", "secret value")]).unwrap_err();
        assert!(!error.to_string().contains("secret value"));
    }

    #[test]
    fn short_secret_key_rejected_naming_variable() {
        let error = from_vars(&[("SECRET_KEY", "short")]).unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::InvalidEnv {
                    variable: "SECRET_KEY",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.to_string().contains("short"));
    }

    #[test]
    fn short_api_key_rejected_naming_variable() {
        let error = from_vars(&[("AMOSKYS_API_KEY", "k")]).unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::InvalidEnv {
                    variable: "AMOSKYS_API_KEY",
                    ..
                }
            ),
            "{error:?}"
        );
        let config = AuthConfig {
            api_keys: vec![Secret::new("fifteen-bytes-x")],
            ..AuthConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                setting: "api_keys",
                ..
            })
        ));
    }

    #[test]
    fn invalid_setting_from_env_names_variable() {
        for (variable, value) in [
            ("ALLOWED_ORIGINS", "https://app.example.com/path"),
            ("AMOSKYS_PUBLIC_URL", "ftp://example.org"),
            ("RATE_LIMIT_STORAGE_URL", "memcached://127.0.0.1:11211"),
            ("AMOSKYS_RATE_LIMIT_IPV6_PREFIX", "129"),
        ] {
            let error = from_vars(&[(variable, value)]).unwrap_err();
            match error {
                ConfigError::InvalidEnv { variable: name, .. } => assert_eq!(name, variable),
                other => panic!("expected InvalidEnv for {variable}, got {other:?}"),
            }
        }
    }

    #[test]
    fn cookie_attribute_injection_rejected() {
        let mut config = AuthConfig::default();
        config.session.cookie_path = "/p; SameSite=None".into();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                setting: "session.cookie_path",
                ..
            })
        ));

        let mut config = AuthConfig::default();
        config.session.cookie_domain = Some("example.com\r\nX-Injected: 1".into());
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                setting: "session.cookie_domain",
                ..
            })
        ));
    }

    #[test]
    fn header_value_injection_rejected() {
        let mut config = AuthConfig::default();
        config.headers.content_security_policy =
            "default-src 'self'; report-uri /r\nX-Injected: 1".into();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                setting: "headers.content_security_policy",
                ..
            })
        ));
    }

    #[test]
    fn same_site_none_requires_secure() {
        let mut config = AuthConfig::development();
        config.session.same_site = SameSite::None;
        assert!(config.validate().is_err());
        config.session.cookie_secure = true;
        config.validate().unwrap();
    }

    #[test]
    fn allowed_origins_validated() {
        let config = from_vars(&[(
            "ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:3000",
        )])
        .unwrap();
        assert_eq!(
            config.csrf.allowed_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert!(from_vars(&[("ALLOWED_ORIGINS", "https://app.example.com/path")]).is_err());
        assert!(from_vars(&[("ALLOWED_ORIGINS", "app.example.com")]).is_err());
    }

    #[test]
    fn unsupported_rate_limit_storage_rejected_without_password() {
        let error = from_vars(&[(
            "RATE_LIMIT_STORAGE_URL",
            "memcached://user:hunter2@localhost:11211/0",
        )])
        .unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
        assert!(from_vars(&[("RATE_LIMIT_STORAGE_URL", "memory://")]).is_ok());

        let error = from_vars(&[(
            "RATE_LIMIT_STORAGE_URL",
            "memcached://localhost:11211/0?password=hunter2",
        )])
        .unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn redacted_url_keeps_only_scheme_host_and_path() {
        let cases = [
            (
                "postgres://app:hunter2@db:5432/auth",
                "postgres://db:5432/auth",
            ),
            (
                "postgres://db/auth?user=app&password=hunter2",
                "postgres://db/auth",
            ),
            (
                "redis://:hunter2@127.0.0.1:6379/0#x",
                "redis://127.0.0.1:6379/0",
            ),
            (
                "sqlite:///var/lib/app/auth.sqlite3",
                "sqlite:///var/lib/app/auth.sqlite3",
            ),
            ("user:hunter2@host", "host"),
        ];
        for (url, expected) in cases {
            assert_eq!(redacted_url(url), expected, "{url}");
        }
    }

    #[test]
    fn weak_argon2_parameters_rejected() {
        let mut config = AuthConfig::default();
        config.password.argon2.time_cost = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn touch_interval_must_be_shorter_than_idle_timeout() {
        let mut config = AuthConfig::default();
        config.session.touch_interval = config.session.idle_timeout;
        assert!(config.validate().is_err());
    }

    #[test]
    fn rate_limit_and_proxy_variables_applied() {
        let config = from_vars(&[
            ("RATE_LIMIT_KEY_PREFIX", "app:rl:"),
            ("AMOSKYS_RATE_LIMIT_IPV6_PREFIX", "56"),
            ("AMOSKYS_RATE_LIMIT_MAX_KEYS", "5000"),
            ("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS", "100"),
            ("AMOSKYS_RATE_LIMIT_FAILURE_MODE", "Open"),
            ("AMOSKYS_RATE_LIMIT_HEADERS", "true"),
            ("AMOSKYS_TRUSTED_PROXIES", "10.0.0.0/8, ::1 ,"),
            ("AMOSKYS_FORWARDED_HEADER", "forwarded"),
        ])
        .unwrap();
        let limits = &config.rate_limit;
        assert_eq!(limits.key_prefix, "app:rl:");
        assert_eq!(limits.ipv6_prefix, 56);
        assert_eq!(limits.max_keys, 5000);
        assert_eq!(limits.redis_timeout, Duration::from_millis(100));
        assert_eq!(limits.failure_mode, RateLimitFailureMode::Open);
        assert!(limits.draft_headers);
        assert_eq!(
            config.client_ip.trusted_proxies,
            vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
        );
        assert_eq!(
            config.client_ip.forwarded_header,
            ForwardedHeader::Forwarded
        );

        let defaults = from_vars(&[]).unwrap();
        assert_eq!(
            defaults.rate_limit.failure_mode,
            RateLimitFailureMode::Closed
        );
        assert!(defaults.client_ip.trusted_proxies.is_empty());
    }

    #[test]
    fn invalid_rate_limit_variables_named() {
        for (variable, value) in [
            ("AMOSKYS_RATE_LIMIT_FAILURE_MODE", "sometimes"),
            ("AMOSKYS_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("AMOSKYS_TRUSTED_PROXIES", "proxy.example.com"),
            ("AMOSKYS_TRUSTED_PROXIES", ",,,"),
            ("AMOSKYS_TRUSTED_PROXIES", " , "),
            ("AMOSKYS_FORWARDED_HEADER", "x-real-ip"),
            ("AMOSKYS_RATE_LIMIT_MAX_KEYS", "0"),
            ("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS", "-5"),
            ("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS", "0"),
            ("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS", "60001"),
            (
                "AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS",
                "18446744073709551615",
            ),
            ("AMOSKYS_RATE_LIMIT_IPV6_PREFIX", "0"),
            ("AMOSKYS_RATE_LIMIT_IPV6_PREFIX", "300"),
        ] {
            match from_vars(&[(variable, value)]).unwrap_err() {
                ConfigError::InvalidEnv { variable: name, .. } => assert_eq!(name, variable),
                other => panic!("expected InvalidEnv for {variable}={value}, got {other:?}"),
            }
        }
    }

    #[test]
    fn out_of_range_values_reported_as_given() {
        let error = from_vars(&[("AMOSKYS_RATE_LIMIT_IPV6_PREFIX", "300")]).unwrap_err();
        assert!(error.to_string().contains("300"), "{error}");
        let error = from_vars(&[("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS", "600000")]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS"),
            "{text}"
        );
        assert!(text.contains("60000"), "{text}");
        let config = from_vars(&[("AMOSKYS_RATE_LIMIT_REDIS_TIMEOUT_MS", "60000")]).unwrap();
        assert_eq!(config.rate_limit.redis_timeout, Duration::from_secs(60));
    }

    #[test]
    fn redis_timeout_bounded_in_code_config() {
        let mut config = AuthConfig::default();
        config.rate_limit.redis_timeout = Duration::from_secs(61);
        assert!(config.validate().is_err());
        config.rate_limit.redis_timeout = Duration::ZERO;
        assert!(config.validate().is_err());
        config.rate_limit.redis_timeout = crate::config::MAX_RATE_LIMIT_REDIS_TIMEOUT;
        assert!(config.validate().is_ok());
    }

    #[cfg(feature = "redis")]
    #[test]
    fn invalid_redis_url_names_variable() {
        for url in ["redis://[::1", "redis://:99999", "Redis://[::1"] {
            match from_vars(&[("RATE_LIMIT_STORAGE_URL", url)]).unwrap_err() {
                ConfigError::InvalidEnv { variable, .. } => {
                    assert_eq!(variable, "RATE_LIMIT_STORAGE_URL", "{url}");
                }
                other => panic!("expected InvalidEnv for {url}, got {other:?}"),
            }
        }
        let error = from_vars(&[("RATE_LIMIT_STORAGE_URL", "redis://:hunter2@[::1")]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn storage_scheme_case_insensitive() {
        for url in ["Redis://127.0.0.1:6379", "REDIS://127.0.0.1:6379"] {
            let config = from_vars(&[("RATE_LIMIT_STORAGE_URL", url)]).unwrap();
            let layer = crate::rate_limit::RateLimitLayer::new(&config.rate_limit).unwrap();
            assert!(layer.redis_limiter().is_some(), "{url}");
        }
        let config = from_vars(&[("RATE_LIMIT_STORAGE_URL", "Memory://")]).unwrap();
        let layer = crate::rate_limit::RateLimitLayer::new(&config.rate_limit).unwrap();
        assert!(layer.redis_limiter().is_none());
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_storage_accepted_with_feature() {
        let config = from_vars(&[("RATE_LIMIT_STORAGE_URL", "redis://127.0.0.1:6379")]).unwrap();
        assert_eq!(
            config.rate_limit.storage_url.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        let mut empty_prefix = config;
        empty_prefix.rate_limit.key_prefix.clear();
        assert!(empty_prefix.validate().is_err());
    }
}

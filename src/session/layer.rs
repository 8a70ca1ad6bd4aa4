//! [`SessionLayer`]: configuration and shared state of the session middleware.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::cookie::CookieFormat;
use super::service::Session;
use super::to_time;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{BindingMode, ConfigError, SessionConfig};
use crate::store::{AuditStore, SessionStore};

/// A [`Layer`] that resolves the session cookie of each request; see the
/// [module documentation](crate::session).
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

/// Stores, clock and settings that every request of one layer reads, behind one `Arc`.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) store: Arc<dyn SessionStore>,
    pub(super) audit: Option<Arc<dyn AuditStore>>,
    pub(super) clock: SharedClock,
    pub(super) cookie: CookieFormat,
    pub(super) idle_timeout: time::Duration,
    pub(super) touch_interval: time::Duration,
    pub(super) bind_ip: bool,
    pub(super) bind_user_agent: bool,
    pub(super) bind_ipv4_prefix: u8,
    pub(super) bind_ipv6_prefix: u8,
    pub(super) binding_mode: BindingMode,
}

impl SessionLayer {
    /// Creates the layer for `config`, reading and touching sessions in `store`, with the
    /// system clock and no audit store.
    ///
    /// Logs a warning when `config.cookie_secure` is false, because the cookie then travels
    /// over plain HTTP.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when `config` fails the checks of [`AuthConfig::validate`](crate::AuthConfig::validate),
    /// such as a cookie path or domain containing `;`, white space or control characters.
    pub fn new(config: &SessionConfig, store: Arc<dyn SessionStore>) -> Result<Self, ConfigError> {
        crate::config_env::validate_session(config)?;
        let cookie = CookieFormat::new(config).map_err(|error| ConfigError::Invalid {
            setting: "session",
            reason: format!("cookie name or attributes cannot form a header: {error}"),
        })?;
        if !config.cookie_secure {
            tracing::warn!(
                cookie = %config.cookie_name,
                "session cookie is sent without Secure, so it also travels over plain HTTP; \
                 use this only in development"
            );
        }
        let shared = Shared {
            store,
            audit: None,
            clock: Arc::new(SystemClock),
            cookie,
            idle_timeout: to_time(config.idle_timeout),
            touch_interval: to_time(config.touch_interval),
            bind_ip: config.bind_ip,
            bind_user_agent: config.bind_user_agent,
            bind_ipv4_prefix: config.bind_ipv4_prefix,
            bind_ipv6_prefix: config.bind_ipv6_prefix,
            binding_mode: config.binding_mode,
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Reads time from `clock` instead of the system clock, for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        Arc::make_mut(&mut self.shared).clock = clock;
        self
    }

    /// Appends a `SESSION_REVOKED` event to `audit` when a binding mismatch revokes a session.
    /// Default: no audit store, so mismatches are only logged.
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn AuditStore>) -> Self {
        Arc::make_mut(&mut self.shared).audit = Some(audit);
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = Session<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Session::new(inner, Arc::clone(&self.shared))
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("cookie", &self.cookie)
            .field("audit", &self.audit.is_some())
            .field("clock", &self.clock)
            .field("idle_timeout", &self.idle_timeout)
            .field("touch_interval", &self.touch_interval)
            .field("bind_ip", &self.bind_ip)
            .field("bind_user_agent", &self.bind_user_agent)
            .finish_non_exhaustive()
    }
}

//! [`Auth`]: every layer and the API built from one [`AuthConfig`].

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::accounts::{AuthService, Stores};
use crate::api::AuthApi;
use crate::api_key::ApiKeyLayer;
use crate::client_ip::{ClientIpLayer, ResolveClient};
use crate::clock::SharedClock;
use crate::config::{AuthConfig, ConfigError};
use crate::csrf::{Csrf, CsrfLayer};
use crate::headers::{SecurityHeaders, SecurityHeadersLayer};
use crate::mail::Mailer;
use crate::rate_limit::{RateLimit, RateLimitLayer};
use crate::session::{Session, SessionLayer};

/// The whole security system of one application: the account service, the request layers
/// and the JSON API, all built from one configuration and one set of stores.
///
/// # Examples
///
/// ```no_run
/// use amoskys_auth::{Auth, AuthConfig, accounts::Stores};
///
/// # fn main() -> Result<(), amoskys_auth::config::ConfigError> {
/// let auth = Auth::new(AuthConfig::from_env()?, Stores::memory())?;
/// // axum: Router::new().fallback_service(auth.api()).layer(auth.layer())
/// let _layer = auth.layer();
/// let _api = auth.api();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Auth {
    service: AuthService,
    layer: AuthLayer,
}

impl Auth {
    /// Builds the service and every layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the configuration is invalid.
    pub fn new(config: AuthConfig, stores: Stores) -> Result<Self, ConfigError> {
        let layer = AuthLayer::new(&config, &stores)?;
        let service = AuthService::new(config, stores)?;
        Ok(Self { service, layer })
    }

    /// Replaces the mailer of the account flows.
    #[must_use]
    pub fn with_mailer(mut self, mailer: impl Mailer) -> Self {
        self.service = self.service.with_mailer(mailer);
        self
    }

    /// Replaces the clock of the account flows and sessions, for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.layer.session = self.layer.session.with_clock(clock.clone());
        self.service = self.service.with_clock(clock);
        self
    }

    /// Returns the account service.
    pub fn service(&self) -> &AuthService {
        &self.service
    }

    /// Returns the JSON API, a service to mount under the layers of [`Auth::layer`].
    pub fn api(&self) -> AuthApi {
        AuthApi::new(self.service.clone())
    }

    /// Returns the stack of request layers: security headers, rate limits, CSRF checks and
    /// sessions, outermost first.
    pub fn layer(&self) -> AuthLayer {
        self.layer.clone()
    }

    /// Returns a layer that admits only requests with one of the configured API keys, for an
    /// application's own routes.
    pub fn api_key_layer(&self) -> ApiKeyLayer {
        ApiKeyLayer::new(&self.service.config().api_keys)
    }

    /// Purges expired sessions and tokens and drops idle rate-limit keys. Errors are logged.
    pub async fn run_maintenance(&self) {
        match self.service.purge_expired().await {
            Ok((sessions, tokens)) => {
                tracing::debug!(sessions, tokens, "expired sessions and tokens purged");
            }
            Err(error) => tracing::error!(error = %error, "purge of expired records failed"),
        }
        self.layer.rate_limit.retain_recent();
    }

    /// Spawns a task that first builds the dummy password hash ([`AuthService::warm_up`]),
    /// then runs [`Auth::run_maintenance`] every `period` until the returned handle is
    /// aborted.
    pub fn spawn_maintenance(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let auth = self.clone();
        tokio::spawn(async move {
            if let Err(error) = auth.service.warm_up().await {
                tracing::error!(error = %error, "dummy password hash not built at start-up");
            }
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                auth.run_maintenance().await;
            }
        })
    }
}

/// The request layers in their order: [`ClientIpLayer`] outermost, so that every other
/// layer, the API and the audit trail see the client behind trusted proxies; then
/// [`SecurityHeadersLayer`], so that every response, rejections included, carries the
/// headers; then [`RateLimitLayer`], [`CsrfLayer`] and [`SessionLayer`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    client_ip: ClientIpLayer,
    headers: SecurityHeadersLayer,
    rate_limit: RateLimitLayer,
    csrf: CsrfLayer,
    session: SessionLayer,
}

impl AuthLayer {
    /// Builds every layer from `config`, with sessions in `stores`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the configuration is invalid.
    pub fn new(config: &AuthConfig, stores: &Stores) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            client_ip: ClientIpLayer::new(&config.client_ip),
            headers: SecurityHeadersLayer::new(&config.headers)?,
            rate_limit: RateLimitLayer::new(&config.rate_limit)?,
            csrf: CsrfLayer::new(&config.csrf)?,
            session: SessionLayer::new(&config.session, Arc::clone(&stores.sessions))?
                .with_audit(Arc::clone(&stores.audit)),
        })
    }

    /// Returns the rate-limit layer, whose state the application may inspect or trim.
    pub fn rate_limit(&self) -> &RateLimitLayer {
        &self.rate_limit
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = ResolveClient<SecurityHeaders<RateLimit<Csrf<Session<S>>>>>;

    fn layer(&self, inner: S) -> Self::Service {
        let session = self.session.layer(inner);
        let csrf = self.csrf.layer(session);
        let rate_limit = self.rate_limit.layer(csrf);
        let headers = self.headers.layer(rate_limit);
        self.client_ip.layer(headers)
    }
}

#[cfg(test)]
mod tests;

//! Cross-site request forgery checks from `Sec-Fetch-Site`, `Origin` and `Referer`.
//!
//! [`CsrfLayer`] lets safe methods (GET, HEAD, OPTIONS, TRACE) through and checks every other
//! method, whether or not the request carries a session cookie. A forged login form needs no
//! cookie, so checking only requests with one would leave login CSRF open. The checks, in
//! order:
//!
//! 1. `Sec-Fetch-Site`, when present, decides on its own. `same-origin` and `none` pass.
//!    `same-site` and `cross-site` pass only when the request's origin is in
//!    [`CsrfConfig::allowed_origins`]. Any other value is rejected.
//! 2. Otherwise the origin from `Origin`, or from `Referer` when there is no `Origin`, must
//!    equal the request's `Host` (host compared case-insensitively, a missing port read as the
//!    scheme's default) or be in the allowed origins.
//! 3. A request with none of the three headers passes: browsers always send at least one of
//!    them on an unsafe request, and curl or server-to-server calls cannot carry a victim's
//!    cookies anyway.
//!
//! `Origin: null` (sandboxed frames, `data:` URLs, some redirects) is rejected unless the
//! literal `null` is one of the allowed origins. A header sent twice, or a value that is not a
//! valid origin or absolute URL, is rejected too. A rejection is
//! [`AuthError::CsrfFailed`](crate::AuthError::CsrfFailed): 403 with `CSRF_FAILED`.
//!
//! The `Host` comparison cannot see the scheme, so without `Sec-Fetch-Site` an `http://`
//! origin on the same host and port passes. A browser that sends `Sec-Fetch-Site` never
//! reports such a request as `same-origin`, because the schemes differ, so the gap remains only
//! with browsers that do not send it.
//!
//! [`CsrfConfig::allowed_origins`]: crate::config::CsrfConfig::allowed_origins

mod origin;
mod service;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use self::origin::AllowedOrigins;
use crate::config::{ConfigError, CsrfConfig};

pub use self::service::Csrf;
pub use crate::future::ResponseFuture;

/// The `Sec-Fetch-Site` request header, which browsers set to `same-origin`, `same-site`,
/// `cross-site` or `none`.
pub const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// A [`Layer`] that rejects unsafe requests sent from other sites.
///
/// # Examples
///
/// ```
/// use amoskys_auth::config::CsrfConfig;
/// use amoskys_auth::csrf::CsrfLayer;
///
/// let config = CsrfConfig {
///     allowed_origins: vec!["https://app.example.com".to_owned()],
///     ..CsrfConfig::default()
/// };
/// let layer = CsrfLayer::new(&config)?;
/// # let _ = layer;
/// # Ok::<(), amoskys_auth::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CsrfLayer {
    enabled: bool,
    allowed: Arc<AllowedOrigins>,
}

impl CsrfLayer {
    /// Parses the allowed origins of `config`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for an allowed origin that is neither `scheme://host[:port]`
    /// (no path) nor the literal `null`.
    pub fn new(config: &CsrfConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            enabled: config.enabled,
            allowed: Arc::new(AllowedOrigins::parse(&config.allowed_origins)?),
        })
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = Csrf<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Csrf {
            inner,
            enabled: self.enabled,
            allowed: Arc::clone(&self.allowed),
        }
    }
}

use std::sync::Arc;

use http::header::{
    CONTENT_SECURITY_POLICY, HeaderMap, HeaderName, HeaderValue, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use tower_layer::Layer;

use super::SecurityHeaders;
use crate::config::{ConfigError, HeadersConfig, XssProtection};

/// A [`Layer`] that adds the security headers to every response and, when configured, sends
/// plain-HTTP requests to HTTPS.
///
/// Every header value is checked and built once, in [`SecurityHeadersLayer::new`]; a request
/// only copies the prebuilt values into the response.
#[derive(Debug, Clone)]
pub struct SecurityHeadersLayer {
    pub(super) headers: Arc<HeaderSet>,
}

/// The prebuilt headers and the HTTPS settings, shared by every clone of the service.
#[derive(Debug)]
pub(crate) struct HeaderSet {
    /// Headers sent on every response.
    always: Vec<(HeaderName, HeaderValue)>,
    /// `Strict-Transport-Security`, sent only on responses to HTTPS requests.
    hsts: HeaderValue,
    pub(super) assume_https: bool,
    pub(super) force_https: bool,
}

impl HeaderSet {
    /// Adds every header that `headers` does not have yet, and HSTS when `https` is true.
    ///
    /// A header the handler already set is kept, so one route can send its own CSP or
    /// `X-Frame-Options`.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, https: bool) {
        // One growth of the map up front instead of one per threshold crossed while inserting.
        headers.reserve(self.always.len() + usize::from(https));
        for (name, value) in &self.always {
            headers.entry(name).or_insert_with(|| value.clone());
        }
        if https {
            headers
                .entry(STRICT_TRANSPORT_SECURITY)
                .or_insert_with(|| self.hsts.clone());
        }
    }
}

impl SecurityHeadersLayer {
    /// Checks `config` and builds every header value.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when the CSP, `X-Frame-Options` or `Referrer-Policy` value is
    /// empty, is not ASCII, or contains CR, LF or another control character. Such a value is
    /// rejected here rather than stripped, because a line break in a header value could split
    /// the response.
    pub fn new(config: &HeadersConfig) -> Result<Self, ConfigError> {
        let mut always = vec![(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))];
        always.push((
            X_FRAME_OPTIONS,
            header_value("headers.frame_options", &config.frame_options)?,
        ));
        match config.xss_protection {
            XssProtection::Block => {
                always.push((X_XSS_PROTECTION, HeaderValue::from_static("1; mode=block")));
            }
            XssProtection::Disable => {
                always.push((X_XSS_PROTECTION, HeaderValue::from_static("0")));
            }
            XssProtection::Omit => {}
        }
        always.push((
            CONTENT_SECURITY_POLICY,
            header_value(
                "headers.content_security_policy",
                &config.content_security_policy,
            )?,
        ));
        always.push((
            REFERRER_POLICY,
            header_value("headers.referrer_policy", &config.referrer_policy)?,
        ));

        let mut hsts = format!("max-age={}", config.hsts_max_age_secs);
        if config.hsts_include_subdomains {
            hsts.push_str("; includeSubDomains");
        }
        if config.hsts_preload {
            hsts.push_str("; preload");
        }
        let hsts = HeaderValue::try_from(hsts).map_err(|_| ConfigError::Invalid {
            setting: "headers.hsts_max_age_secs",
            reason: "cannot be written as a header value".to_owned(),
        })?;

        Ok(Self {
            headers: Arc::new(HeaderSet {
                always,
                hsts,
                assume_https: config.assume_https,
                force_https: config.force_https,
            }),
        })
    }
}

/// Builds a header value from configuration text: non-empty, ASCII, no control characters.
fn header_value(setting: &'static str, value: &str) -> Result<HeaderValue, ConfigError> {
    let printable = value.bytes().all(|b| (b' '..=b'~').contains(&b));
    if value.is_empty() || !printable {
        return Err(ConfigError::Invalid {
            setting,
            reason: format!(
                "{value:?} must be non-empty printable ASCII without CR, LF or other control \
                 characters"
            ),
        });
    }
    HeaderValue::from_str(value).map_err(|_| ConfigError::Invalid {
        setting,
        reason: format!("{value:?} is not a valid header value"),
    })
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            headers: Arc::clone(&self.headers),
        }
    }
}

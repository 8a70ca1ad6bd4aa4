//! Security headers on every response, and the optional redirect to HTTPS.
//!
//! [`SecurityHeadersLayer`] adds these headers to every response, including errors and 429s
//! from layers inside it:
//!
//! | header | value |
//! |---|---|
//! | `X-Content-Type-Options` | `nosniff` |
//! | `X-Frame-Options` | [`HeadersConfig::frame_options`], default `DENY` |
//! | `X-XSS-Protection` | per [`HeadersConfig::xss_protection`], default `1; mode=block` |
//! | `Content-Security-Policy` | [`HeadersConfig::content_security_policy`] |
//! | `Referrer-Policy` | [`HeadersConfig::referrer_policy`] |
//! | `Strict-Transport-Security` | `max-age=N[; includeSubDomains][; preload]`, HTTPS only |
//!
//! A header that the handler already set is kept, so one route can send its own
//! `Content-Security-Policy`.
//!
//! `Strict-Transport-Security` goes only on responses to HTTPS requests, because RFC 6797
//! (section 7.2) forbids sending it over plain HTTP. A request counts as HTTPS when its
//! extensions contain the [`Https`] marker or when [`HeadersConfig::assume_https`] is set.
//! The URI scheme does not count: an absolute-form HTTP/1.1 target or an HTTP/2 `:scheme`
//! is chosen by the client, so `GET https://host/ HTTP/1.1` over plain HTTP is plain HTTP. `X-Forwarded-Proto` counts only from a trusted
//! proxy, through [`ClientIpLayer`](crate::client_ip::ClientIpLayer), which then inserts
//! [`Https`]; from any other peer it is ignored.
//!
//! With [`HeadersConfig::force_https`], a plain-HTTP request gets a `308 Permanent Redirect`
//! to the same path on `https://`, with the security headers but without HSTS. When the
//! request has no valid `Host` (nor, without a `Host` header, an authority in its URI as
//! HTTP/2 sends it), no redirect target exists, so the response is
//! [`AuthError::HttpsRequired`](crate::AuthError::HttpsRequired) (403).
//!
//! # Examples
//!
//! ```
//! use amoskys_auth::config::HeadersConfig;
//! use amoskys_auth::headers::SecurityHeadersLayer;
//!
//! let layer = SecurityHeadersLayer::new(&HeadersConfig::default())?;
//! # let _ = layer;
//! # Ok::<(), amoskys_auth::config::ConfigError>(())
//! ```
//!
//! [`HeadersConfig::frame_options`]: crate::config::HeadersConfig::frame_options
//! [`HeadersConfig::xss_protection`]: crate::config::HeadersConfig::xss_protection
//! [`HeadersConfig::content_security_policy`]: crate::config::HeadersConfig::content_security_policy
//! [`HeadersConfig::referrer_policy`]: crate::config::HeadersConfig::referrer_policy
//! [`HeadersConfig::assume_https`]: crate::config::HeadersConfig::assume_https
//! [`HeadersConfig::force_https`]: crate::config::HeadersConfig::force_https

pub(crate) mod authority;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

use http::Request;

pub use self::future::ResponseFuture;
pub use self::layer::SecurityHeadersLayer;
pub use self::service::SecurityHeaders;

/// A request-extension marker for a request that arrived over TLS.
///
/// A server loop that terminates TLS itself inserts it into every request of a TLS
/// connection, as hyper and axum do not record the transport in the request:
///
/// ```
/// use amoskys_auth::headers::Https;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(Https);
/// assert!(amoskys_auth::headers::is_https(&request));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Https;

/// Returns true when `request` arrived over HTTPS, that is when its extensions contain
/// [`Https`], inserted by a server loop that terminates TLS or by
/// [`ClientIpLayer`](crate::client_ip::ClientIpLayer) for a trusted proxy's
/// `X-Forwarded-Proto: https`.
///
/// The URI scheme is never trusted: the client writes it, in an absolute-form HTTP/1.1
/// request target or in HTTP/2's `:scheme`, over any transport.
/// [`HeadersConfig::assume_https`] is not consulted here.
///
/// [`HeadersConfig::assume_https`]: crate::config::HeadersConfig::assume_https
pub fn is_https<B>(request: &Request<B>) -> bool {
    request.extensions().get::<Https>().is_some()
}

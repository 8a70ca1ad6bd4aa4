//! Server-side sessions carried by a cookie.
//!
//! [`SessionLayer`] reads the session cookie of each request, looks the SHA-256 digest of its
//! token up in a [`SessionStore`](crate::store::SessionStore) and, when the session is valid,
//! puts a [`CurrentSession`] into the request extensions. Handlers never see the token: the
//! store keeps only its digest, and handlers ask for cookies by putting a [`SessionCookie`]
//! into the response extensions, which the layer turns into a `Set-Cookie` header.
//!
//! A session is valid while all of these hold:
//!
//! - `expires_at` is after now (absolute lifetime, 24 hours by default);
//! - `last_seen_at` plus the idle timeout is after now (2 hours by default);
//! - with [`SessionConfig::bind_ip`], the client address is in the same network as at login
//!   (the exact IPv4 address and the same IPv6 /64 by default);
//! - with [`SessionConfig::bind_user_agent`], the `User-Agent` equals the one at login once
//!   digits are removed, so browser updates keep the session.
//!
//! `last_seen_at` is written only once [`SessionConfig::touch_interval`] (60 seconds by default)
//! has passed since the stored value, so activity keeps a session alive without a store write
//! on every request. Requests that arrive together at that moment may each write once. The
//! write only updates an existing record and never recreates a session that a concurrent
//! logout removed.
//!
//! An invalid session is revoked in the store when it is seen. A request whose cookie is
//! malformed, unknown or invalid continues as anonymous, and its response also clears the
//! cookie unless the handler issued a new one. A store failure while looking a session up
//! ends the request with `503 Service Unavailable` and the JSON error body, without calling
//! the inner service.
//!
//! # Binding
//!
//! IP and `User-Agent` binding are off by default, because a phone that moves from Wi-Fi to a
//! mobile network changes its address and would lose its session. The IPv4 and IPv6 prefixes
//! ([`SessionConfig::bind_ipv4_prefix`], [`SessionConfig::bind_ipv6_prefix`]) set how far a
//! client may move. A mismatch revokes the session, logs a warning and appends a
//! `SESSION_REVOKED` audit event when an audit store is set. With
//! [`BindingMode::LogOnly`](crate::config::BindingMode::LogOnly) the session stays valid and a
//! `SECURITY_ALERT` event is appended instead. IP binding compares
//! [`crate::client_ip::client_ip`], so behind a proxy it compares the client that
//! [`ClientIpLayer`](crate::client_ip::ClientIpLayer) resolved, not the proxy.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use amoskys_auth::config::SessionConfig;
//! use amoskys_auth::session::{CurrentSession, SessionLayer};
//! use amoskys_auth::store::memory::MemoryStore;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, service_fn};
//!
//! # fn main() -> Result<(), amoskys_auth::config::ConfigError> {
//! let store = Arc::new(MemoryStore::new());
//! let sessions = SessionLayer::new(&SessionConfig::default(), store)?;
//! let service = ServiceBuilder::new()
//!     .layer(sessions)
//!     .service(service_fn(|request: Request<String>| async move {
//!         let body = match request.extensions().get::<CurrentSession>() {
//!             Some(CurrentSession(session)) => format!("user {}", session.user_id),
//!             None => "anonymous".to_owned(),
//!         };
//!         Ok::<_, Infallible>(Response::new(body))
//!     }));
//! # let _ = service;
//! # Ok(())
//! # }
//! ```

mod cookie;
mod future;
mod layer;
mod service;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::truncate_user_agent;
use crate::config::SessionConfig;
use crate::store::SessionRecord;
use crate::token::SecretToken;

pub use self::future::ResponseFuture;
pub use self::layer::SessionLayer;
pub use self::service::Session;

/// The valid session of a request, inserted into the request extensions by [`Session`].
///
/// Its absence means the request is anonymous. `last_seen_at` already includes the touch of
/// this request, if it wrote one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentSession(pub SessionRecord);

/// A cookie request from a handler: insert one into the response extensions and [`Session`]
/// turns it into a `Set-Cookie` header, then removes it from the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCookie {
    /// Sets the session cookie to this token, after login. Its `Max-Age` is the session
    /// lifetime.
    Issue(SecretToken),
    /// Removes the session cookie, after logout, with the same `Path`, `Domain`, `Secure`,
    /// `HttpOnly` and `SameSite` as the issued cookie so that browsers overwrite it.
    Clear,
}

/// Creates a session for `user_id` at `now` with a new random token.
///
/// Returns the token, which only the client receives (through [`SessionCookie::Issue`]), and
/// the record to store with [`SessionStore::create_session`](crate::store::SessionStore):
/// a new v4 id, the token's SHA-256 digest, `last_seen_at = now`, `expires_at = now +
/// config.lifetime`, the client address, and the `User-Agent` truncated to
/// [`crate::audit::MAX_USER_AGENT_BYTES`].
///
/// # Errors
///
/// Returns the error of the operating system's random source.
pub fn new_session(
    user_id: Uuid,
    now: OffsetDateTime,
    config: &SessionConfig,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
) -> Result<(SecretToken, SessionRecord), getrandom::Error> {
    let token = SecretToken::generate()?;
    let record = SessionRecord {
        id: Uuid::new_v4(),
        token_digest: token.digest(),
        user_id,
        created_at: now,
        last_seen_at: now,
        expires_at: now.saturating_add(to_time(config.lifetime)),
        ip_address: ip,
        user_agent: user_agent.map(truncate_user_agent),
    };
    Ok((token, record))
}

/// Converts a configured duration, saturating at the largest `time::Duration`.
fn to_time(duration: std::time::Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

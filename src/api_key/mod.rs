//! API-key authentication from the `X-API-Key` header.
//!
//! [`ApiKeyLayer`] keeps only the SHA-256 digests of the configured keys and accepts a request
//! when it carries exactly one `X-API-Key` header whose digest equals one of them. Several
//! keys can be valid at once, so a key can be rotated without downtime. [`ApiKeyMatched`] in
//! the request extensions records which one matched.
//!
//! Everything else is rejected with
//! [`AuthError::InvalidApiKey`](crate::AuthError::InvalidApiKey) (401, `INVALID_API_KEY`): a
//! missing, empty, white-space-only, duplicated or wrong header, and every request when no key
//! is configured. A rejected request never reaches the inner service, so it cannot fall
//! through to another authentication scheme.
//!
//! # Examples
//!
//! ```
//! use amoskys_auth::api_key::ApiKeyLayer;
//! use amoskys_auth::config::Secret;
//!
//! let layer = ApiKeyLayer::new(&[Secret::new("old-key-1234"), Secret::new("new-key-5678")]);
//! assert_eq!(layer.key_count(), 2);
//! ```

mod layer;
mod service;
#[cfg(test)]
mod tests;

use http::HeaderName;

pub use self::layer::ApiKeyLayer;
pub use self::service::ApiKey;
pub use crate::future::ResponseFuture;

/// The `X-API-Key` request header. Header names are matched case-insensitively, so
/// `x-api-key` is the same header.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// A request extension that [`ApiKey`] inserts on success: the position of the matching key in
/// the list given to [`ApiKeyLayer::new`], so that key rotation can be monitored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyMatched {
    /// Zero-based position of the key that matched.
    pub index: usize,
}

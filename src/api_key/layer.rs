use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use http::HeaderMap;

use super::ApiKey;
use super::service::check;
use crate::config::Secret;
use crate::error::AuthError;
use crate::token::TokenDigest;

/// A [`Layer`] that admits only requests with a valid `X-API-Key` header.
///
/// Its `Debug` form shows the number of keys, never a key or a digest.
#[derive(Clone)]
pub struct ApiKeyLayer {
    digests: Arc<[TokenDigest]>,
}

impl ApiKeyLayer {
    /// Stores the SHA-256 digest of each key; the keys themselves are not kept.
    ///
    /// With no keys, the layer rejects every request and logs a warning here, once.
    ///
    /// A key that is empty or only white space can never match, because such headers are
    /// rejected before any comparison. It is still kept, so that
    /// [`ApiKeyMatched::index`](super::ApiKeyMatched) counts positions in `keys`, and a warning
    /// names its position.
    pub fn new(keys: &[Secret]) -> Self {
        if keys.is_empty() {
            tracing::warn!("API-key layer built without keys, so it rejects every request");
        }
        Self::without_empty_warning(keys)
    }

    /// Builds the layer like [`ApiKeyLayer::new`], without the warning for an empty key list,
    /// for callers that report that case in their own words.
    pub(crate) fn without_empty_warning(keys: &[Secret]) -> Self {
        for (index, key) in keys.iter().enumerate() {
            if is_blank(key.expose().as_bytes()) {
                tracing::warn!(index, "API key is empty or white space and can never match");
            }
        }
        Self {
            digests: keys
                .iter()
                .map(|key| TokenDigest::of(key.expose().as_bytes()))
                .collect(),
        }
    }

    /// Checks the `X-API-Key` header of `headers` the way the layer does, for services that
    /// protect only some of their routes. Returns the position of the matching key.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidApiKey`] when the header is missing, repeated, blank or wrong.
    pub fn verify(&self, headers: &HeaderMap) -> Result<usize, AuthError> {
        check(&self.digests, headers).map_err(|reason| {
            tracing::debug!(reason, "API key rejected");
            AuthError::InvalidApiKey
        })
    }

    /// Returns the number of configured keys.
    pub fn key_count(&self) -> usize {
        self.digests.len()
    }
}

/// Returns true for an empty value or one of white space only.
pub(super) fn is_blank(value: &[u8]) -> bool {
    value.iter().all(u8::is_ascii_whitespace)
}

impl fmt::Debug for ApiKeyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyLayer")
            .field("keys", &self.digests.len())
            .finish()
    }
}

impl<S> Layer<S> for ApiKeyLayer {
    type Service = ApiKey<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiKey {
            inner,
            digests: Arc::clone(&self.digests),
        }
    }
}

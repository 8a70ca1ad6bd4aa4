use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, CtOption};
use tower_service::Service;

use super::layer::is_blank;
use super::{ApiKeyMatched, X_API_KEY};
use crate::body::ResponseBody;
use crate::error::AuthError;
use crate::future::ResponseFuture;
use crate::token::TokenDigest;

/// The service built by [`ApiKeyLayer`](super::ApiKeyLayer).
///
/// Its `Debug` form shows the inner service and the number of keys, never a key or a digest.
#[derive(Clone)]
pub struct ApiKey<S> {
    pub(super) inner: S,
    pub(super) digests: Arc<[TokenDigest]>,
}

impl<S: fmt::Debug> fmt::Debug for ApiKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("inner", &self.inner)
            .field("keys", &self.digests.len())
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ApiKey<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match check(&self.digests, request.headers()) {
            Ok(index) => {
                tracing::trace!(index, "API key accepted");
                request.extensions_mut().insert(ApiKeyMatched { index });
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(reason) => {
                // The reason is a fixed text; the presented value is never logged.
                tracing::debug!(path = request.uri().path(), reason, "API key rejected");
                ResponseFuture::rejected(AuthError::InvalidApiKey.to_layer_response())
            }
        }
    }
}

/// Returns the position of the key that `headers` present, or why it was rejected.
pub(super) fn check(digests: &[TokenDigest], headers: &HeaderMap) -> Result<usize, &'static str> {
    let mut values = headers.get_all(X_API_KEY).iter();
    let value = values.next().ok_or("X-API-Key header missing")?;
    if values.next().is_some() {
        return Err("X-API-Key header sent more than once");
    }
    if is_blank(value.as_bytes()) {
        return Err("X-API-Key header empty");
    }
    find_digest(digests, &TokenDigest::of(value.as_bytes())).ok_or("X-API-Key does not match")
}

/// Returns the position of `presented` in `digests`.
///
/// Every digest is compared in constant time and the loop never exits early, so the time taken
/// reveals neither how much of a digest matched nor which key did. Comparing digests rather
/// than keys also hides the keys' lengths.
fn find_digest(digests: &[TokenDigest], presented: &TokenDigest) -> Option<usize> {
    let mut found = Choice::from(0);
    let mut position = 0u64;
    for (index, digest) in (0u64..).zip(digests.iter()) {
        let equal = digest.0.ct_eq(&presented.0);
        position.conditional_assign(&index, equal);
        found |= equal;
    }
    let position: Option<u64> = CtOption::new(position, found).into();
    position.and_then(|position| usize::try_from(position).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_digest_returns_matching_position() {
        let digests = [
            TokenDigest::of(b"a"),
            TokenDigest::of(b"b"),
            TokenDigest::of(b"a"),
        ];
        assert_eq!(find_digest(&digests, &TokenDigest::of(b"b")), Some(1));
        assert_eq!(find_digest(&digests, &TokenDigest::of(b"c")), None);
        assert_eq!(find_digest(&[], &TokenDigest::of(b"a")), None);
        // With a duplicate key, the last position wins; both belong to the same secret.
        assert_eq!(find_digest(&digests, &TokenDigest::of(b"a")), Some(2));
    }
}

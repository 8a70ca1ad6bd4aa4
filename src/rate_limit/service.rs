//! [`RateLimit`]: the service that [`RateLimitLayer`](super::RateLimitLayer) builds.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use governor::clock::{Clock, DefaultClock};
use http::{Request, Response};
use tower_service::Service;

use super::key::{ClientKey, Ipv6Prefix};
use super::layer::Shared;
use crate::body::ResponseBody;
use crate::client_ip::client_ip;
use crate::error::{AuthError, retry_after_secs};
use crate::future::ResponseFuture;

/// A service that counts each request against its client's quotas and responds with 429 and
/// the JSON error body when one is exhausted.
///
/// It reads the client address with [`client_ip`], as later layers and the audit trail do, so
/// all of them see the same client.
pub struct RateLimit<S, C: Clock = DefaultClock> {
    inner: S,
    shared: Arc<Shared<C>>,
    ipv6_prefix: Ipv6Prefix,
}

impl<S, C: Clock> RateLimit<S, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<C>>, ipv6_prefix: Ipv6Prefix) -> Self {
        Self {
            inner,
            shared,
            ipv6_prefix,
        }
    }

    /// Returns the wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns the wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Returns the wrapped service, dropping the limiter handle.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Returns the client address. It is not written back into the extensions: later layers
    /// derive the same address from the same extensions, and an insert would allocate on every
    /// request.
    fn resolve_client<B>(&self, request: &Request<B>) -> Option<IpAddr> {
        let ip = client_ip(request);
        if ip.is_none() {
            let seen = self
                .shared
                .unknown_client_requests
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            // Logs the 1st, 2nd, 4th, 8th... occurrence, so a misconfigured server is
            // visible without one line per request.
            if seen.is_power_of_two() {
                tracing::debug!(
                    requests_without_address = seen,
                    "request has no client address (no PeerAddr in its extensions); \
                     counting it under the shared unknown-client key"
                );
            }
        }
        ip
    }
}

impl<S: Clone, C: Clock> Clone for RateLimit<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            ipv6_prefix: self.ipv6_prefix,
        }
    }
}

impl<S: fmt::Debug, C: Clock> fmt::Debug for RateLimit<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.shared.limiter)
            .field("ipv6_prefix", &self.ipv6_prefix.bits())
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: Clock,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if !self.shared.limiter.is_enabled() {
            return ResponseFuture::inner(self.inner.call(request));
        }

        let ip = self.resolve_client(&request);
        let key = ClientKey::from_optional(ip, self.ipv6_prefix);
        let limiter = &self.shared.limiter;
        let rule = limiter.rule_for(request.method(), request.uri().path());

        match limiter.check(rule, key) {
            Ok(()) => {
                tracing::trace!(
                    path = request.uri().path(),
                    client = %ClientDisplay(ip),
                    "rate limit passed"
                );
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(wait) => {
                let retry_after_secs = retry_after_secs(wait);
                tracing::debug!(
                    method = %request.method(),
                    path = request.uri().path(),
                    rule = limiter.rule_path(rule).unwrap_or("default"),
                    client = %ClientDisplay(ip),
                    retry_after_secs,
                    "rate limit exceeded"
                );
                let error = AuthError::RateLimited { retry_after_secs };
                ResponseFuture::rejected(error.to_layer_response())
            }
        }
    }
}

/// Shows a client address in logs, or `unknown`.
struct ClientDisplay(Option<IpAddr>);

impl fmt::Display for ClientDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

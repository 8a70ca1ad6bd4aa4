//! [`RateLimit`]: the service that [`RateLimitLayer`](super::RateLimitLayer) builds.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use governor::clock::{Clock, DefaultClock};
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
#[cfg(feature = "redis")]
use super::future::Verdict;
use super::key::{ClientKey, Ipv6Prefix};
#[cfg(feature = "redis")]
use super::layer::CheckError;
use super::layer::{Backend, Shared};
use super::rules::{RuleId, Rules};
use crate::body::ResponseBody;
use crate::client_ip::client_ip;
#[cfg(feature = "redis")]
use crate::config::RateLimitFailureMode;
use crate::config::RateQuota;
use crate::error::{AuthError, retry_after_secs};

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
            .field("backend", &self.shared.backend)
            .field("ipv6_prefix", &self.ipv6_prefix.bits())
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: Clock + Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>, S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let rules = self.shared.rules();
        if !rules.enabled {
            return ResponseFuture::inner(self.inner.call(request));
        }

        let ip = self.resolve_client(&request);
        let key = ClientKey::from_optional(ip, self.ipv6_prefix);
        let rule = rules.rule_for(request.method(), request.uri().path());

        match &self.shared.backend {
            Backend::Memory(limiter) => match limiter.check_quotas(rule, key) {
                Ok(()) => {
                    tracing::trace!(
                        path = request.uri().path(),
                        client = %ClientDisplay(ip),
                        "rate limit passed"
                    );
                    ResponseFuture::inner(self.inner.call(request))
                }
                Err(exceeded) => {
                    let retry_after_secs = retry_after_secs(exceeded.wait);
                    tracing::debug!(
                        method = %request.method(),
                        path = request.uri().path(),
                        rule = rules.path(rule).unwrap_or("default"),
                        client = %ClientDisplay(ip),
                        retry_after_secs,
                        "rate limit exceeded"
                    );
                    let draft = self
                        .shared
                        .draft_headers
                        .then(|| DraftHeaders::new(rules, rule, exceeded.quota, retry_after_secs));
                    ResponseFuture::rejected(rejection(retry_after_secs, draft))
                }
            },
            #[cfg(feature = "redis")]
            Backend::Redis(_) => {
                let shared = Arc::clone(&self.shared);
                let method = request.method().clone();
                let path = request.uri().path().to_owned();
                let check = Box::pin(async move {
                    let outcome = shared.check(rule, key).await;
                    shared.verdict(outcome, rule, &method, &path, ip)
                });
                // The clone stays for the next call; the service that was polled ready serves
                // this request.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::checking(check, ready, request)
            }
        }
    }
}

/// The IETF draft `RateLimit-Policy` and `RateLimit` fields of a 429.
pub(crate) struct DraftHeaders {
    policy: HeaderValue,
    limit: HeaderValue,
}

impl DraftHeaders {
    /// Describes every quota of `rule` as a policy named `{count}-per-{seconds}s`, and
    /// `rejecting` as exhausted until `Retry-After`.
    fn new(rules: &Rules, rule: RuleId, rejecting: RateQuota, retry_after_secs: u64) -> Self {
        let name = |quota: &RateQuota| format!("{}-per-{}s", quota.count, quota.period.as_secs());
        let policy = rules
            .get(rule)
            .quotas
            .iter()
            .map(|quota| {
                format!(
                    "\"{}\";q={};w={}",
                    name(quota),
                    quota.count,
                    quota.period.as_secs()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let limit = format!("\"{}\";r=0;t={retry_after_secs}", name(&rejecting));
        // Both strings hold only ASCII digits, letters, quotes, '-', ';', '=', ',' and spaces.
        Self {
            policy: HeaderValue::try_from(policy).unwrap_or(HeaderValue::from_static("")),
            limit: HeaderValue::try_from(limit).unwrap_or(HeaderValue::from_static("")),
        }
    }
}

/// Builds the 429 response, with the draft fields when they are enabled.
pub(crate) fn rejection<B>(
    retry_after_secs: u64,
    draft: Option<DraftHeaders>,
) -> Response<ResponseBody<B>> {
    let mut response = AuthError::RateLimited { retry_after_secs }.to_layer_response();
    if let Some(draft) = draft {
        let headers = response.headers_mut();
        headers.insert(HeaderName::from_static("ratelimit-policy"), draft.policy);
        headers.insert(HeaderName::from_static("ratelimit"), draft.limit);
    }
    response
}

#[cfg(feature = "redis")]
impl<C: Clock> Shared<C> {
    /// Turns the outcome of a remote check into a verdict, logging it, and applies the
    /// failure mode when the backend could not decide.
    ///
    /// Every failure is logged at debug level; at error level the 1st, 2nd, 4th, 8th...
    /// failure in a row is logged with the running count, so an outage is visible without a
    /// line per request. The client address is logged, never a cookie, token or key.
    fn verdict(
        &self,
        outcome: Result<(), CheckError>,
        rule: RuleId,
        method: &http::Method,
        path: &str,
        ip: Option<IpAddr>,
    ) -> Verdict {
        let rule_path = self.rules().path(rule).unwrap_or("default");
        match outcome {
            Ok(()) | Err(CheckError::Exceeded { .. }) => {
                let failures = self.backend_failures.swap(0, Ordering::Relaxed);
                if failures > 0 {
                    tracing::warn!(failures, "rate-limit backend recovered");
                }
            }
            Err(CheckError::Unavailable { .. }) => {}
        }
        match outcome {
            Ok(()) => {
                tracing::trace!(path, client = %ClientDisplay(ip), "rate limit passed");
                Verdict::Pass
            }
            Err(CheckError::Exceeded { wait, quota }) => {
                let retry_after_secs = retry_after_secs(wait);
                tracing::debug!(
                    %method,
                    path,
                    rule = rule_path,
                    client = %ClientDisplay(ip),
                    retry_after_secs,
                    "rate limit exceeded"
                );
                let draft = self
                    .draft_headers
                    .then(|| DraftHeaders::new(self.rules(), rule, quota, retry_after_secs));
                Verdict::Limited {
                    retry_after_secs,
                    draft,
                }
            }
            Err(CheckError::Unavailable { source }) => {
                let failures = self.backend_failures.fetch_add(1, Ordering::Relaxed) + 1;
                let fail_open = self.failure_mode == RateLimitFailureMode::Open;
                let action = if fail_open {
                    "request passed unlimited (failure mode open)"
                } else {
                    "request rejected with 503 (failure mode closed)"
                };
                tracing::debug!(%method, path, rule = rule_path, error = %source, action);
                if failures.is_power_of_two() {
                    tracing::error!(
                        %method,
                        path,
                        rule = rule_path,
                        failures,
                        error = %source,
                        action,
                        "rate-limit backend failed"
                    );
                }
                if fail_open {
                    Verdict::Pass
                } else {
                    Verdict::Unavailable(AuthError::unavailable(source))
                }
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

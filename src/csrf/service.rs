use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HOST, HeaderMap, HeaderName, HeaderValue, ORIGIN, REFERER};
use http::{Method, Request, Response};
use tower_service::Service;

use super::SEC_FETCH_SITE;
use super::origin::{AllowedOrigins, Origin, parse_origin, referer_origin};
use crate::body::ResponseBody;
use crate::error::AuthError;
use crate::future::ResponseFuture;
use crate::headers::authority::{HostPort, parse_authority};

/// The service built by [`CsrfLayer`](super::CsrfLayer).
#[derive(Debug, Clone)]
pub struct Csrf<S> {
    pub(super) inner: S,
    pub(super) enabled: bool,
    pub(super) allowed: Arc<AllowedOrigins>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Csrf<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.enabled
            && let Err(reason) = check(&self.allowed, &request)
        {
            // Only the method, the path without its query, and a fixed reason are logged:
            // never cookies or other header values.
            tracing::debug!(
                method = %request.method(),
                path = request.uri().path(),
                reason,
                "CSRF check rejected a request"
            );
            return ResponseFuture::rejected(AuthError::CsrfFailed.to_layer_response());
        }
        ResponseFuture::inner(self.inner.call(request))
    }
}

/// The origin a request claims to come from.
enum Claimed<'a> {
    /// `Origin: null`, sent by sandboxed frames, `data:` URLs and some redirects.
    Null,
    Origin(Origin<'a>),
}

/// Decides whether `request` may pass; the error is the reason for the debug log.
fn check<B>(allowed: &AllowedOrigins, request: &Request<B>) -> Result<(), &'static str> {
    if is_safe(request.method()) {
        return Ok(());
    }
    let headers = request.headers();
    let fetch_site = single(headers, &SEC_FETCH_SITE)?;
    let claimed = claimed_origin(headers)?;
    let is_allowed = |claimed: &Claimed<'_>| match claimed {
        Claimed::Null => allowed.null,
        Claimed::Origin(origin) => allowed.contains(origin),
    };

    // Browsers that send Sec-Fetch-Site compute it themselves, so it decides on its own.
    if let Some(site) = fetch_site {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            b"same-site" | b"cross-site" => match claimed {
                Some(claimed) if is_allowed(&claimed) => Ok(()),
                _ => Err("Sec-Fetch-Site names another site and the origin is not allowed"),
            },
            _ => Err("unknown Sec-Fetch-Site value"),
        };
    }

    match claimed {
        // Curl, scripts and servers send none of the three headers, and no browser omits all
        // of them on an unsafe request.
        None => Ok(()),
        Some(claimed) if is_allowed(&claimed) => Ok(()),
        Some(Claimed::Null) => Err("Origin is null"),
        Some(Claimed::Origin(origin)) => match request_host(request) {
            Some(host) if origin.authority.same_as(&host, origin.default_port()) => Ok(()),
            _ => Err("origin does not match the Host header"),
        },
    }
}

/// GET, HEAD, OPTIONS and TRACE change nothing by definition (RFC 9110, section 9.2.1).
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Returns the header's only value; two or more values are an error.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, &'static str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err("header sent more than once");
    }
    Ok(first)
}

/// Returns the origin from `Origin`, else from `Referer`, else `None`.
fn claimed_origin(headers: &HeaderMap) -> Result<Option<Claimed<'_>>, &'static str> {
    if let Some(value) = single(headers, &ORIGIN)? {
        let text = value.to_str().map_err(|_| "Origin is not ASCII")?;
        if text == "null" {
            return Ok(Some(Claimed::Null));
        }
        let origin = parse_origin(text).ok_or("Origin is not scheme://host[:port]")?;
        return Ok(Some(Claimed::Origin(origin)));
    }
    if let Some(value) = single(headers, &REFERER)? {
        let text = value.to_str().map_err(|_| "Referer is not ASCII")?;
        let origin = referer_origin(text).ok_or("Referer is not an absolute URL")?;
        return Ok(Some(Claimed::Origin(origin)));
    }
    Ok(None)
}

/// Returns the request's host from its only `Host` header, or from the URI when there is no
/// `Host` header (HTTP/2 sends the host as `:authority`).
fn request_host<B>(request: &Request<B>) -> Option<HostPort<'_>> {
    match single(request.headers(), &HOST).ok()? {
        Some(value) => parse_authority(value.to_str().ok()?),
        None => parse_authority(request.uri().authority()?.as_str()),
    }
}

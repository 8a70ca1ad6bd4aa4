use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HOST, HeaderValue, LOCATION};
use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::authority::parse_authority;
use super::future::ResponseFuture;
use super::is_https;
use super::layer::HeaderSet;
use crate::body::ResponseBody;
use crate::error::AuthError;

/// The service built by [`SecurityHeadersLayer`](super::SecurityHeadersLayer).
#[derive(Debug, Clone)]
pub struct SecurityHeaders<S> {
    pub(super) inner: S,
    pub(super) headers: Arc<HeaderSet>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeaders<S>
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
        // `X-Forwarded-Proto` is not read here, because any client can send it. A trusted
        // proxy's value arrives as the `Https` marker from `ClientIpLayer`.
        let https = self.headers.assume_https || is_https(&request);
        if self.headers.force_https && !https {
            let mut response = https_redirect(&request);
            self.headers.apply(response.headers_mut(), false);
            return ResponseFuture::ready(response);
        }
        ResponseFuture::inner(self.inner.call(request), Arc::clone(&self.headers), https)
    }
}

/// Builds the 308 redirect to `https://{host}{path and query}`, or a 403 when the request
/// names no usable host.
///
/// The host comes from the `Host` header, or from the request URI when there is no `Host`
/// header (HTTP/2 sends the host as `:authority`). An explicit port 80 is dropped, because it
/// is the plain-HTTP port; other ports are kept.
fn https_redirect<ReqBody, ResBody>(request: &Request<ReqBody>) -> Response<ResponseBody<ResBody>> {
    let mut hosts = request.headers().get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(value), None) => value.to_str().ok(),
        (None, _) => request
            .uri()
            .authority()
            .map(|authority| authority.as_str()),
        (Some(_), Some(_)) => None,
    };
    let Some(host) = host.and_then(parse_authority) else {
        tracing::debug!("plain-HTTP request without a valid host rejected");
        return AuthError::HttpsRequired.to_layer_response();
    };

    // `OPTIONS *` and absolute-form URIs without a path redirect to the root.
    let path = request
        .uri()
        .path_and_query()
        .map(|path_and_query| path_and_query.as_str())
        .filter(|path| path.starts_with('/'))
        .unwrap_or("/");
    let location = match host.port {
        Some(port) if port != 80 => format!("https://{}:{port}{path}", host.host),
        _ => format!("https://{}{path}", host.host),
    };
    // The host passed the strict authority check and http's URI parser rejects control
    // characters, so this conversion should not fail. If it does, a 403 is still safe.
    let Ok(location) = HeaderValue::try_from(location) else {
        return AuthError::HttpsRequired.to_layer_response();
    };

    let mut response = Response::new(ResponseBody::full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response.headers_mut().insert(LOCATION, location);
    response
}

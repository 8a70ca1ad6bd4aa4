//! [`AuthApi`]: the JSON endpoints of the auth API as a tower [`Service`].
//!
//! | method and path | body | success |
//! |---|---|---|
//! | `POST /api/auth/signup` | `{"email", "password"}` | 201, the same body whether or not the address was registered |
//! | `POST /api/auth/login` | `{"email", "password"}` | 200 `{"user"}` and a new session cookie |
//! | `POST /api/auth/logout` | none | 200; the session is revoked and the cookie removed; also 200 without a session |
//! | `GET /api/auth/me` | none | 200 `{"user"}` |
//! | `POST /api/auth/forgot-password` | `{"email"}` | 200, the same whether or not the account exists |
//! | `POST /api/auth/reset-password` | `{"token", "password"}` | 200; every session of the user is revoked |
//! | `POST /api/auth/verify-email` | `{"token"}` | 200 |
//! | `POST /api/auth/change-password` | `{"current_password", "new_password"}` | 200; the user's other sessions are revoked |
//! | `GET /api/auth/sessions` | none | 200 `{"sessions": [...]}` |
//! | `DELETE /api/auth/sessions/{id}` | none | 200 (only the caller's own sessions) |
//! | `GET /api/admin/users` | query `offset`, `limit` | 200 `{"users": [...]}` |
//! | `GET /api/admin/audit` | query `event_type`, `user_id`, `since`, `until`, `limit` | 200 `{"events": [...]}` |
//!
//! Bodies must be `Content-Type: application/json`, UTF-8, uncompressed, at most
//! [`AuthConfig::max_body_bytes`](crate::AuthConfig::max_body_bytes) (16 KiB by default), and
//! arrive within 10 s of the headers (else 408 `REQUEST_TIMEOUT`).
//! Every error is the JSON of [`AuthError`](crate::AuthError). `HEAD` works wherever `GET`
//! does.
//!
//! `AuthApi` relies on [`SessionLayer`](crate::session::SessionLayer) in front of it to supply
//! the session and to write the cookies that login and logout ask for. The admin endpoints
//! check `X-API-Key` themselves against the configured keys (or accept a request that an
//! [`ApiKeyLayer`] in front already accepted), so with no key configured they stay closed.

mod handlers;
mod request;
mod response;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use crate::accounts::AuthService;
use crate::api_key::ApiKeyLayer;
use crate::store::BoxError;

/// The auth API's endpoints as a tower service over `http` requests.
#[derive(Debug, Clone)]
pub struct AuthApi {
    service: AuthService,
    admin_keys: ApiKeyLayer,
}

impl AuthApi {
    /// Serves the endpoints with `service`. The admin endpoints accept the keys of
    /// [`AuthConfig::api_keys`](crate::AuthConfig::api_keys); with none configured they
    /// reject every request.
    pub fn new(service: AuthService) -> Self {
        let keys = &service.config().api_keys;
        if keys.is_empty() {
            tracing::info!(
                "admin endpoints reject every request: no API key configured (AMOSKYS_API_KEY)"
            );
        }
        let admin_keys = ApiKeyLayer::without_empty_warning(keys);
        Self {
            service,
            admin_keys,
        }
    }

    /// Returns the account service.
    pub fn service(&self) -> &AuthService {
        &self.service
    }
}

impl<B> Service<Request<B>> for AuthApi
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let api = self.clone();
        ResponseFuture {
            inner: Box::pin(async move { Ok(handlers::dispatch(&api, request).await) }),
        }
    }
}

type BoxedResponse =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

/// The response future of [`AuthApi`].
pub struct ResponseFuture {
    inner: BoxedResponse,
}

impl Future for ResponseFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

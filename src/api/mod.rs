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
//! Bodies must be `Content-Type: application/json`, UTF-8, and at most
//! [`AuthConfig::max_body_bytes`](crate::AuthConfig::max_body_bytes) (16 KiB by default).
//! Every error is the JSON of [`AuthError`](crate::AuthError). `HEAD` works wherever `GET`
//! does.
//!
//! `AuthApi` relies on the layers in front of it:
//! [`SessionLayer`](crate::session::SessionLayer) supplies the session and writes the cookies
//! that login and logout ask for, and the admin endpoints answer 401 unless
//! [`ApiKeyLayer`](crate::api_key::ApiKeyLayer) accepted the request's key, so forgetting that
//! layer closes the admin endpoints rather than opening them.

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
use crate::store::BoxError;

/// The auth API's endpoints as a tower service over `http` requests.
#[derive(Debug, Clone)]
pub struct AuthApi {
    service: AuthService,
}

impl AuthApi {
    /// Serves the endpoints with `service`.
    pub fn new(service: AuthService) -> Self {
        Self { service }
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
        let service = self.service.clone();
        ResponseFuture {
            inner: Box::pin(async move { Ok(handlers::dispatch(&service, request).await) }),
        }
    }
}

/// The response future of [`AuthApi`].
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>,
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

//! [`ResponseFuture`]: the store lookup, then the inner service, then the cookie.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::SET_COOKIE;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::layer::Shared;
use super::service::Lookup;
use super::{CurrentSession, SessionCookie};
use crate::body::ResponseBody;
use crate::error::AuthError;

pin_project! {
    /// The response future of [`Session`](super::Session).
    ///
    /// A request without a session cookie goes straight to the inner service. Otherwise the
    /// future first awaits the store lookup, which is boxed because store methods return
    /// boxed futures anyway.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
        shared: Arc<Shared>,
        clear_stale_cookie: bool,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Lookup {
            lookup: Lookup,
            pending: Option<(S, Request<ReqBody>)>,
            clear_if_invalid: bool,
        },
        Inner {
            #[pin]
            future: S::Future,
        },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(super) fn direct(future: S::Future, shared: Arc<Shared>, clear_stale_cookie: bool) -> Self {
        Self {
            state: State::Inner { future },
            shared,
            clear_stale_cookie,
        }
    }

    /// `clear_if_invalid` sets whether an unknown or invalid session clears the cookie.
    pub(super) fn lookup(
        lookup: Lookup,
        service: S,
        request: Request<ReqBody>,
        shared: Arc<Shared>,
        clear_if_invalid: bool,
    ) -> Self {
        Self {
            state: State::Lookup {
                lookup,
                pending: Some((service, request)),
                clear_if_invalid,
            },
            shared,
            clear_stale_cookie: false,
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Lookup {
                    lookup,
                    pending,
                    clear_if_invalid,
                } => {
                    let outcome = ready!(lookup.as_mut().poll(cx));
                    let (mut service, mut request) = pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match outcome {
                        Ok(Some(record)) => {
                            request.extensions_mut().insert(CurrentSession(record));
                        }
                        Ok(None) => *this.clear_stale_cookie = *clear_if_invalid,
                        Err(error) => {
                            tracing::error!(
                                error = %error,
                                "session store lookup failed; answering 503"
                            );
                            let response = AuthError::unavailable(error).to_layer_response();
                            return Poll::Ready(Ok(response));
                        }
                    }
                    let future = service.call(request);
                    this.state.set(State::Inner { future });
                }
                StateProj::Inner { future } => {
                    let mut response = ready!(future.poll(cx))?;
                    apply_cookie(this.shared, &mut response, *this.clear_stale_cookie);
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
            }
        }
    }
}

/// Turns the handler's [`SessionCookie`] into `Set-Cookie`, or clears a stale cookie that the
/// request carried when the handler issued none.
fn apply_cookie<B>(shared: &Shared, response: &mut Response<B>, clear_stale_cookie: bool) {
    let value = match response.extensions_mut().remove::<SessionCookie>() {
        Some(SessionCookie::Issue(token)) => match shared.cookie.issue(&token) {
            Ok(value) => value,
            Err(error) => {
                // Unreachable with tokens from `SecretToken`, whose alphabet is header-safe.
                tracing::error!(error = %error, "failed to format the session cookie");
                return;
            }
        },
        Some(SessionCookie::Clear) => shared.cookie.clear(),
        None if clear_stale_cookie => shared.cookie.clear(),
        None => return,
    };
    response.headers_mut().append(SET_COOKIE, value);
}

//! [`ResponseFuture`]: the response future of [`RateLimit`](super::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::service::{DraftHeaders, rejection};
use crate::body::ResponseBody;
use crate::error::AuthError;

/// The outcome of a check that had to wait for the backend, with its logging done.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum Verdict {
    Pass,
    Limited {
        retry_after_secs: u64,
        draft: Option<DraftHeaders>,
    },
    Unavailable(AuthError),
}

/// A check in flight against a remote backend.
pub(crate) type PendingCheck = Pin<Box<dyn Future<Output = Verdict> + Send>>;

pin_project! {
    /// The response future of [`RateLimit`](super::RateLimit): the inner service's response
    /// or the JSON error, decided at once for the in-memory backend and after a round trip for
    /// Redis.
    pub struct ResponseFuture<S, Req, F, B> {
        #[pin]
        state: State<S, Req, F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, F, B> {
        // The service and request wait in a box, so that this rare state does not make the
        // future larger for the in-memory backend.
        Checking { check: PendingCheck, waiting: Option<Box<(S, Req)>> },
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<ResponseBody<B>>> },
    }
}

impl<S, Req, F, B> ResponseFuture<S, Req, F, B> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(crate) fn rejected(response: Response<ResponseBody<B>>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn checking(check: PendingCheck, service: S, request: Req) -> Self {
        Self {
            state: State::Checking {
                check,
                waiting: Some(Box::new((service, request))),
            },
        }
    }
}

impl<S, ReqBody, B, E> Future for ResponseFuture<S, Request<ReqBody>, S::Future, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>, Error = E>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Checking { check, waiting } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let next = match verdict {
                        Verdict::Pass => {
                            let (mut service, request) = *waiting
                                .take()
                                .expect("ResponseFuture polled after it completed");
                            State::Inner {
                                future: service.call(request),
                            }
                        }
                        Verdict::Limited {
                            retry_after_secs,
                            draft,
                        } => State::Rejected {
                            response: Some(rejection(retry_after_secs, draft)),
                        },
                        Verdict::Unavailable(error) => State::Rejected {
                            response: Some(error.to_layer_response()),
                        },
                    };
                    self.as_mut().project().state.set(next);
                }
                StateProj::Inner { future } => {
                    return future
                        .poll(cx)
                        .map(|result| result.map(|response| response.map(ResponseBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after it completed");
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<S, Req, F, B> fmt::Debug for ResponseFuture<S, Req, F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Checking { .. } => "checking",
            State::Inner { .. } => "inner",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

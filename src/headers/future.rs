use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::layer::HeaderSet;
use crate::body::ResponseBody;

pin_project! {
    /// The response future of [`SecurityHeaders`](super::SecurityHeaders): either the inner
    /// service's response, to which the headers are added, or a redirect or rejection that the
    /// layer built itself.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner {
            #[pin]
            future: F,
            headers: Arc<HeaderSet>,
            https: bool,
        },
        Ready {
            response: Option<Response<ResponseBody<B>>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(super) fn inner(future: F, headers: Arc<HeaderSet>, https: bool) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                headers,
                https,
            },
        }
    }

    pub(super) fn ready(response: Response<ResponseBody<B>>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner {
                future,
                headers,
                https,
            } => {
                let mut response = ready!(future.poll(cx))?;
                headers.apply(response.headers_mut(), *https);
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            KindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

//! [`RejectionLayer`]: answers the rejections of the layers below as HTTP responses.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::AsRejection;
use http::{Response, StatusCode};
use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::Problems;

/// A tower layer answering every error that holds a [`Rejection`] with the response it
/// means ([`Problems::response`]): 429, 503 or 504, `Retry-After`, problem details.
/// Other errors pass through; [`answer_all`](Self::answer_all) answers them too, with
/// 500, so that the service's error type becomes `Infallible`, as axum wants.
///
/// Put it outside the Hardy layers whose rejections should reach clients as responses.
///
/// [`Rejection`]: hardy_core::Rejection
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_http::RejectionLayer;
/// use hardy_rate_limit::RateLimiter;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::builder("api").per(1, Duration::from_secs(60)).build()?;
/// let mut app = ServiceBuilder::new()
///     .layer(RejectionLayer::new())
///     .layer(limiter.layer())
///     .service_fn(|_: http::Request<String>| async {
///         Ok::<_, BoxError>(http::Response::new(String::from("hello")))
///     });
/// let first = app.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(first.status(), 200);
/// let second = app.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(second.status(), 429);
/// assert_eq!(second.headers()["retry-after"], "60");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectionLayer {
    problems: Problems,
}

impl RejectionLayer {
    /// A layer answering rejections with named problem details.
    #[must_use]
    pub fn new() -> Self {
        RejectionLayer::default()
    }

    /// How much the responses tell the client. Default: [`Problems::Named`].
    #[must_use]
    pub fn problems(mut self, problems: Problems) -> Self {
        self.problems = problems;
        self
    }

    /// Answers every other error too, with 500 Internal Server Error (its message in
    /// the problem details only with [`Problems::Named`]): the service never fails.
    #[must_use]
    pub fn answer_all(self) -> AnswerAllLayer {
        AnswerAllLayer {
            problems: self.problems,
        }
    }
}

impl<S> Layer<S> for RejectionLayer {
    type Service = RejectionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RejectionService {
            inner,
            problems: self.problems,
        }
    }
}

/// A service whose rejections are answered as responses; made by a
/// [`RejectionLayer`].
#[derive(Debug, Clone)]
pub struct RejectionService<S> {
    inner: S,
    problems: Problems,
}

impl<S> RejectionService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, B> Service<Req> for RejectionService<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: AsRejection,
    B: From<String>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = RejectionFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        RejectionFuture {
            inner: self.inner.call(request),
            problems: self.problems,
        }
    }
}

/// The response future of a [`RejectionService`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct RejectionFuture<F> {
    #[pin]
    inner: F,
    problems: Problems,
}

impl<F, B, E> Future for RejectionFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: AsRejection,
    B: From<String>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match ready!(this.inner.poll(cx)) {
            Ok(response) => Ok(response),
            Err(error) => match error.as_rejection() {
                Some(rejection) => Ok(this.problems.response(rejection)),
                None => Err(error),
            },
        })
    }
}

impl<F> fmt::Debug for RejectionFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectionFuture").finish_non_exhaustive()
    }
}

/// A tower layer answering every error as a response: rejections as
/// [`RejectionLayer`] does, other errors with 500; made by
/// [`RejectionLayer::answer_all`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerAllLayer {
    problems: Problems,
}

impl<S> Layer<S> for AnswerAllLayer {
    type Service = AnswerAllService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AnswerAllService {
            inner,
            problems: self.problems,
            unready: None,
        }
    }
}

/// A service that never fails: every error is answered as a response; made by an
/// [`AnswerAllLayer`]. An error of the inner service's readiness is kept and answers
/// the next call.
#[derive(Debug, Clone)]
pub struct AnswerAllService<S> {
    inner: S,
    problems: Problems,
    unready: Option<Response<String>>,
}

impl<S, Req, B> Service<Req> for AnswerAllService<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: AsRejection + fmt::Display,
    B: From<String>,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = AnswerAllFuture<S::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.unready.is_none()
            && let Err(error) = ready!(self.inner.poll_ready(cx))
        {
            self.unready = Some(answer(self.problems, &error));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let state = match self.unready.take() {
            Some(answered) => Answer::Ready(Some(answered.map(B::from))),
            None => Answer::Calling(self.inner.call(request)),
        };
        AnswerAllFuture {
            state,
            problems: self.problems,
        }
    }
}

#[pin_project(project = AnswerProj)]
enum Answer<F, B> {
    Calling(#[pin] F),
    Ready(Option<Response<B>>),
}

/// The response future of an [`AnswerAllService`]: never an error.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct AnswerAllFuture<F, B> {
    #[pin]
    state: Answer<F, B>,
    problems: Problems,
}

impl<F, B, E> Future for AnswerAllFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: AsRejection + fmt::Display,
    B: From<String>,
{
    type Output = Result<Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match this.state.project() {
            AnswerProj::Calling(future) => match ready!(future.poll(cx)) {
                Ok(response) => response,
                Err(error) => answer(*this.problems, &error).map(B::from),
            },
            AnswerProj::Ready(response) => response
                .take()
                .expect("answer future polled after completion"),
        }))
    }
}

impl<F, B> fmt::Debug for AnswerAllFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnswerAllFuture").finish_non_exhaustive()
    }
}

/// The response answering `error`: its rejection's, or 500.
fn answer<E: AsRejection + fmt::Display>(problems: Problems, error: &E) -> Response<String> {
    if let Some(rejection) = error.as_rejection() {
        return problems.response(rejection);
    }
    problems.problem(StatusCode::INTERNAL_SERVER_ERROR, None, |problem| {
        problem.insert("detail".into(), error.to_string().into());
    })
}

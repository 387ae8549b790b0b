//! The futures of a rate-limited call: [`ResponseFuture`] (tower) and [`CallFuture`]
//! (direct).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::admission::{self, Admission};
use hardy_core::{Error, Rejection};
use pin_project::pin_project;
use tower_service::Service;

use crate::limit::Limit;
use crate::wait::Turn;

/// The response future of a [`RateLimitService`](crate::RateLimitService): the inner
/// service's response, or its error type made from [`Rejection::RateLimited`].
///
/// # Cancel safety
///
/// Dropping it while it waits for its turn gives the turn back (unless a later call has
/// reserved one since) and never calls the inner service; while the inner call runs,
/// drops the inner call.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    #[pin]
    inner: admission::ResponseFuture<S, Req, Turn>,
}

impl<S, Req> ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    #[inline(always)]
    pub(crate) fn running(future: S::Future) -> Self {
        ResponseFuture {
            inner: admission::ResponseFuture::running(future, ()),
        }
    }

    pub(crate) fn waiting(turn: Turn, service: S, request: Req) -> Self {
        ResponseFuture {
            inner: admission::ResponseFuture::waiting(turn, service, request),
        }
    }

    pub(crate) fn rejected(rejection: Rejection) -> Self
    where
        S::Error: From<Rejection>,
    {
        ResponseFuture {
            inner: admission::ResponseFuture::rejected(rejection),
        }
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<S, Req> fmt::Debug for ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[pin_project(project = CallProj)]
enum CallState<F, Fut> {
    Start {
        operation: Option<F>,
    },
    Waiting {
        wait: Turn,
        operation: Option<F>,
    },
    Running {
        #[pin]
        future: Fut,
    },
    Done,
}

/// The future of a direct call through a limiter ([`RateLimiter::call`],
/// [`KeyedRateLimiter::call_key`]): `Result<T, hardy_core::Error<E>>` for an operation
/// returning `Result<T, E>`. The call's turn is taken at the first poll.
///
/// [`RateLimiter::call`]: crate::RateLimiter::call
/// [`KeyedRateLimiter::call_key`]: crate::KeyedRateLimiter::call_key
///
/// It borrows the limiter, as Tokio's semaphore futures borrow theirs, so a call takes
/// no reference count; a call that must outlive the borrow (a spawned task) moves a
/// clone of the handle in with it.
///
/// # Cancel safety
///
/// Dropping it while it waits gives its turn back (unless a later call has reserved one
/// since) and never starts the operation; while the operation runs, drops it.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<L, F, Fut> {
    limit: L,
    #[pin]
    state: CallState<F, Fut>,
}

impl<L, F, Fut> CallFuture<L, F, Fut> {
    pub(crate) fn new(limit: L, operation: F) -> Self {
        CallFuture {
            limit,
            state: CallState::Start {
                operation: Some(operation),
            },
        }
    }
}

impl<L, F, Fut, T, E> Future for CallFuture<L, F, Fut>
where
    L: Limit<()>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                CallProj::Start { operation } => {
                    let operation = operation
                        .take()
                        .expect("rate limit call polled after completion");
                    let admission = match this.limit.admit_request(&()) {
                        Ok(()) => Admission::Now(()),
                        Err(later) => this.limit.admit_later(later),
                    };
                    let next = match admission {
                        Admission::Now(()) => CallState::Running {
                            future: operation(),
                        },
                        Admission::Later(wait) => CallState::Waiting {
                            wait,
                            operation: Some(operation),
                        },
                        Admission::Refused(rejection) => {
                            this.state.set(CallState::Done);
                            return Poll::Ready(Err(Error::Rejected(rejection)));
                        }
                    };
                    this.state.set(next);
                }
                CallProj::Waiting { wait, operation } => {
                    if let Err(rejection) = ready!(Pin::new(wait).poll(cx)) {
                        this.state.set(CallState::Done);
                        return Poll::Ready(Err(Error::Rejected(rejection)));
                    }
                    let operation = operation
                        .take()
                        .expect("the operation is kept until the call is admitted");
                    this.state.set(CallState::Running {
                        future: operation(),
                    });
                }
                CallProj::Running { future } => {
                    let result = ready!(future.poll(cx));
                    this.state.set(CallState::Done);
                    return Poll::Ready(result.map_err(Error::Inner));
                }
                CallProj::Done => panic!("rate limit call polled after completion"),
            }
        }
    }
}

impl<L: fmt::Debug, F, Fut> fmt::Debug for CallFuture<L, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            CallState::Start { .. } => "start",
            CallState::Waiting { .. } => "waiting",
            CallState::Running { .. } => "running",
            CallState::Done => "done",
        };
        f.debug_struct("CallFuture")
            .field("limit", &self.limit)
            .field("state", &state)
            .finish()
    }
}

//! [`TimeoutService`]: a tower service whose calls are limited by a [`Timeout`].

use std::sync::Arc;
use std::task::{Context, Poll};

use hardy_core::{LocalArc, Rejection};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::{ExtractDeadline, NoDeadline, Timeout};

/// A tower service whose calls are limited by a [`Timeout`]; made by a
/// [`TimeoutLayer`](crate::TimeoutLayer).
///
/// Its error is the inner service's error, which must be `From<Rejection>` (as
/// `tower::BoxError` and `hardy_core::Error<E>` are): a call that runs out of time ends
/// with that error made from [`Rejection::Timeout`]. `poll_ready` is the inner service's.
/// A request whose deadline has already passed is refused without calling the inner
/// service.
#[derive(Debug, Clone)]
pub struct TimeoutService<S, X = NoDeadline> {
    inner: S,
    timeout: LocalArc<Timeout>,
    deadline: X,
}

impl<S> TimeoutService<S> {
    /// Wraps `inner`; requests carry no deadline.
    pub fn new(inner: S, timeout: Timeout) -> Self {
        TimeoutService::with_deadline(inner, timeout, NoDeadline)
    }
}

impl<S, X> TimeoutService<S, X> {
    /// Wraps `inner`; each request's deadline is found by `deadline`.
    pub fn with_deadline(inner: S, timeout: Timeout, deadline: X) -> Self {
        TimeoutService {
            inner,
            timeout: LocalArc::new(timeout),
            deadline,
        }
    }

    /// The timeout applied to each call.
    pub fn timeout(&self) -> &Timeout {
        self.timeout.handle()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, X, Req> Service<Req> for TimeoutService<S, X>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
    X: ExtractDeadline<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, Arc<Timeout>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let deadline = self.deadline.deadline(&request);
        let timeout = Arc::clone(self.timeout.get());
        let inner = &mut self.inner;
        Timeout::start(timeout, deadline, move || inner.call(request))
    }
}

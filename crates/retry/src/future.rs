//! The futures of a retried call: [`ResponseFuture`] (tower) and [`CallFuture`] (direct).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_core::{Classify, Error, Spared};
use hardy_timeout::Deadline;
use pin_project::pin_project;
use tower_service::Service;

use crate::CloneRequest;
use crate::Retry;
use crate::retrying::{Attempts, Retrying};

/// What a [`RetryService`](crate::RetryService) shares with the calls it makes: the
/// retry, and a spare of the inner service, which a call clones only when it makes a
/// retry.
///
/// One reference to this is all a call holds, so a call that succeeds at once touches
/// one reference count however many services are below: the clone of the inner
/// service, which would touch each of their handles' counts twice, is made only for a
/// retry.
pub(crate) type Shared<S> = Spared<Retry, S>;

/// The attempts of a direct call: the operation called again.
#[derive(Debug)]
pub(crate) struct Operation<'r, F> {
    pub(crate) retry: &'r Retry,
    pub(crate) operation: F,
}

impl<F, Fut, T, E> Attempts for Operation<'_, F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Attempt = Fut;
    type Ok = T;
    type Error = E;
    type Caller = ();

    #[inline(always)]
    fn retry(&self) -> Option<&Retry> {
        Some(self.retry)
    }

    #[inline]
    fn poll_attempt(&mut self, _: &mut Option<()>, _: &mut Context<'_>) -> Poll<Result<Fut, E>> {
        Poll::Ready(Ok((self.operation)()))
    }

    #[inline(always)]
    fn poll_running(&mut self, attempt: Pin<&mut Fut>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        attempt.poll(cx)
    }

    #[inline]
    fn can_retry(&self) -> bool {
        true
    }

    #[inline]
    fn first_now(&mut self) -> Option<Fut> {
        Some((self.operation)())
    }
}

/// The attempts of a tower call: a clone of the service's spare made ready and called
/// with a clone of the request, kept from the attempt before.
#[derive(Debug)]
pub(crate) struct Calls<S, Req, P> {
    pub(crate) shared: Arc<Shared<S>>,
    pub(crate) request: Option<Req>,
    pub(crate) policy: P,
}

impl<S, Req, P> Attempts for Calls<S, Req, P>
where
    S: Service<Req> + Clone,
    P: CloneRequest<Req>,
{
    type Attempt = S::Future;
    type Ok = S::Response;
    type Error = S::Error;
    type Caller = S;

    #[inline(always)]
    fn retry(&self) -> Option<&Retry> {
        Some(self.shared.handle())
    }

    fn poll_attempt(
        &mut self,
        caller: &mut Option<S>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Future, S::Error>> {
        let service = caller.get_or_insert_with(|| self.shared.spare());
        ready!(service.poll_ready(cx))?;
        let request = self
            .request
            .take()
            .expect("an attempt is made only while a request is kept");
        self.request = self.policy.clone_request(&request);
        Poll::Ready(Ok(service.call(request)))
    }

    #[inline(always)]
    fn poll_running(
        &mut self,
        attempt: Pin<&mut S::Future>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Response, S::Error>> {
        attempt.poll(cx)
    }

    #[inline]
    fn can_retry(&self) -> bool {
        self.request.is_some()
    }
}

/// The retry loop of a service's call: attempts of clones of the service's spare, what
/// the service shares with its calls held, the clone being made ready kept between
/// attempts.
type ServiceRetrying<S, Fut, Req, C, P> = Retrying<Calls<S, Req, P>, Fut, C, S>;

/// The response future of a [`RetryService`](crate::RetryService): the result of the
/// last attempt.
///
/// # Cancel safety
///
/// Dropping it drops the running attempt or the pending delay, the clone of the
/// service being made ready for a retry if there is one, and its reference to what the
/// service shares with its calls (the retry and the spare); nothing else is held.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S, Req, C, P>
where
    S: Service<Req>,
{
    #[pin]
    retrying: ServiceRetrying<S, S::Future, Req, C, P>,
}

impl<S, Req, C, P> ResponseFuture<S, Req, C, P>
where
    S: Service<Req>,
{
    #[inline]
    pub(crate) fn new(retrying: ServiceRetrying<S, S::Future, Req, C, P>) -> Self {
        ResponseFuture { retrying }
    }
}

impl<S, Req, C, P> Future for ResponseFuture<S, Req, C, P>
where
    S: Service<Req> + Clone,
    P: CloneRequest<Req>,
    C: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().retrying.poll(cx)
    }
}

/// The future of a direct [`Retry::call`]: `Result<T, hardy_core::Error<E>>` for an
/// operation returning `Result<T, E>`, holding the last attempt's result.
///
/// Nothing runs until it is first polled, so [`until`](Self::until) may still set a
/// deadline. It borrows the handle, as tokio's semaphore futures do, so that a call
/// touches no reference count; a call that must outlive the handle (a spawned task)
/// moves a clone of the handle in.
///
/// # Cancel safety
///
/// Dropping it drops the running attempt or the pending delay; nothing else is held.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<'r, F, Fut, C> {
    #[pin]
    retrying: Retrying<Operation<'r, F>, Fut, C>,
}

impl<'r, F, Fut, C> CallFuture<'r, F, Fut, C> {
    pub(crate) fn new(retrying: Retrying<Operation<'r, F>, Fut, C>) -> Self {
        CallFuture { retrying }
    }

    /// Makes no retry whose delay would end past `deadline` (nor past the retry's
    /// `max_duration`, whichever is earlier).
    ///
    /// Set more than once, the earliest deadline counts. Only effective before the first
    /// poll.
    pub fn until(mut self, deadline: Deadline) -> Self {
        if let Some(slot) = self.retrying.deadline_mut() {
            *slot = Some(slot.map_or(deadline, |earlier| earlier.earliest(deadline)));
        }
        self
    }
}

impl<F, Fut, C, T, E> Future for CallFuture<'_, F, Fut, C>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut retrying = self.project().retrying;
        retrying.as_mut().start();
        Poll::Ready(ready!(retrying.poll(cx)).map_err(Error::Inner))
    }
}

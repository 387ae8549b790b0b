//! The futures of a retried call: [`ResponseFuture`] (tower) and [`CallFuture`] (direct).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_core::{Classify, Error, Outcome, Spared};
use hardy_timeout::Deadline;
use pin_project::pin_project;
use tower_service::Service;

use crate::CloneRequest;
use crate::retry::{Next, Retry, Tries};

/// Makes the attempts of one call, with `R`, what the call holds of its retry.
pub(crate) trait Attempts<R> {
    type Future: Future<Output = Result<Self::Ok, Self::Error>>;
    type Ok;
    type Error;
    /// What an attempt is made with while it waits to be made (a service being made
    /// ready), kept in the call's state only between attempts.
    type Caller;

    /// The next attempt, once it can be made; an error ends the call.
    fn poll_attempt(
        &mut self,
        retry: &R,
        caller: &mut Option<Self::Caller>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Future, Self::Error>>;

    /// Whether another attempt can be made at all.
    fn can_retry(&self) -> bool;

    /// The first attempt, if it can be made without waiting (a direct call's operation
    /// can; a service must be polled ready first).
    #[inline]
    fn first_now(&mut self) -> Option<Self::Future> {
        None
    }
}

/// What a call holds of its retry: the handle, or what a service shares with its
/// calls.
pub(crate) trait HoldsRetry {
    /// The retry.
    fn retry(&self) -> &Retry;
}

impl HoldsRetry for &Retry {
    #[inline]
    fn retry(&self) -> &Retry {
        self
    }
}

impl<S> HoldsRetry for Arc<Shared<S>> {
    #[inline]
    fn retry(&self) -> &Retry {
        self.handle()
    }
}

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
pub(crate) struct Operation<F>(F);

impl<F, Fut, T, E, R> Attempts<R> for Operation<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Future = Fut;
    type Ok = T;
    type Error = E;
    type Caller = ();

    #[inline]
    fn poll_attempt(
        &mut self,
        _: &R,
        _: &mut Option<()>,
        _: &mut Context<'_>,
    ) -> Poll<Result<Fut, E>> {
        Poll::Ready(Ok((self.0)()))
    }

    #[inline]
    fn can_retry(&self) -> bool {
        true
    }

    #[inline]
    fn first_now(&mut self) -> Option<Fut> {
        Some((self.0)())
    }
}

/// The attempts of a tower call: a clone of the service's spare made ready and called
/// with a clone of the request, kept from the attempt before.
#[derive(Debug)]
pub(crate) struct Calls<Req, P> {
    pub(crate) request: Option<Req>,
    pub(crate) policy: P,
}

impl<S, Req, P> Attempts<Arc<Shared<S>>> for Calls<Req, P>
where
    S: Service<Req> + Clone,
    P: CloneRequest<Req>,
{
    type Future = S::Future;
    type Ok = S::Response;
    type Error = S::Error;
    type Caller = S;

    fn poll_attempt(
        &mut self,
        shared: &Arc<Shared<S>>,
        caller: &mut Option<S>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Future, S::Error>> {
        let service = caller.get_or_insert_with(|| shared.spare());
        ready!(service.poll_ready(cx))?;
        let request = self
            .request
            .take()
            .expect("an attempt is made only while a request is kept");
        self.request = self.policy.clone_request(&request);
        Poll::Ready(Ok(service.call(request)))
    }

    #[inline]
    fn can_retry(&self) -> bool {
        self.request.is_some()
    }
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F, W> {
    /// A direct call not yet polled: start it at the first poll.
    Start { deadline: Option<Deadline> },
    /// An attempt is running.
    Running {
        #[pin]
        future: F,
    },
    /// Waiting before the next attempt, on the call's timer.
    Sleeping,
    /// The next attempt is to be made, with what it is made with once there is one.
    Ready { caller: Option<W> },
    /// The call ended after a failed readiness check: polling again is a bug.
    Done,
}

/// The retry loop shared by both futures.
#[pin_project]
#[derive(Debug)]
pub(crate) struct Retrying<A, Fut, C, R, W = ()> {
    #[pin]
    state: State<Fut, W>,
    attempts: A,
    classifier: C,
    /// The handle, or what the service shares with its calls.
    retry: R,
    tries: Tries,
}

impl<'r, F, Fut, C> Retrying<Operation<F>, Fut, C, &'r Retry> {
    pub(crate) fn starting(
        operation: F,
        classifier: C,
        retry: &'r Retry,
        deadline: Option<Deadline>,
    ) -> Self {
        Retrying {
            state: State::Start { deadline },
            attempts: Operation(operation),
            classifier,
            retry,
            tries: Tries::default(),
        }
    }
}

impl<A, Fut, C, R, W> Retrying<A, Fut, C, R, W> {
    #[inline]
    pub(crate) fn running(future: Fut, attempts: A, classifier: C, retry: R, tries: Tries) -> Self {
        Retrying {
            state: State::Running { future },
            attempts,
            classifier,
            retry,
            tries,
        }
    }
}

impl<A, C, R> Future for Retrying<A, A::Future, C, R, A::Caller>
where
    A: Attempts<R>,
    C: Classify<A::Ok, A::Error>,
    R: HoldsRetry,
{
    type Output = Result<A::Ok, A::Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The path of a call that succeeds at once, kept small enough to inline.
        let this = self.as_mut().project();
        if let StateProj::Running { future } = this.state.project() {
            let result = ready!(future.poll(cx));
            let outcome = this.classifier.classify(&result);
            if outcome.is_success() {
                this.tries.succeeded(this.retry.retry());
                return Poll::Ready(result);
            }
            if !self.as_mut().failed(outcome) {
                return Poll::Ready(result);
            }
            if matches!(self.state, State::Ready { .. }) {
                // A zero delay: let other tasks run before the next attempt.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        self.poll_retries(cx)
    }
}

impl<A, C, R> Retrying<A, A::Future, C, R, A::Caller>
where
    A: Attempts<R>,
    C: Classify<A::Ok, A::Error>,
    R: HoldsRetry,
{
    /// Starts a call that has not started (a direct call, at its first poll) and makes
    /// its first attempt if that needs no waiting, so that the attempt is polled on the
    /// inlined path rather than in [`poll_retries`](Self::poll_retries).
    #[inline]
    fn start(self: Pin<&mut Self>) {
        let mut this = self.project();
        if let StateProj::Start { deadline } = this.state.as_mut().project() {
            this.tries.begin(this.retry.retry(), deadline.take());
            match this.attempts.first_now() {
                Some(future) => this.state.set(State::Running { future }),
                None => this.state.set(State::Ready { caller: None }),
            }
        }
    }

    /// An attempt failed: `true` if another follows (and the state says when).
    #[cold]
    #[inline(never)]
    fn failed(self: Pin<&mut Self>, outcome: Outcome) -> bool {
        let mut this = self.project();
        let can_retry = this.attempts.can_retry();
        match this.tries.failed(this.retry.retry(), outcome, can_retry) {
            Next::Return => false,
            Next::Retry(delay) if delay.is_zero() => {
                this.state.set(State::Ready { caller: None });
                true
            }
            Next::Retry(_) => {
                this.state.set(State::Sleeping);
                true
            }
        }
    }

    /// Everything after a first failed attempt: delays, readiness, further attempts.
    #[cold]
    #[inline(never)]
    fn poll_retries(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<A::Ok, A::Error>> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Running { future } => {
                    let result = ready!(future.poll(cx));
                    let outcome = this.classifier.classify(&result);
                    if outcome.is_success() {
                        this.tries.succeeded(this.retry.retry());
                        return Poll::Ready(result);
                    }
                    if !self.as_mut().failed(outcome) {
                        return Poll::Ready(result);
                    }
                    if matches!(self.state, State::Ready { .. }) {
                        // A zero delay: let other tasks run before the next attempt.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                StateProj::Sleeping => {
                    ready!(this.tries.poll_delay(cx));
                    self.as_mut()
                        .project()
                        .state
                        .set(State::Ready { caller: None });
                }
                StateProj::Ready { caller } => {
                    match ready!(this.attempts.poll_attempt(this.retry, caller, cx)) {
                        Ok(future) => this.state.set(State::Running { future }),
                        Err(error) => {
                            let result = Err(error);
                            this.tries
                                .not_ready(this.retry.retry(), this.classifier.classify(&result));
                            this.state.set(State::Done);
                            return Poll::Ready(result);
                        }
                    }
                }
                StateProj::Done => panic!("retry future polled after completion"),
                StateProj::Start { .. } => self.as_mut().start(),
            }
        }
    }
}

/// The retry loop of a service's call: attempts of clones of the service's spare, what
/// the service shares with its calls held, the clone being made ready kept between
/// attempts.
type ServiceRetrying<S, Fut, Req, C, P> = Retrying<Calls<Req, P>, Fut, C, Arc<Shared<S>>, S>;

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
    retrying: Retrying<Operation<F>, Fut, C, &'r Retry>,
}

impl<'r, F, Fut, C> CallFuture<'r, F, Fut, C> {
    pub(crate) fn new(retrying: Retrying<Operation<F>, Fut, C, &'r Retry>) -> Self {
        CallFuture { retrying }
    }

    /// Makes no retry whose delay would end past `deadline` (nor past the retry's
    /// `total_budget`, whichever is earlier).
    ///
    /// Set more than once, the earliest deadline counts. Only effective before the first
    /// poll.
    pub fn until(mut self, deadline: Deadline) -> Self {
        if let State::Start { deadline: slot } = &mut self.retrying.state {
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

//! The futures of a call with a fallback: [`ResponseFuture`] (tower) and
//! [`CallFuture`] (direct).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_core::{Classify, Error};
use pin_project::pin_project;
use tower_service::Service;

use crate::state::{Shared, cause_of};
use crate::{Fallback, Recover};

#[pin_project(project = StateProj)]
enum State<F, R, Req> {
    /// The call runs, with a copy of the request if the answer needs one.
    Calling {
        #[pin]
        future: F,
        kept: Option<Req>,
    },
    /// The call failed: the fallback's answer runs.
    Answering {
        #[pin]
        future: R,
    },
}

/// What a call holds of its fallback's shared state: a borrow of the handle's (a direct
/// call), or a service's per-thread reference to the handle.
pub(crate) trait HoldsShared<A, C> {
    /// The fallback's shared state.
    fn shared(&self) -> &Shared<A, C>;
}

impl<A, C> HoldsShared<A, C> for &Shared<A, C> {
    #[inline]
    fn shared(&self) -> &Shared<A, C> {
        self
    }
}

impl<A, C> HoldsShared<A, C> for Arc<Fallback<A, C>> {
    #[inline]
    fn shared(&self) -> &Shared<A, C> {
        &self.shared
    }
}

/// A call and, if it fails, the fallback's answer.
#[pin_project]
pub(crate) struct Guarded<F, R, A, C, Req, H> {
    #[pin]
    state: State<F, R, Req>,
    holder: H,
    _shared: PhantomData<fn() -> (A, C)>,
}

impl<F, R, A, C, Req, H: HoldsShared<A, C>> Guarded<F, R, A, C, Req, H> {
    pub(crate) fn new(future: F, kept: Option<Req>, holder: H) -> Self {
        Guarded {
            state: State::Calling { future, kept },
            holder,
            _shared: PhantomData,
        }
    }

    /// The fallback's shared state.
    fn shared(&self) -> &Shared<A, C> {
        self.holder.shared()
    }
}

impl<F, A, C, Req, T, E, H> Future for Guarded<F, A::Future, A, C, Req, H>
where
    F: Future<Output = Result<T, E>>,
    A: Recover<Req, T, E>,
    C: Classify<T, E>,
    H: HoldsShared<A, C>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future, kept } => {
                    let result = ready!(future.poll(cx));
                    let shared = this.holder.shared();
                    let outcome = shared.classifier.classify(&result);
                    let Some(cause) = cause_of(outcome, result.is_err()) else {
                        return Poll::Ready(result);
                    };
                    shared.used(cause);
                    let answer = shared.action.recover(kept.take(), result);
                    this.state.set(State::Answering { future: answer });
                }
                StateProj::Answering { future } => return future.poll(cx),
            }
        }
    }
}

/// A service's call: the guarded call holding the service's per-thread reference to
/// the fallback.
type ServiceGuarded<F, R, A, C, Req> = Guarded<F, R, A, C, Req, Arc<Fallback<A, C>>>;

/// The response future of a [`FallbackService`](crate::FallbackService): the inner
/// service's response, or the fallback's answer when it failed.
///
/// # Cancel safety
///
/// Dropping it drops the inner call, or the fallback's answer under way.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S, Req, A, C>
where
    S: Service<Req>,
    A: Recover<Req, S::Response, S::Error>,
{
    #[pin]
    guarded: ServiceGuarded<S::Future, A::Future, A, C, Req>,
}

impl<S, Req, A, C> ResponseFuture<S, Req, A, C>
where
    S: Service<Req>,
    A: Recover<Req, S::Response, S::Error>,
{
    pub(crate) fn new(guarded: ServiceGuarded<S::Future, A::Future, A, C, Req>) -> Self {
        ResponseFuture { guarded }
    }
}

impl<S, Req, A, C> Future for ResponseFuture<S, Req, A, C>
where
    S: Service<Req>,
    A: Recover<Req, S::Response, S::Error>,
    C: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().guarded.poll(cx)
    }
}

impl<S, Req, A, C> fmt::Debug for ResponseFuture<S, Req, A, C>
where
    S: Service<Req>,
    A: Recover<Req, S::Response, S::Error>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("fallback", &self.guarded.shared().name)
            .finish_non_exhaustive()
    }
}

/// The future of a direct [`Fallback::call`](crate::Fallback::call):
/// `Result<T, hardy_core::Error<E>>` for an operation returning `Result<T, E>`.
///
/// It borrows the fallback, as Tokio's semaphore futures borrow theirs, so a call takes
/// no reference count; a call that must outlive the borrow (a spawned task) moves a
/// clone of the handle in with it.
///
/// # Cancel safety
///
/// As [`ResponseFuture`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<'a, Fut, A, C>
where
    Fut: Future,
    A: RecoverOutput<Fut::Output>,
{
    #[pin]
    guarded: Guarded<Fut, A::Future, A, C, (), &'a Shared<A, C>>,
}

/// [`Recover`] for an operation's output type; implemented for every answer that
/// recovers `Result<T, E>`. Sealed.
pub trait RecoverOutput<O>: crate::action::Answer {
    #[doc(hidden)]
    type Future;
}

impl<A, T, E> RecoverOutput<Result<T, E>> for A
where
    A: Recover<(), T, E> + crate::action::Answer,
{
    type Future = <A as Recover<(), T, E>>::Future;
}

impl<'a, Fut, A, C> CallFuture<'a, Fut, A, C>
where
    Fut: Future,
    A: RecoverOutput<Fut::Output>,
{
    pub(crate) fn new(guarded: Guarded<Fut, A::Future, A, C, (), &'a Shared<A, C>>) -> Self {
        CallFuture { guarded }
    }
}

impl<Fut, A, C, T, E> Future for CallFuture<'_, Fut, A, C>
where
    Fut: Future<Output = Result<T, E>>,
    A: Recover<(), T, E> + RecoverOutput<Result<T, E>, Future = <A as Recover<(), T, E>>::Future>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().guarded.poll(cx)).map_err(Error::Inner))
    }
}

impl<Fut, A, C> fmt::Debug for CallFuture<'_, Fut, A, C>
where
    Fut: Future,
    A: RecoverOutput<Fut::Output>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture")
            .field("fallback", &self.guarded.shared().name)
            .finish_non_exhaustive()
    }
}

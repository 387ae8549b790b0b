//! The futures of a guarded call: [`ResponseFuture`] (tower) and [`CallFuture`] (direct).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_core::{Classify, Error, Rejection};
use pin_project::pin_project;

use crate::CircuitBreaker;
use crate::permit::{Owner, Permit};

/// A call admitted by the breaker (run, classify, record) or rejected by it.
#[pin_project(project = GuardedProj)]
#[derive(Debug)]
pub(crate) enum Guarded<F, C, O: Owner> {
    Running {
        #[pin]
        future: F,
        permit: Permit<O>,
        classifier: C,
    },
    Rejected {
        rejection: Option<Rejection>,
    },
}

impl<F, C, O: Owner> Guarded<F, C, O> {
    #[inline(always)]
    pub(crate) fn running(future: F, permit: Permit<O>, classifier: C) -> Self {
        Guarded::Running {
            future,
            permit,
            classifier,
        }
    }

    #[inline(always)]
    pub(crate) fn rejected(rejection: Rejection) -> Self {
        Guarded::Rejected {
            rejection: Some(rejection),
        }
    }
}

impl<F, C, O, T, E> Future for Guarded<F, C, O>
where
    O: Owner,
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<Result<T, E>, Rejection>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardedProj::Running {
                future,
                permit,
                classifier,
            } => {
                let result = ready!(future.poll(cx));
                // Held until the future is dropped, which then only lets go of the
                // breaker: a permit records once, however often the future is polled.
                permit.record(classifier.classify(&result));
                Poll::Ready(Ok(result))
            }
            GuardedProj::Rejected { rejection } => Poll::Ready(Err(rejection
                .take()
                .expect("breaker future polled after completion"))),
        }
    }
}

/// The response future of a [`BreakerService`](crate::BreakerService): the inner
/// service's result, recorded by the breaker, or its error type made from
/// [`Rejection::CircuitOpen`].
///
/// # Cancel safety
///
/// Dropping it drops the inner future and records nothing; a half-open probe's slot is
/// freed for another probe.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, C> {
    #[pin]
    guarded: Guarded<F, C, Arc<CircuitBreaker>>,
}

impl<F, C> ResponseFuture<F, C> {
    #[inline(always)]
    pub(crate) fn new(guarded: Guarded<F, C, Arc<CircuitBreaker>>) -> Self {
        ResponseFuture { guarded }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
    E: From<Rejection>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().guarded.poll(cx)) {
            Ok(result) => result,
            Err(rejection) => Err(E::from(rejection)),
        })
    }
}

/// The future of a direct [`CircuitBreaker::call`](crate::CircuitBreaker::call):
/// `Result<T, hardy_core::Error<E>>` for an operation returning `Result<T, E>`.
///
/// Nothing runs until it is first polled: the breaker admits the call then, and the
/// operation's future is built inside this one, where it runs (it is never moved). It
/// borrows the breaker, as Tokio's semaphore futures borrow theirs, so a call takes no
/// reference count; a call that must outlive the borrow (a spawned task) moves a clone
/// of the handle in with it.
///
/// # Cancel safety
///
/// Dropped before its first poll, nothing was admitted; after, as [`ResponseFuture`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<'a, Op, Fut, C> {
    #[pin]
    state: CallState<'a, Op, Fut, C>,
}

#[pin_project(project = CallProj)]
enum CallState<'a, Op, Fut, C> {
    /// Not polled yet: the breaker, the operation and the classifier.
    Start {
        breaker: &'a CircuitBreaker,
        operation: Option<(Op, C)>,
    },
    /// Admitted or rejected.
    Guarded {
        #[pin]
        guarded: Guarded<Fut, C, &'a CircuitBreaker>,
    },
}

impl<'a, Op, Fut, C> CallFuture<'a, Op, Fut, C> {
    #[inline(always)]
    pub(crate) fn new(breaker: &'a CircuitBreaker, operation: Op, classifier: C) -> Self {
        CallFuture {
            state: CallState::Start {
                breaker,
                operation: Some((operation, classifier)),
            },
        }
    }
}

impl<Op, Fut, C, T, E> Future for CallFuture<'_, Op, Fut, C>
where
    Op: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                CallProj::Start { breaker, operation } => {
                    let breaker: &CircuitBreaker = breaker;
                    let (operation, classifier) = operation
                        .take()
                        .expect("breaker future polled after completion");
                    let guarded = match breaker.try_acquire() {
                        Ok(admission) => Guarded::running(
                            operation(),
                            Permit::new(breaker, admission),
                            classifier,
                        ),
                        Err(rejection) => Guarded::rejected(rejection),
                    };
                    state.set(CallState::Guarded { guarded });
                }
                CallProj::Guarded { guarded } => {
                    return Poll::Ready(match ready!(guarded.poll(cx)) {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(error)) => Err(Error::Inner(error)),
                        Err(rejection) => Err(Error::Rejected(rejection)),
                    });
                }
            }
        }
    }
}

impl<Op, Fut: fmt::Debug, C: fmt::Debug> fmt::Debug for CallFuture<'_, Op, Fut, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            CallState::Start { breaker, .. } => f
                .debug_struct("CallFuture")
                .field("breaker", breaker.name())
                .field("state", &"not started")
                .finish(),
            CallState::Guarded { guarded } => {
                f.debug_struct("CallFuture").field("call", guarded).finish()
            }
        }
    }
}

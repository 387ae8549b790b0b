//! The futures of a timed call: [`Timed`], [`ResponseFuture`] and [`CallFuture`].

use std::borrow::Borrow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_core::Rejection;
use hardy_core::future::WrapInner;
use pin_project::pin_project;
use tokio::time::Instant;

use crate::Timeout;
use crate::countdown::Countdown;

/// A future limited by a [`Timeout`]: resolves to `Ok` with the inner future's output,
/// or to `Err(`[`Rejection::Timeout`]`)` when the limit passes first. Made by
/// [`Timeout::wrap`].
///
/// The inner future is polled first. If it is ready, no timer is created and no clock
/// is read; the timer starts at the first poll that finds it pending, and is allocated
/// then. Kept inline, Tokio's timer would be most of the future's size (112 bytes),
/// which every caller's `.await` copies, twice, for every call, including those that
/// are ready at once.
///
/// # Cancel safety
///
/// Dropping it drops the inner future and the timer.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Timed<F, H = Timeout> {
    #[pin]
    future: F,
    countdown: Countdown,
    /// The [`Timeout`], or (for a service) its per-thread reference.
    timeout: H,
}

impl<F, H> Timed<F, H> {
    pub(crate) fn new(future: F, timeout: H, deadline: Option<Instant>) -> Self {
        Timed::counting(future, timeout, Countdown::new(deadline))
    }

    pub(crate) fn counting(future: F, timeout: H, countdown: Countdown) -> Self {
        Timed {
            future,
            countdown,
            timeout,
        }
    }

    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The inner future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// The inner future, taken out.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future, H: Borrow<Timeout>> Future for Timed<F, H> {
    type Output = Result<F::Output, Rejection>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        this.countdown
            .poll_expired(Borrow::<Timeout>::borrow(this.timeout), cx)
            .map(Err)
    }
}

/// The response future of a [`TimeoutService`](crate::TimeoutService): the inner
/// service's result, or its error type made from [`Rejection::Timeout`].
///
/// # Cancel safety
///
/// Dropping it drops the inner service's future and the timer, and nothing else.
///
/// `H` is what it holds of the [`Timeout`]: a service's per-thread reference, so that
/// threads calling one timeout never write one reference count.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, H = Arc<Timeout>> {
    #[pin]
    state: State<F, H>,
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F, H> {
    Running {
        #[pin]
        timed: Timed<F, H>,
    },
    Refused {
        rejection: Option<Rejection>,
    },
}

impl<F, H> ResponseFuture<F, H> {
    pub(crate) fn running(timed: Timed<F, H>) -> Self {
        ResponseFuture {
            state: State::Running { timed },
        }
    }

    pub(crate) fn refused(rejection: Rejection) -> Self {
        ResponseFuture {
            state: State::Refused {
                rejection: Some(rejection),
            },
        }
    }
}

impl<F, H, T, E> Future for ResponseFuture<F, H>
where
    F: Future<Output = Result<T, E>>,
    H: Borrow<Timeout>,
    E: From<Rejection>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { timed } => Poll::Ready(match ready!(timed.poll(cx)) {
                Ok(result) => result,
                Err(rejection) => Err(E::from(rejection)),
            }),
            StateProj::Refused { rejection } => Poll::Ready(Err(E::from(
                rejection
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ))),
        }
    }
}

/// The future of a direct [`Timeout::call`]: resolves to `Result<T, hardy_core::Error<E>>`
/// for an operation returning `Result<T, E>`.
///
/// It borrows the timeout, as Tokio's semaphore futures borrow theirs, so a call takes
/// no reference count; a call that must outlive the borrow (a spawned task) moves a
/// clone of the handle in with it, or uses [`Timeout::wrap`], which holds one.
pub type CallFuture<'a, Fut> = ResponseFuture<WrapInner<Fut>, &'a Timeout>;

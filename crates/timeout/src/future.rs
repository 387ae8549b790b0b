//! The futures of a timed call: [`Timed`], [`ResponseFuture`] and [`CallFuture`].

use std::borrow::Borrow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_core::Rejection;
use hardy_core::future::WrapInner;
use pin_project::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::{Deadline, Timeout};

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

/// One call's countdown, without the timeout: whoever holds it keeps the [`Timeout`] and
/// polls it with the timeout whenever the call is found pending. The first such poll
/// reads the clock and allocates the timer, so a call that is never pending reads no
/// clock and allocates nothing; the countdown ends at the timeout's limit, or at the
/// caller's deadline if that is earlier.
///
/// [`Timed`] and the timeout's service hold one beside the timeout; a future that
/// composes several patterns and keeps one reference to all their handles holds a
/// countdown instead (`hardy::Pipeline`).
#[derive(Debug)]
pub struct Countdown {
    /// The timer, from the first poll that found the call pending.
    sleep: Option<Pin<Box<Sleep>>>,
    timer: Timer,
}
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// Not polled pending yet: no clock read, no timer; the caller's deadline, if the
    /// request carried one, kept for when the timer starts.
    Idle { deadline: Option<Instant> },
    /// Counting since `started`; `sleep` fires at the limit (or `sleep` is `None` when
    /// the limit is too far away to ever fire).
    Armed { started: Instant, by_deadline: bool },
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

impl Countdown {
    /// A countdown not started, for a call whose caller's deadline, if any, is
    /// `deadline`.
    #[inline(always)]
    pub fn new(deadline: Option<Instant>) -> Self {
        Countdown {
            sleep: None,
            timer: Timer::Idle { deadline },
        }
    }

    /// The countdown of a call to `timeout` whose caller's deadline is `deadline`, or,
    /// if that deadline has passed, the call's refusal: [`Rejection::Timeout`] with
    /// nothing elapsed, counted and reported by the timeout as its layer does for a
    /// call that arrives too late.
    #[inline]
    pub fn for_call(timeout: &Timeout, deadline: Option<Deadline>) -> Result<Self, Rejection> {
        match deadline {
            None => Ok(Countdown::new(None)),
            Some(deadline) if deadline.is_expired() => Err(timeout.refuse_expired()),
            Some(deadline) => Ok(Countdown::new(Some(deadline.instant()))),
        }
    }

    /// Starts the countdown if it has not started, and is ready with
    /// [`Rejection::Timeout`] once it runs out. Polled only while the call is pending:
    /// the first poll is when the call's time starts. `timeout` is the timeout the
    /// countdown is for.
    #[inline]
    pub fn poll_expired(&mut self, timeout: &Timeout, cx: &mut Context<'_>) -> Poll<Rejection> {
        if let Timer::Idle { deadline } = self.timer {
            self.start(timeout, deadline);
        }
        let (
            Timer::Armed {
                started,
                by_deadline,
            },
            Some(sleep),
        ) = (self.timer, self.sleep.as_mut())
        else {
            // A limit too far away to add to the clock never fires.
            return Poll::Pending;
        };
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(timeout.expired(started, sleep.deadline(), by_deadline))
    }

    #[cold]
    fn start(&mut self, timeout: &Timeout, deadline: Option<Instant>) {
        let started = Instant::now();
        let own = started.checked_add(timeout.duration());
        let (expiry, by_deadline) = match (own, deadline) {
            (Some(own), Some(deadline)) if deadline < own => (Some(deadline), true),
            (None, Some(deadline)) => (Some(deadline), true),
            (own, _) => (own, false),
        };
        self.timer = Timer::Armed {
            started,
            by_deadline,
        };
        if let Some(expiry) = expiry {
            self.sleep = Some(Box::pin(sleep_until(expiry)));
        }
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

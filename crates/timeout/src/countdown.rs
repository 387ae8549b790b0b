//! [`Countdown`]: one call's countdown, which starts at the first poll that finds the
//! call pending.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::Rejection;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::{Deadline, Timeout};

/// One call's countdown, without the timeout: whoever holds it keeps the [`Timeout`] and
/// polls it with the timeout whenever the call is found pending. The first such poll
/// reads the clock and allocates the timer, so a call that is never pending reads no
/// clock and allocates nothing; the countdown ends at the timeout's limit, or at the
/// caller's deadline if that is earlier.
///
/// [`Timed`](crate::future::Timed) and the timeout's service hold one beside the
/// timeout; `hardy::Pipeline`, which keeps one reference to all its handles, holds one
/// for each attempt. It holds nothing but its timer.
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

//! [`Tries`]: one call's retries (attempts made, the schedule's progress, the deadline
//! and the timer of the delays), on which every retrying future is built.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hardy_core::Outcome;
use hardy_timeout::Deadline;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::Retry;
use crate::schedule::Progress;

/// Where one call stands: attempts made, the schedule's progress, its deadline.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallState {
    pub(crate) attempts: u32,
    pub(crate) progress: Progress,
    pub(crate) deadline: Option<Instant>,
}

/// What follows a failed attempt: [`Tries::failed`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The call ends with this attempt's result.
    Return,
    /// Another attempt, after this delay.
    Retry(Duration),
}

/// About thirty years: where a delay too long for the clock ends.
const FAR_FUTURE_SECS: u64 = 30 * 365 * 24 * 3600;

/// One call's retries, without the retry: the attempts made, the schedule's progress,
/// the deadline, and the timer of the delays. Whoever holds it keeps the [`Retry`] and
/// hands it to each method; it decides as the retry's own futures do (they are built on
/// it).
///
/// The retry's own futures hold one beside their reference to the retry;
/// `hardy::Pipeline`, which keeps one reference to all its handles, holds one per call.
/// It holds nothing but its timer: a call's deposit in the budget is made at its start.
#[derive(Debug, Default)]
pub struct Tries {
    call: CallState,
    /// The timer of the delays, made at the first retry and reset for the next ones: a
    /// call that succeeds at once carries no timer, and one that retries allocates it
    /// once, not per attempt.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Tries {
    /// A call starts: it deposits in the retry's budget, if it has one, and its deadline
    /// is the earlier of `deadline` and the retry's `max_duration`.
    #[inline]
    pub fn start(retry: &Retry, deadline: Option<Deadline>) -> Tries {
        Tries {
            call: retry.start(deadline),
            timer: None,
        }
    }

    /// Starts the call in place (a direct call, at its first poll): the timer, if any,
    /// is kept, and nothing is dropped.
    #[inline]
    pub(crate) fn begin(&mut self, retry: &Retry, deadline: Option<Deadline>) {
        self.call = retry.start(deadline);
    }

    /// The attempt succeeded: the call ends with it.
    #[inline]
    pub fn succeeded(&self, retry: &Retry) {
        retry.succeeded(&self.call);
    }

    /// The attempt failed with `outcome`: the call ends with its result, or another
    /// attempt follows after a delay (the timer is set for it when it is not zero; see
    /// [`poll_delay`](Self::poll_delay)). `can_retry` says whether another attempt can be
    /// made at all (whether the request could be copied).
    pub fn failed(&mut self, retry: &Retry, outcome: Outcome, can_retry: bool) -> Next {
        let next = retry.after_failure(&mut self.call, outcome, can_retry);
        if let Next::Retry(delay) = next
            && !delay.is_zero()
        {
            let now = Instant::now();
            // A delay too long to add to the clock waits as long as the clock allows.
            let wake_at = now
                .checked_add(delay)
                .unwrap_or_else(|| now + Duration::from_secs(FAR_FUTURE_SECS));
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(wake_at),
                None => self.timer = Some(Box::pin(sleep_until(wake_at))),
            }
        }
        next
    }

    /// Ready when the delay [`failed`](Self::failed) set has passed (at once if none was
    /// set).
    pub fn poll_delay(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.timer {
            Some(timer) => timer.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }

    /// The service failed getting ready for another attempt, with `outcome`: the call
    /// ends with that error.
    #[cold]
    pub fn not_ready(&self, retry: &Retry, outcome: Outcome) {
        retry.not_ready(&self.call, outcome);
    }

    /// The attempts that have ended so far.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.call.attempts
    }
}

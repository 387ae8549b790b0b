//! [`Retrying`]: the retry loop every retrying future is built on (the retry's own
//! futures and `hardy::Pipeline`'s): make an attempt, classify its result, and stop, or
//! wait out the delay and make the next one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::{Classify, Outcome};
use hardy_timeout::Deadline;
use pin_project::pin_project;

use crate::Retry;
use crate::tries::{Next, Tries};

/// Makes and runs the attempts of one call, holding what the call holds of its retry
/// (and of whatever else guards its attempts). Dropped after the running attempt, so
/// that what it holds is given back once the attempt is gone.
pub trait Attempts {
    /// One attempt while it runs.
    type Attempt;
    /// An attempt's success.
    type Ok;
    /// An attempt's error.
    type Error;
    /// What an attempt is made with while it waits to be made (a service being made
    /// ready), kept in the call's state only between attempts.
    type Caller;

    /// The retry, if there is one: without, a failed attempt ends the call.
    fn retry(&self) -> Option<&Retry>;

    /// The next attempt, once it can be made; an error ends the call.
    fn poll_attempt(
        &mut self,
        caller: &mut Option<Self::Caller>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Attempt, Self::Error>>;

    /// Polls a running attempt.
    fn poll_running(
        &mut self,
        attempt: Pin<&mut Self::Attempt>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Ok, Self::Error>>;

    /// An attempt ended, its result classified as `outcome`, before the retry judges
    /// it.
    #[inline(always)]
    fn ended(&mut self, outcome: Outcome) {
        let _ = outcome;
    }

    /// Whether another attempt can be made at all.
    fn can_retry(&self) -> bool;

    /// The first attempt, if it can be made without waiting (a direct call's operation
    /// can; a service must be polled ready first).
    #[inline]
    fn first_now(&mut self) -> Option<Self::Attempt> {
        None
    }
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
// A whole word for the tag: with a niche (a deadline's nanoseconds) or a one-byte tag,
// the narrow store that sets it is read back by the wide loads that move the future, a
// store-forwarding stall on every call.
#[repr(u64)]
enum State<F, W> {
    /// A direct call not yet polled: start it at the first poll.
    Start { deadline: Option<Deadline> },
    /// An attempt is running.
    Running {
        #[pin]
        attempt: F,
    },
    /// Waiting before the next attempt, on the call's timer.
    Sleeping,
    /// The next attempt is to be made, with what it is made with once there is one.
    Ready { caller: Option<W> },
    /// The call ended after a failed readiness check, or is dropped: polling again is a
    /// bug.
    Done,
}

/// The retry loop of one call: attempts made by `A`, classified by `C`, judged by the
/// retry `A` holds, if any.
#[pin_project]
#[derive(Debug)]
pub struct Retrying<A, F, C, W = ()> {
    // Declared first: dropped before the attempts, which may give back what the running
    // attempt was admitted with.
    #[pin]
    state: State<F, W>,
    attempts: A,
    classifier: C,
    tries: Tries,
}

impl<A, F, C, W> Retrying<A, F, C, W> {
    /// A call not started yet: it starts, with `deadline`, at its first poll.
    pub fn starting(attempts: A, classifier: C, deadline: Option<Deadline>) -> Self {
        Retrying {
            state: State::Start { deadline },
            attempts,
            classifier,
            tries: Tries::default(),
        }
    }

    /// A call whose first attempt runs already, `tries` started for it.
    #[inline]
    pub fn running(attempt: F, attempts: A, classifier: C, tries: Tries) -> Self {
        Retrying {
            state: State::Running { attempt },
            attempts,
            classifier,
            tries,
        }
    }

    /// The call's tries.
    pub fn tries(&self) -> &Tries {
        &self.tries
    }

    /// The attempts, for a caller's `Debug`.
    pub fn attempts(&self) -> &A {
        &self.attempts
    }

    /// The deadline slot of a call not started, to set it before the first poll.
    pub(crate) fn deadline_mut(&mut self) -> Option<&mut Option<Deadline>> {
        match &mut self.state {
            State::Start { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// What the call is doing, for `Debug`.
    pub fn describe(&self) -> &'static str {
        match &self.state {
            State::Start { .. } => "not started",
            State::Running { .. } => "running",
            State::Sleeping => "waiting to retry",
            State::Ready { .. } => "readying a retry",
            State::Done => "done",
        }
    }
}

impl<A, C> Future for Retrying<A, A::Attempt, C, A::Caller>
where
    A: Attempts,
    C: Classify<A::Ok, A::Error>,
{
    type Output = Result<A::Ok, A::Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The path of a call that succeeds at once, kept small enough to inline.
        let this = self.as_mut().project();
        if let StateProj::Running { attempt } = this.state.project() {
            let result = ready!(this.attempts.poll_running(attempt, cx));
            if let Some(poll) = self.as_mut().judge(result, cx) {
                return poll;
            }
        }
        self.poll_retries(cx)
    }
}

impl<A, C> Retrying<A, A::Attempt, C, A::Caller>
where
    A: Attempts,
    C: Classify<A::Ok, A::Error>,
{
    /// Starts a call that has not started (a direct call, at its first poll) and makes
    /// its first attempt if that needs no waiting, so that the attempt is polled on the
    /// inlined path rather than in [`poll_retries`](Self::poll_retries).
    #[inline]
    pub fn start(self: Pin<&mut Self>) {
        let mut this = self.project();
        if let StateProj::Start { deadline } = this.state.as_mut().project() {
            if let Some(retry) = this.attempts.retry() {
                this.tries.begin(retry, deadline.take());
            }
            match this.attempts.first_now() {
                Some(attempt) => this.state.set(State::Running { attempt }),
                None => this.state.set(State::Ready { caller: None }),
            }
        }
    }

    /// An attempt ended with `result`: classified once, told to the attempts, judged by
    /// the retry. What the call's poll returns now, or `None` to go on to the next
    /// attempt.
    #[inline(always)]
    fn judge(
        mut self: Pin<&mut Self>,
        result: Result<A::Ok, A::Error>,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Result<A::Ok, A::Error>>> {
        let this = self.as_mut().project();
        let outcome = this.classifier.classify(&result);
        this.attempts.ended(outcome);
        if outcome.is_success() {
            if let Some(retry) = this.attempts.retry() {
                this.tries.succeeded(retry);
            }
            return Some(Poll::Ready(result));
        }
        if !self.as_mut().failed(outcome) {
            return Some(Poll::Ready(result));
        }
        if matches!(self.state, State::Ready { .. }) {
            // A zero delay: let other tasks run before the next attempt.
            cx.waker().wake_by_ref();
            return Some(Poll::Pending);
        }
        None
    }

    /// An attempt failed: `true` if another follows (and the state says when).
    #[cold]
    #[inline(never)]
    fn failed(self: Pin<&mut Self>, outcome: Outcome) -> bool {
        let mut this = self.project();
        let Some(retry) = this.attempts.retry() else {
            return false;
        };
        let can_retry = this.attempts.can_retry();
        match this.tries.failed(retry, outcome, can_retry) {
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
                StateProj::Running { attempt } => {
                    let result = ready!(this.attempts.poll_running(attempt, cx));
                    if let Some(poll) = self.as_mut().judge(result, cx) {
                        return poll;
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
                    match ready!(this.attempts.poll_attempt(caller, cx)) {
                        Ok(attempt) => this.state.set(State::Running { attempt }),
                        Err(error) => {
                            let result = Err(error);
                            if let Some(retry) = this.attempts.retry() {
                                this.tries
                                    .not_ready(retry, this.classifier.classify(&result));
                            }
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

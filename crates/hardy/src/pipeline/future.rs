//! [`ResponseFuture`]: a pipeline's call, the retry's loop over attempts that are each
//! admitted by the breaker, the rate limit and the bulkhead, and timed by the timeout.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_breaker::hooks::Ticket;
use hardy_bulkhead::hooks::{self as bulkhead_hooks, Queued, Slot};
use hardy_core::admission::{Admission, Wait};
use hardy_core::{Classify, Outcome, Rejection, Spared};
use hardy_rate_limit::Limit;
use hardy_rate_limit::hooks::Turn;
use hardy_retry::hooks::{Attempts, Retrying, Tries};
use hardy_retry::{CloneRequest, Retry};
use hardy_timeout::hooks::Countdown;
use hardy_timeout::{Deadline, ExtractDeadline, NoDeadline};
use pin_project::pin_project;
use tower_service::Service;

use super::Pipeline;

/// What a [`PipelineService`](super::PipelineService) shares with the calls it makes:
/// the pipeline's handles and a spare of the inner service, which a call clones only
/// for a retry (so a call that succeeds at once clones no service), as the retry's own
/// service does.
pub(super) type Shared<S> = Spared<Pipeline, S>;

/// What the breaker, the rate limit and the bulkhead decided for an attempt.
enum Decision {
    /// Admitted by all: call the service now.
    Open,
    /// The rate limit's turn is to be waited for (then the bulkhead decides).
    Turn(Turn),
    /// A place in the bulkhead's queue.
    Queued(Queued),
    /// Refused by one of them.
    Refused(Rejection),
}

/// One attempt of a pipeline's call.
#[pin_project(project = AttemptProj)]
// A whole word for the tag, as the retry's state has.
#[repr(u64)]
pub(super) enum Attempt<S: Service<Req>, Req> {
    /// Admitted: the attempt runs.
    Running {
        #[pin]
        future: S::Future,
    },
    /// Waiting for the rate limit's turn, with the readied service and the request.
    Turn {
        turn: Turn,
        call: Option<Box<(S, Req)>>,
    },
    /// Waiting for a bulkhead slot, with the readied service and the request.
    Queued {
        queued: Queued,
        call: Option<Box<(S, Req)>>,
    },
    /// Refused: the error made of the rejection, until the attempt ends with it (made at
    /// once, so that the attempt keeps the error, not the larger rejection).
    Rejected { error: Option<S::Error> },
    /// Ended by its timeout, or returned.
    Done,
}

/// A pipeline call's attempts: what each attempt is admitted and timed with, and what
/// the running attempt holds (the breaker's ticket, the bulkhead's slot, the timeout's
/// countdown). A guard: dropped after the running attempt, it frees the slot and lets
/// go of the ticket unrecorded.
pub(super) struct Steps<S, Req, P, X> {
    shared: Arc<Shared<S>>,
    breaker: Option<Ticket>,
    slot: Option<Slot>,
    countdown: Countdown,
    /// The copy of the request for the next attempt, if it could be copied.
    copy: Option<Req>,
    policy: P,
    /// What reads the caller's deadline from each attempt's request, as the timeout's
    /// layer reads it (nothing, by default).
    deadline: X,
}

impl<S, Req, P, X> Steps<S, Req, P, X>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    P: CloneRequest<Req>,
    X: ExtractDeadline<Req>,
{
    /// A call's first attempt, with `service` readied by the caller: its tries, its
    /// attempts, the attempt, and the countdown of the whole call (idle when the
    /// pipeline has no overall limit).
    #[inline(always)]
    pub(super) fn first(
        shared: Arc<Shared<S>>,
        service: &mut S,
        request: Req,
        policy: P,
        deadline: X,
    ) -> (Tries, Self, Attempt<S, Req>, Countdown) {
        let pipeline = shared.handle();
        let (tries, copy, overall) = match (&pipeline.retry, &pipeline.overall) {
            (None, None) => (Tries::default(), None, Countdown::new(None)),
            (retry, overall) => {
                let caller = deadline.deadline(&request);
                // The retry stops at the earlier of the caller's deadline and the end of
                // the overall limit; the overall countdown ends at its limit, or at the
                // caller's deadline if that is earlier.
                let until = match overall {
                    None => caller,
                    Some(overall) => {
                        let end = Deadline::after(overall.duration());
                        Some(caller.map_or(end, |caller| caller.earliest(end)))
                    }
                };
                let tries = retry
                    .as_ref()
                    .map_or_else(Tries::default, |retry| Tries::start(retry, until));
                let copy = retry.as_ref().and_then(|_| policy.clone_request(&request));
                (tries, copy, Countdown::new(caller.map(Deadline::instant)))
            }
        };
        let mut steps = Steps {
            shared,
            breaker: None,
            slot: None,
            countdown: Countdown::new(None),
            copy,
            policy,
            deadline,
        };
        let attempt = steps.attempt(service, request);
        (tries, steps, attempt, overall)
    }

    /// Admits an attempt and calls `service`, or makes it wait, or refuses it.
    #[inline(always)]
    fn attempt(&mut self, service: &mut S, request: Req) -> Attempt<S, Req> {
        match self.admit(&request) {
            Decision::Open => self.run(service, request),
            decision => wait_or_refuse(decision, service, request),
        }
    }

    /// Admits an attempt through the breaker, the rate limit and the bulkhead, in that
    /// order, keeping the breaker's ticket and the bulkhead's slot.
    #[inline(always)]
    fn admit(&mut self, request: &Req) -> Decision {
        let pipeline = self.shared.handle();
        if let Some(handle) = &pipeline.breaker {
            match Ticket::admit(handle) {
                Ok(ticket) => self.breaker = Some(ticket),
                Err(rejection) => return Decision::Refused(rejection),
            }
        }
        if let Some(limiter) = &pipeline.rate_limit
            && let Err(later) = Limit::<Req>::admit_request(limiter, request)
        {
            match Limit::<Req>::admit_later(limiter, later) {
                Admission::Now(()) => {}
                Admission::Later(turn) => return Decision::Turn(turn),
                Admission::Refused(rejection) => return Decision::Refused(rejection),
            }
        }
        self.admit_bulkhead()
    }

    /// The bulkhead's part of [`admit`](Self::admit), also made after a rate limit's
    /// wait.
    #[inline(always)]
    fn admit_bulkhead(&mut self) -> Decision {
        if let Some(bulkhead) = &self.shared.handle().bulkhead {
            match bulkhead_hooks::admit(bulkhead) {
                Admission::Now(slot) => self.slot = Some(slot),
                Admission::Later(queued) => return Decision::Queued(queued),
                Admission::Refused(rejection) => return Decision::Refused(rejection),
            }
        }
        Decision::Open
    }

    /// Calls the service for an admitted attempt, its countdown set for the caller's
    /// deadline; an attempt that starts past the deadline is refused by the timeout, as
    /// the timeout's layer refuses it.
    #[inline(always)]
    fn run(&mut self, service: &mut S, request: Req) -> Attempt<S, Req> {
        if let Some(timeout) = &self.shared.handle().timeout
            && let Some(deadline) = self.deadline.deadline(&request)
        {
            match Countdown::for_call(timeout, Some(deadline)) {
                Ok(started) => self.countdown = started,
                Err(rejection) => {
                    return Attempt::Rejected {
                        error: Some(S::Error::from(rejection)),
                    };
                }
            }
        }
        Attempt::Running {
            future: service.call(request),
        }
    }

    /// A running attempt was found pending: its countdown starts, if it has not, and
    /// ends the attempt with [`Rejection::Timeout`] once it runs out.
    #[cold]
    #[inline(never)]
    fn poll_countdown(
        &mut self,
        mut attempt: Pin<&mut Attempt<S, Req>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Response, S::Error>> {
        let Some(timeout) = &self.shared.handle().timeout else {
            return Poll::Pending;
        };
        let rejection = ready!(self.countdown.poll_expired(timeout, cx));
        // The attempt is abandoned: dropped now, before its slot is freed (stacked, the
        // timeout's future keeps it until the caller drops the response future; nothing
        // decides differently).
        attempt.set(Attempt::Done);
        Poll::Ready(Err(S::Error::from(rejection)))
    }

    /// Polls an attempt that does not run yet: its waits for a turn or a slot, then the
    /// attempt, or its refusal.
    #[cold]
    #[inline(never)]
    fn poll_slow(
        &mut self,
        mut attempt: Pin<&mut Attempt<S, Req>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Response, S::Error>> {
        loop {
            match attempt.as_mut().project() {
                AttemptProj::Running { future } => {
                    if let Poll::Ready(result) = future.poll(cx) {
                        return Poll::Ready(result);
                    }
                    return self.poll_countdown(attempt, cx);
                }
                AttemptProj::Turn { turn, call } => {
                    if let Err(rejection) = ready!(Pin::new(turn).poll(cx)) {
                        attempt.set(Attempt::Done);
                        return Poll::Ready(Err(S::Error::from(rejection)));
                    }
                    let call = call.take().expect("the call is kept until its turn");
                    let next = match self.admit_bulkhead() {
                        Decision::Open => {
                            let (mut service, request) = *call;
                            self.run(&mut service, request)
                        }
                        Decision::Queued(queued) => Attempt::Queued {
                            queued,
                            call: Some(call),
                        },
                        Decision::Refused(rejection) => Attempt::Rejected {
                            error: Some(S::Error::from(rejection)),
                        },
                        Decision::Turn(_) => unreachable!("the bulkhead gives no turns"),
                    };
                    attempt.set(next);
                }
                AttemptProj::Queued { queued, call } => match ready!(queued.poll_admit(cx)) {
                    Ok(slot) => {
                        self.slot = Some(slot);
                        let (mut service, request) =
                            *call.take().expect("the call is kept until it is admitted");
                        let next = self.run(&mut service, request);
                        attempt.set(next);
                    }
                    Err(rejection) => {
                        attempt.set(Attempt::Done);
                        return Poll::Ready(Err(S::Error::from(rejection)));
                    }
                },
                AttemptProj::Rejected { error } => {
                    return Poll::Ready(Err(error
                        .take()
                        .expect("pipeline future polled after completion")));
                }
                AttemptProj::Done => panic!("pipeline future polled after completion"),
            }
        }
    }
}

/// The attempt of an attempt that must wait or was refused. A waiting attempt takes the
/// service made ready for it, leaving a clone in its place, as tower's buffering layers
/// do.
#[cold]
#[inline(never)]
fn wait_or_refuse<S, Req>(decision: Decision, service: &mut S, request: Req) -> Attempt<S, Req>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
{
    let take = || {
        let clone = service.clone();
        Some(Box::new((std::mem::replace(service, clone), request)))
    };
    match decision {
        Decision::Open => unreachable!("an open decision is called at once"),
        Decision::Turn(turn) => Attempt::Turn { turn, call: take() },
        Decision::Queued(queued) => Attempt::Queued {
            queued,
            call: take(),
        },
        Decision::Refused(rejection) => Attempt::Rejected {
            error: Some(S::Error::from(rejection)),
        },
    }
}

impl<S, Req, P, X> Attempts for Steps<S, Req, P, X>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    P: CloneRequest<Req>,
    X: ExtractDeadline<Req>,
{
    type Attempt = Attempt<S, Req>;
    type Ok = S::Response;
    type Error = S::Error;
    /// Boxed: the call's state carries a pointer, not a service, while a retry waits.
    type Caller = Box<S>;

    #[inline(always)]
    fn retry(&self) -> Option<&Retry> {
        self.shared.handle().retry.as_ref()
    }

    fn poll_attempt(
        &mut self,
        caller: &mut Option<Box<S>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Attempt<S, Req>, S::Error>> {
        let service = caller.get_or_insert_with(|| Box::new(self.shared.spare()));
        ready!(service.poll_ready(cx))?;
        let mut service = caller.take().expect("made ready above");
        let request = self
            .copy
            .take()
            .expect("an attempt is made only while a request is kept");
        self.copy = self.policy.clone_request(&request);
        self.countdown = Countdown::new(None);
        Poll::Ready(Ok(self.attempt(&mut service, request)))
    }

    #[inline(always)]
    fn poll_running(
        &mut self,
        mut attempt: Pin<&mut Attempt<S, Req>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Response, S::Error>> {
        // The path of an attempt that runs, kept small enough to inline.
        if let AttemptProj::Running { future } = attempt.as_mut().project() {
            if let Poll::Ready(result) = future.poll(cx) {
                return Poll::Ready(result);
            }
            return match &self.shared.handle().timeout {
                None => Poll::Pending,
                Some(_) => self.poll_countdown(attempt, cx),
            };
        }
        self.poll_slow(attempt, cx)
    }

    /// The attempt ended: its slot is freed and the breaker records it, as the
    /// bulkhead's and the breaker's futures do when the call below them ends.
    #[inline(always)]
    fn ended(&mut self, outcome: Outcome) {
        let pipeline = self.shared.handle();
        if let (Some(slot), Some(bulkhead)) = (self.slot.take(), &pipeline.bulkhead) {
            slot.release(bulkhead);
        }
        if let (Some(ticket), Some(handle)) = (&mut self.breaker, &pipeline.breaker) {
            ticket.record(handle, outcome);
        }
    }

    #[inline]
    fn can_retry(&self) -> bool {
        self.copy.is_some()
    }
}

impl<S, Req, P, X> Drop for Steps<S, Req, P, X> {
    #[inline]
    fn drop(&mut self) {
        // An attempt that ended holds nothing: its slot is freed and its ticket spent.
        if self.slot.is_some()
            || self
                .breaker
                .as_ref()
                .is_some_and(|ticket| !ticket.is_spent())
        {
            self.release();
        }
    }
}

impl<S, Req, P, X> Steps<S, Req, P, X> {
    /// Lets go of what a dropped call holds, as the stacked layers' futures do: the slot
    /// is freed, and a half-open probe's slot with the ticket.
    #[cold]
    #[inline(never)]
    fn release(&mut self) {
        let pipeline = self.shared.handle();
        if let (Some(slot), Some(bulkhead)) = (self.slot.take(), &pipeline.bulkhead) {
            slot.release(bulkhead);
        }
        if let (Some(ticket), Some(breaker)) = (&mut self.breaker, &pipeline.breaker) {
            ticket.release(breaker);
        }
    }
}

/// The response future of a [`PipelineService`](super::PipelineService): the last
/// attempt's result, or its error type made from the breaker's, the rate limit's, the
/// bulkhead's or the timeout's [`Rejection`].
///
/// It is the retry's own loop ([`RetryService`](crate::retry::RetryService)'s), whose
/// attempts are each admitted by the breaker, the rate limit and the bulkhead and timed
/// by the timeout. It holds one reference to what the service shares with its calls
/// (the pipeline's handles and the spare service), and what each pattern keeps of the
/// call: the retry's tries, the breaker's ticket, the rate limit's turn, the bulkhead's
/// slot (or place in its queue) and the timeout's countdown.
///
/// # Cancel safety
///
/// Dropping it drops the running attempt (or the service and request waiting for a
/// turn or a slot, or being readied for a retry), which gives back a reserved turn not
/// yet come and leaves the bulkhead's queue; then frees the slot and lets go of the
/// breaker's ticket unrecorded (a half-open probe's slot is freed): the same as
/// dropping the layers' futures. A call ended by the pipeline's overall limit keeps
/// what it held until it is dropped, as a timeout layer's future keeps its inner one.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S: Service<Req>, Req, C, P, X = NoDeadline> {
    #[pin]
    retrying: PipelineRetrying<S, Req, C, P, X>,
    /// The countdown of the whole call, polled only when the pipeline has an overall
    /// limit.
    overall: Countdown,
}

/// The retry's loop over a pipeline call's attempts.
type PipelineRetrying<S, Req, C, P, X> = Retrying<Steps<S, Req, P, X>, Attempt<S, Req>, C, Box<S>>;

impl<S, Req, C, P, X> ResponseFuture<S, Req, C, P, X>
where
    S: Service<Req>,
{
    #[inline(always)]
    pub(super) fn new(
        attempt: Attempt<S, Req>,
        steps: Steps<S, Req, P, X>,
        classifier: C,
        tries: Tries,
        overall: Countdown,
    ) -> Self {
        ResponseFuture {
            retrying: Retrying::running(attempt, steps, classifier, tries),
            overall,
        }
    }
}

impl<S, Req, C, P, X> Future for ResponseFuture<S, Req, C, P, X>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    C: Classify<S::Response, S::Error>,
    P: CloneRequest<Req>,
    X: ExtractDeadline<Req>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = this.retrying.as_mut().poll(cx);
        if result.is_ready() {
            return result;
        }
        match &this.retrying.attempts().shared.handle().overall {
            None => Poll::Pending,
            Some(overall) => this
                .overall
                .poll_expired(overall, cx)
                .map(|rejection| Err(S::Error::from(rejection))),
        }
    }
}

impl<S: Service<Req>, Req, C, P, X> fmt::Debug for ResponseFuture<S, Req, C, P, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps = self.retrying.attempts();
        f.debug_struct("ResponseFuture")
            .field("pipeline", steps.shared.handle())
            .field("state", &self.retrying.describe())
            .field("breaker", &steps.breaker)
            .field("slot", &steps.slot)
            .field("tries", self.retrying.tries())
            .finish_non_exhaustive()
    }
}

//! [`Hedging`]: a hedged call, its attempts raced until the first success, and where
//! extra attempts come from ([`Attempts`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hardy_breaker::CircuitBreaker;
use hardy_core::{Classify, Outcome, Spared};
use hardy_retry::CloneRequest;
use pin_project::{pin_project, pinned_drop};
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

use crate::{Hedge, SkipReason};

/// How a hedged call ended, as its future tells the handle.
pub(crate) enum Ended {
    /// Attempt `attempt` (1 for the first) succeeded; `cancelled` others were running.
    Won { attempt: u32, cancelled: u32 },
    /// The call ended with a failure; `cancelled` others were running.
    Failed { cancelled: u32 },
}

mod sealed {
    pub trait Sealed {}
}

/// Where a hedged call's attempts come from: the caller's operation
/// ([`Operation`]), or a spare of the service with a copy of the request
/// ([`ServiceAttempts`]). Sealed: made by this crate only.
pub trait Attempts: sealed::Sealed {
    /// What a successful attempt answers.
    type Ok;
    /// What a failed attempt answers.
    type Error;
    /// One attempt.
    type Future: Future<Output = Result<Self::Ok, Self::Error>>;

    /// The hedge the call belongs to.
    fn hedge(&self) -> &Hedge;

    /// The breaker on the attempts' path, if the layer was given one: no extra attempt
    /// while it is not closed.
    fn breaker(&self) -> Option<&CircuitBreaker> {
        None
    }

    /// Starts an extra attempt once it can be (a service made ready), or tells why it
    /// cannot be made.
    fn poll_attempt(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::Future, SkipReason>>;
}

/// The attempts of a direct call: each a call of the operation.
pub struct Operation<'a, F> {
    hedge: &'a Hedge,
    operation: F,
}

impl<F> sealed::Sealed for Operation<'_, F> {}

impl<F, Fut, T, E> Attempts for Operation<'_, F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Ok = T;
    type Error = E;
    type Future = Fut;

    fn hedge(&self) -> &Hedge {
        self.hedge
    }

    fn poll_attempt(&mut self, _: &mut Context<'_>) -> Poll<Result<Fut, SkipReason>> {
        Poll::Ready(Ok((self.operation)()))
    }
}

impl<F> fmt::Debug for Operation<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("hedge", self.hedge.name())
            .finish_non_exhaustive()
    }
}

/// The attempts of a call through a [`HedgeService`](crate::HedgeService): each a call
/// of a clone of the service, made ready first, with a copy of the request.
pub struct ServiceAttempts<S, Req, P> {
    shared: Arc<Spared<Hedge, S>>,
    breaker: Option<CircuitBreaker>,
    /// The service being made ready for the next attempt.
    service: Option<S>,
    /// The request extra attempts are copied from; `None` when it could not be copied.
    template: Option<Req>,
    policy: P,
}

impl<S, Req, P> ServiceAttempts<S, Req, P> {
    pub(crate) fn new(
        shared: Arc<Spared<Hedge, S>>,
        breaker: Option<CircuitBreaker>,
        template: Option<Req>,
        policy: P,
    ) -> Self {
        ServiceAttempts {
            shared,
            breaker,
            service: None,
            template,
            policy,
        }
    }
}

impl<S, Req, P> sealed::Sealed for ServiceAttempts<S, Req, P> {}

impl<S, Req, P> Attempts for ServiceAttempts<S, Req, P>
where
    S: Service<Req> + Clone,
    P: CloneRequest<Req>,
{
    type Ok = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn hedge(&self) -> &Hedge {
        self.shared.handle()
    }

    fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    fn poll_attempt(&mut self, cx: &mut Context<'_>) -> Poll<Result<S::Future, SkipReason>> {
        let Some(request) = self
            .template
            .as_ref()
            .and_then(|template| self.policy.clone_request(template))
        else {
            return Poll::Ready(Err(SkipReason::NotCloneable));
        };
        let service = self.service.get_or_insert_with(|| self.shared.spare());
        match service.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => {
                self.service = None;
                Poll::Ready(Err(SkipReason::NotReady))
            }
            Poll::Ready(Ok(())) => {
                let mut service = self.service.take().expect("made ready above");
                Poll::Ready(Ok(service.call(request)))
            }
        }
    }
}

impl<S, Req, P> fmt::Debug for ServiceAttempts<S, Req, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAttempts")
            .field("hedge", self.shared.handle().name())
            .field("copyable", &self.template.is_some())
            .finish_non_exhaustive()
    }
}

/// A hedged call: its first attempt, the extra ones started when it ran too long, and
/// the timer of the next; ready with the first success, or with the last failure once
/// no attempt runs.
///
/// # Cancel safety
///
/// Dropping it drops every attempt still running (counted as cancelled). Once it is
/// ready, the other attempts are already dropped.
#[pin_project(PinnedDrop, project = HedgingProj)]
#[must_use = "futures do nothing unless polled"]
pub struct Hedging<A: Attempts, C> {
    #[pin]
    first: Option<A::Future>,
    /// The extra attempts running, with their numbers (2 for the first extra one).
    hedges: Vec<(u32, Pin<Box<A::Future>>)>,
    attempts: A,
    classifier: C,
    /// When the call was first found pending: the base of its delays and latencies.
    since: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    /// Extra attempts made or skipped so far.
    slots: u32,
    /// An extra attempt is due and waits for its service to be ready.
    starting: bool,
    done: bool,
}

impl<'a, F, Fut, T, E, C> Hedging<Operation<'a, F>, C>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    pub(crate) fn direct(hedge: &'a Hedge, mut operation: F, classifier: C) -> Self {
        hedge.started();
        let first = operation();
        Hedging::new(first, Operation { hedge, operation }, classifier)
    }
}

impl<A: Attempts, C> Hedging<A, C> {
    pub(crate) fn new(first: A::Future, attempts: A, classifier: C) -> Self {
        Hedging {
            first: Some(first),
            hedges: Vec::new(),
            attempts,
            classifier,
            since: None,
            timer: None,
            slots: 0,
            starting: false,
            done: false,
        }
    }
}

impl<A, C> Future for Hedging<A, C>
where
    A: Attempts,
    C: Classify<A::Ok, A::Error>,
{
    type Output = Result<A::Ok, A::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "hedged call polled after completion");
        if let Some(first) = this.first.as_mut().as_pin_mut()
            && let Poll::Ready(result) = first.poll(cx)
        {
            this.first.set(None);
            let hedge = this.attempts.hedge();
            if hedge.records_latency() {
                hedge.record(this.since.map(|since| since.elapsed()));
            }
            if let Some(result) = settle(&mut this, result, 1) {
                return Poll::Ready(result);
            }
        }
        if let Some(result) = poll_hedges(&mut this, cx) {
            return Poll::Ready(result);
        }
        this.since.get_or_insert_with(Instant::now);
        // A call that has not ended has an attempt running: the last attempt to end
        // ends it (`settle`).
        debug_assert!(running(&this) > 0);
        loop {
            let hedge = this.attempts.hedge();
            if *this.slots >= hedge.config().max_hedges {
                return Poll::Pending;
            }
            if *this.starting {
                match this.attempts.poll_attempt(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(reason)) => {
                        // The request or the service will not do for any later one.
                        this.attempts.hedge().skipped(reason);
                        *this.starting = false;
                        *this.slots = u32::MAX;
                    }
                    Poll::Ready(Ok(attempt)) => {
                        *this.starting = false;
                        *this.slots += 1;
                        let number = *this.slots + 1;
                        let after = this.since.map_or(Duration::ZERO, |since| since.elapsed());
                        this.attempts.hedge().hedged(number, after);
                        this.hedges.push((number, Box::pin(attempt)));
                        if let Some(result) = poll_hedges(&mut this, cx) {
                            return Poll::Ready(result);
                        }
                    }
                }
                continue;
            }
            if this.timer.is_none() {
                let Some(delay) = hedge.delay() else {
                    // Too few latencies known to trust a percentile: no hedging.
                    *this.slots = u32::MAX;
                    continue;
                };
                let since = this.since.expect("set above");
                let due = since + delay.saturating_mul(*this.slots + 1);
                *this.timer = Some(Box::pin(sleep_until(due)));
            }
            let timer = this.timer.as_mut().expect("set above");
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            *this.timer = None;
            match this.attempts.hedge().may_hedge(this.attempts.breaker()) {
                Ok(()) => *this.starting = true,
                Err(reason) => {
                    this.attempts.hedge().skipped(reason);
                    *this.slots += 1;
                }
            }
        }
    }
}

type Projection<'p, A, C> = HedgingProj<'p, A, C>;

/// Attempts still running.
fn running<A: Attempts, C>(this: &Projection<'_, A, C>) -> u32 {
    u32::from(this.first.is_some()) + u32::try_from(this.hedges.len()).unwrap_or(u32::MAX)
}

/// Polls the extra attempts; the call's result if one of them ends it.
fn poll_hedges<A, C>(
    this: &mut Projection<'_, A, C>,
    cx: &mut Context<'_>,
) -> Option<Result<A::Ok, A::Error>>
where
    A: Attempts,
    C: Classify<A::Ok, A::Error>,
{
    let mut index = 0;
    while index < this.hedges.len() {
        if let Poll::Ready(result) = this.hedges[index].1.as_mut().poll(cx) {
            let (number, _) = this.hedges.remove(index);
            if let Some(result) = settle(this, result, number) {
                return Some(result);
            }
        } else {
            index += 1;
        }
    }
    None
}

/// Judges attempt `number`'s result: the call's result if it ends the call (a success,
/// or a failure with nothing else running or `first_failure_ends`), the other attempts
/// then dropped; otherwise `None`, the failure dropped (a later one, or a success,
/// ends the call).
fn settle<A, C>(
    this: &mut Projection<'_, A, C>,
    result: Result<A::Ok, A::Error>,
    number: u32,
) -> Option<Result<A::Ok, A::Error>>
where
    A: Attempts,
    C: Classify<A::Ok, A::Error>,
{
    let success = matches!(this.classifier.classify(&result), Outcome::Success);
    let hedge = this.attempts.hedge();
    if !success && !hedge.config().first_failure_ends && running(this) > 0 {
        return None;
    }
    let cancelled = running(this);
    if this.first.is_some() && hedge.records_latency() {
        // The first attempt lost: it ran at least this long.
        hedge.record(this.since.map(|since| since.elapsed()));
    }
    this.first.set(None);
    this.hedges.clear();
    *this.timer = None;
    *this.done = true;
    let hedge = this.attempts.hedge();
    hedge.ended(if success {
        Ended::Won {
            attempt: number,
            cancelled,
        }
    } else {
        Ended::Failed { cancelled }
    });
    Some(result)
}

#[pinned_drop]
impl<A: Attempts, C> PinnedDrop for Hedging<A, C> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if !*this.done {
            this.attempts.hedge().cancelled(running(&this));
        }
    }
}

impl<A: Attempts + fmt::Debug, C> fmt::Debug for Hedging<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedging")
            .field("attempts", &self.attempts)
            .field("first_running", &self.first.is_some())
            .field("extra_running", &self.hedges.len())
            .field("extra_made_or_skipped", &self.slots)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

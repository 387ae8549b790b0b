//! [`Pipeline`]: a retry, a circuit breaker, a rate limit, a bulkhead and a timeout
//! guarding each call in one layer, whose calls hold one reference for all five.
//!
//! Stacked as layers, each pattern's response future that records something after the
//! call holds its own reference to its handle, because a tower response future
//! outlives the service that made it: a reference count taken and given back on every
//! call for each of the retry, the breaker, the bulkhead and the timeout, each an
//! atomic operation on a shared word. A pipeline keeps the handles behind one reference,
//! and its future is one state machine that admits, runs, times, records and retries
//! the call against them: one reference count for all of them. What each pattern
//! decides is unchanged: the same handles, shared with any layer or direct call that
//! uses them, in the same order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_breaker::{CircuitBreaker, Ticket as BreakerTicket};
use hardy_bulkhead::Bulkhead;
use hardy_bulkhead::hooks::{self as bulkhead_hooks, Queued, Slot as BulkheadTicket};
use hardy_core::admission::{Admission, Wait};
use hardy_core::{Classify, DefaultClassifier, LocalArc, Outcome, Rejection, Spared};
use hardy_rate_limit::hooks::Turn;
use hardy_rate_limit::{Limit, RateLimiter};
use hardy_retry::{CloneRequest, Cloned, Next, Retry, Tries};
use hardy_timeout::future::Countdown;
use hardy_timeout::{ExtractDeadline, NoDeadline, Timeout};
use pin_project::{pin_project, pinned_drop};
use tower_layer::Layer;
use tower_service::Service;

/// A retry, a circuit breaker, a rate limit, a bulkhead and a timeout, each optional,
/// guarding each call in that order, outermost first, as one tower layer.
///
/// It decides exactly as those layers stacked in that order do
/// (`.hardy_retry(&r).hardy_breaker(&b).hardy_rate_limit(&l).hardy_bulkhead(&k)
/// .hardy_timeout(&t)`, the order of [`Policies::stack`](crate::Policies::stack)):
///
/// - the retry makes each attempt through everything below it, and retries failures
///   its schedule, budget and deadline allow, with a clone of the service made ready
///   and a copy of the request;
/// - for each attempt the breaker admits or refuses with [`Rejection::CircuitOpen`];
///   the rate limit admits now, after a wait for a reserved turn, or refuses with
///   [`Rejection::RateLimited`]; the bulkhead takes a slot, queues for one, or refuses
///   with [`Rejection::BulkheadFull`];
/// - the timeout starts when the attempt is first found pending, and ends it with
///   [`Rejection::Timeout`] at the limit;
/// - the attempt's result, or a rejection from below the breaker, is classified once,
///   recorded by the breaker and judged by the retry, and the slot is freed, as soon as
///   the attempt ends.
///
/// Its calls differ from the stack's in what they cost: the handles sit behind one
/// reference, so a call takes one reference count instead of four, and its future is
/// one state machine instead of five nested ones. The handles are the same: a handle in
/// a pipeline shares its state with every other layer, service and direct call that
/// uses it.
///
/// A deadline the request carries ([`PipelineLayer::deadline_from`]) bounds both the
/// retry (no retry whose delay would end past it) and each attempt's timeout (an
/// attempt that starts past it is refused), as `deadline_from` on both layers does.
///
/// A pipeline is a cheap handle: clones share the same handles.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy::Pipeline;
/// use hardy::prelude::*;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("soil-read").max_attempts(3).build()?;
/// let breaker = CircuitBreaker::builder("soil-sensor").build()?;
/// let bulkhead = Bulkhead::builder("soil-sensor").max_concurrent(4).build()?;
/// let timeout = Timeout::new("soil-read", Duration::from_secs(1))?;
/// let pipeline = Pipeline::new()
///     .retry(&retry)
///     .breaker(&breaker)
///     .bulkhead(&bulkhead)
///     .timeout(&timeout);
/// let mut read = ServiceBuilder::new()
///     .hardy_pipeline(&pipeline)
///     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(u16::from(sensor) * 10) });
/// assert_eq!(read.ready().await?.call(3).await?, 30);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Pipeline {
    retry: Option<Retry>,
    breaker: Option<CircuitBreaker>,
    rate_limit: Option<RateLimiter>,
    bulkhead: Option<Bulkhead>,
    timeout: Option<Timeout>,
}

impl Pipeline {
    /// A pipeline that guards nothing yet: each of its patterns is added by its method.
    pub fn new() -> Self {
        Pipeline::default()
    }

    /// Retries each call with `retry`, outermost: each attempt goes through everything
    /// below (replacing any retry set before).
    #[must_use]
    pub fn retry(mut self, retry: &Retry) -> Self {
        self.retry = Some(retry.clone());
        self
    }

    /// Guards each attempt with `breaker` (replacing any breaker set before).
    #[must_use]
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.breaker = Some(breaker.clone());
        self
    }

    /// Paces the attempts the breaker lets through with `limiter` (replacing any rate
    /// limit set before).
    #[must_use]
    pub fn rate_limit(mut self, limiter: &RateLimiter) -> Self {
        self.rate_limit = Some(limiter.clone());
        self
    }

    /// Admits each attempt the rate limit lets through with `bulkhead` (replacing any
    /// bulkhead set before).
    #[must_use]
    pub fn bulkhead(mut self, bulkhead: &Bulkhead) -> Self {
        self.bulkhead = Some(bulkhead.clone());
        self
    }

    /// Limits each admitted attempt with `timeout`, innermost (replacing any timeout set
    /// before).
    #[must_use]
    pub fn timeout(mut self, timeout: &Timeout) -> Self {
        self.timeout = Some(timeout.clone());
        self
    }

    /// Whether no pattern is set: the pipeline would pass calls through unguarded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.retry.is_none()
            && self.breaker.is_none()
            && self.rate_limit.is_none()
            && self.bulkhead.is_none()
            && self.timeout.is_none()
    }

    /// A pipeline of the patterns given, each left out where `None`.
    #[cfg(feature = "config")]
    pub(crate) fn from_parts(
        retry: Option<Retry>,
        breaker: Option<CircuitBreaker>,
        rate_limit: Option<RateLimiter>,
        bulkhead: Option<Bulkhead>,
        timeout: Option<Timeout>,
    ) -> Self {
        Pipeline {
            retry,
            breaker,
            rate_limit,
            bulkhead,
            timeout,
        }
    }

    /// The retry, if one is set.
    pub fn get_retry(&self) -> Option<&Retry> {
        self.retry.as_ref()
    }

    /// The breaker, if one is set.
    pub fn get_breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The rate limit, if one is set.
    pub fn get_rate_limit(&self) -> Option<&RateLimiter> {
        self.rate_limit.as_ref()
    }

    /// The bulkhead, if one is set.
    pub fn get_bulkhead(&self) -> Option<&Bulkhead> {
        self.bulkhead.as_ref()
    }

    /// The timeout, if one is set.
    pub fn get_timeout(&self) -> Option<&Timeout> {
        self.timeout.as_ref()
    }

    /// A layer guarding services with this pipeline: results are classified with
    /// [`DefaultClassifier`] and requests copied for retries with `Clone`.
    pub fn layer(&self) -> PipelineLayer {
        PipelineLayer {
            pipeline: self.clone(),
            classifier: DefaultClassifier,
            policy: Cloned,
            deadline: NoDeadline,
        }
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("retry", &self.retry.as_ref().map(Retry::name))
            .field("breaker", &self.breaker.as_ref().map(CircuitBreaker::name))
            .field(
                "rate_limit",
                &self.rate_limit.as_ref().map(RateLimiter::name),
            )
            .field("bulkhead", &self.bulkhead.as_ref().map(Bulkhead::name))
            .field("timeout", &self.timeout.as_ref().map(Timeout::name))
            .finish()
    }
}

/// A tower layer guarding services with a [`Pipeline`]; made by [`Pipeline::layer`].
#[derive(Debug, Clone)]
pub struct PipelineLayer<C = DefaultClassifier, P = Cloned, X = NoDeadline> {
    pipeline: Pipeline,
    classifier: C,
    policy: P,
    deadline: X,
}

impl<C, P, X> PipelineLayer<C, P, X> {
    /// The same layer, classifying results with `classifier`: one classification of
    /// each attempt's result, which the breaker records and the retry judges.
    pub fn classifier<D>(self, classifier: D) -> PipelineLayer<D, P, X> {
        PipelineLayer {
            pipeline: self.pipeline,
            classifier,
            policy: self.policy,
            deadline: self.deadline,
        }
    }

    /// The same layer, copying requests for retries with `policy` (as
    /// [`RetryLayer::clone_requests`](crate::retry::RetryLayer::clone_requests) does):
    /// [`SendOnce`](crate::retry::SendOnce) for requests that are never sent twice or
    /// cannot be cloned.
    pub fn clone_requests<Q>(self, policy: Q) -> PipelineLayer<C, Q, X> {
        PipelineLayer {
            pipeline: self.pipeline,
            classifier: self.classifier,
            policy,
            deadline: self.deadline,
        }
    }

    /// The same layer, reading the caller's deadline from each request with `extract`
    /// (as the retry's and the timeout's layers' `deadline_from` do): the retry makes
    /// no retry whose delay would end past it, and an attempt ends at it if that is
    /// before the timeout's limit, or is refused with [`Rejection::Timeout`] if it
    /// starts past it.
    pub fn deadline_from<Y>(self, extract: Y) -> PipelineLayer<C, P, Y> {
        PipelineLayer {
            pipeline: self.pipeline,
            classifier: self.classifier,
            policy: self.policy,
            deadline: extract,
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl<S: Clone, C: Clone, P: Clone, X: Clone> Layer<S> for PipelineLayer<C, P, X> {
    type Service = PipelineService<S, C, P, X>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            shared: LocalArc::new(Shared::new(self.pipeline.clone(), inner.clone())),
            inner,
            stale: false,
            classifier: self.classifier.clone(),
            policy: self.policy.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

/// What a [`PipelineService`] shares with the calls it makes: the pipeline's handles and
/// a spare of the inner service, which a call clones only for a retry (so a call that
/// succeeds at once clones no service), as the retry's own service does.
type Shared<S> = Spared<Pipeline, S>;

/// A tower service guarded by a [`Pipeline`]; made by a [`PipelineLayer`].
///
/// `poll_ready` is the inner service's; the breaker, the rate limit and the bulkhead
/// decide in `call`, and again for each retry. An attempt refused by one of them never
/// reaches the inner service, and ends with its error type made from the
/// [`Rejection`]. A retry is made with a clone of a spare of the inner service, made
/// ready first, as [`RetryService`](crate::retry::RetryService)'s are; the spare is
/// cloned when the service is built and again after [`get_mut`](Self::get_mut).
///
/// Each service made by the layer keeps its own reference to the pipeline, so services
/// on different threads do not contend on one reference count; a clone shares its
/// original's.
pub struct PipelineService<S, C = DefaultClassifier, P = Cloned, X = NoDeadline> {
    inner: S,
    shared: LocalArc<Shared<S>>,
    /// The inner service may have changed since the spare was cloned from it.
    stale: bool,
    classifier: C,
    policy: P,
    deadline: X,
}

impl<S: Clone, C: Clone, P: Clone, X: Clone> Clone for PipelineService<S, C, P, X> {
    fn clone(&self) -> Self {
        PipelineService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            stale: self.stale,
            classifier: self.classifier.clone(),
            policy: self.policy.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

impl<S, C, P, X> PipelineService<S, C, P, X> {
    /// The pipeline guarding the service.
    pub fn pipeline(&self) -> &Pipeline {
        self.shared.handle().handle()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably. Retries made after this are made with a clone of
    /// the service as it is at the next call.
    pub fn get_mut(&mut self) -> &mut S {
        self.stale = true;
        &mut self.inner
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, P, X> PipelineService<S, C, P, X> {
    /// Clones the spare again from the inner service, which `get_mut` lent out.
    #[cold]
    #[inline(never)]
    fn renew_spare(&mut self) {
        self.shared = LocalArc::new(Shared::new(
            self.shared.handle().handle().clone(),
            self.inner.clone(),
        ));
        self.stale = false;
    }
}

impl<S: fmt::Debug, C, P, X> fmt::Debug for PipelineService<S, C, P, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("inner", &self.inner)
            .field("pipeline", self.shared.handle().handle())
            .finish()
    }
}

impl<S, C, P, X, Req> Service<Req> for PipelineService<S, C, P, X>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    C: Classify<S::Response, S::Error> + Clone,
    P: CloneRequest<Req> + Clone,
    X: ExtractDeadline<Req> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C, P, X>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        if self.stale {
            self.renew_spare();
        }
        let shared = self.shared.get();
        let pipeline = shared.handle();
        let (tries, copy) = match &pipeline.retry {
            None => (None, None),
            Some(retry) => (
                Some(Tries::start(retry, self.deadline.deadline(&request))),
                self.policy.clone_request(&request),
            ),
        };
        let mut breaker = None;
        let mut slot = None;
        let mut countdown = Countdown::new(None);
        let state = match admit(pipeline, &request, &mut breaker, &mut slot) {
            Decision::Open => run(
                pipeline,
                &self.deadline,
                &mut countdown,
                &mut self.inner,
                request,
            ),
            gate => wait_or_refuse(gate, &mut self.inner, request),
        };
        ResponseFuture {
            state,
            shared: Arc::clone(shared),
            breaker,
            slot,
            countdown,
            tries,
            copy,
            classifier: self.classifier.clone(),
            policy: self.policy.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

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

/// Admits an attempt through the breaker, the rate limit and the bulkhead, in that
/// order, keeping the breaker's ticket and the bulkhead's slot.
#[inline(always)]
fn admit<Req>(
    pipeline: &Pipeline,
    request: &Req,
    breaker: &mut Option<BreakerTicket>,
    slot: &mut Option<BulkheadTicket>,
) -> Decision {
    if let Some(handle) = &pipeline.breaker {
        match BreakerTicket::admit(handle) {
            Ok(ticket) => *breaker = Some(ticket),
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
    admit_bulkhead(pipeline, slot)
}

/// The bulkhead's part of [`admit`], also made after a rate limit's wait.
#[inline(always)]
fn admit_bulkhead(pipeline: &Pipeline, slot: &mut Option<BulkheadTicket>) -> Decision {
    if let Some(bulkhead) = &pipeline.bulkhead {
        match bulkhead_hooks::admit(bulkhead) {
            Admission::Now(ticket) => *slot = Some(ticket),
            Admission::Later(queued) => return Decision::Queued(queued),
            Admission::Refused(rejection) => return Decision::Refused(rejection),
        }
    }
    Decision::Open
}

/// Calls the service for an admitted attempt, its countdown set for the caller's
/// deadline; an attempt that starts past the deadline is refused by the timeout, as the
/// timeout's layer refuses it.
#[inline(always)]
fn run<S, Req, X>(
    pipeline: &Pipeline,
    extract: &X,
    countdown: &mut Countdown,
    service: &mut S,
    request: Req,
) -> State<S, Req>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
    X: ExtractDeadline<Req>,
{
    if let Some(timeout) = &pipeline.timeout
        && let Some(deadline) = extract.deadline(&request)
    {
        match Countdown::for_call(timeout, Some(deadline)) {
            Ok(started) => *countdown = started,
            Err(rejection) => {
                return State::Rejected {
                    error: Some(S::Error::from(rejection)),
                };
            }
        }
    }
    State::Running {
        future: service.call(request),
    }
}

/// The state of an attempt that must wait or was refused. A waiting attempt takes the
/// service made ready for it, leaving a clone in its place, as tower's buffering layers
/// do.
#[cold]
#[inline(never)]
fn wait_or_refuse<S, Req>(gate: Decision, service: &mut S, request: Req) -> State<S, Req>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
{
    let take = || {
        let clone = service.clone();
        Some(Box::new((std::mem::replace(service, clone), request)))
    };
    match gate {
        Decision::Open => unreachable!("an open gate is called at once"),
        Decision::Turn(wait) => State::Turn { wait, call: take() },
        Decision::Queued(queued) => State::Queued {
            queued,
            call: take(),
        },
        Decision::Refused(rejection) => State::Rejected {
            error: Some(S::Error::from(rejection)),
        },
    }
}

#[pin_project(project = StateProj)]
enum State<S: Service<Req>, Req> {
    /// Admitted: the attempt runs.
    Running {
        #[pin]
        future: S::Future,
    },
    /// Waiting for the rate limit's turn, with the readied service and the request.
    Turn {
        wait: Turn,
        call: Option<Box<(S, Req)>>,
    },
    /// Waiting for a bulkhead slot, with the readied service and the request.
    Queued {
        queued: Queued,
        call: Option<Box<(S, Req)>>,
    },
    /// Refused: the error made of the rejection, until the attempt ends with it (made at
    /// once, so that the future keeps the error, not the larger rejection).
    Rejected { error: Option<S::Error> },
    /// Waiting out the retry's delay.
    Sleeping,
    /// The next attempt is to be made, with a clone of the spare being made ready.
    Ready { caller: Option<Box<S>> },
    /// Returned, or dropped.
    Done,
}

/// The response future of a [`PipelineService`]: the last attempt's result, or its
/// error type made from the breaker's, the rate limit's, the bulkhead's or the
/// timeout's [`Rejection`].
///
/// It holds one reference to what the service shares with its calls (the pipeline's
/// handles and the spare service), and what each pattern keeps of the call: the retry's
/// tries, the breaker's ticket, the rate limit's turn, the bulkhead's slot (or place in
/// its queue) and the timeout's countdown.
///
/// # Cancel safety
///
/// Dropping it drops the running attempt (or the service and request waiting for a
/// turn or a slot, or being readied for a retry), then gives back a reserved turn not
/// yet come, leaves the bulkhead's queue or frees the slot, and lets go of the
/// breaker's ticket unrecorded (a half-open probe's slot is freed): the same as
/// dropping the layers' futures.
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S: Service<Req>, Req, C, P, X = NoDeadline> {
    #[pin]
    state: State<S, Req>,
    shared: Arc<Shared<S>>,
    breaker: Option<BreakerTicket>,
    slot: Option<BulkheadTicket>,
    countdown: Countdown,
    tries: Option<Tries>,
    /// The copy of the request for the next attempt, if it could be copied.
    copy: Option<Req>,
    classifier: C,
    policy: P,
    /// What reads the caller's deadline from each attempt's request, as the timeout's
    /// layer reads it (nothing, by default).
    deadline: X,
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

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The path of an attempt that ends at its first poll, kept small enough to
        // inline.
        let this = self.as_mut().project();
        if let StateProj::Running { future } = this.state.project()
            && let Poll::Ready(result) = future.poll(cx)
        {
            let outcome = this.classifier.classify(&result);
            settle(
                this.shared.handle(),
                this.slot,
                this.breaker,
                this.tries,
                outcome,
            );
            if outcome.is_success() {
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
        self.poll_slow(cx)
    }
}

/// An attempt ended with `outcome`: its slot is freed and the breaker records it, as the
/// bulkhead's and the breaker's futures do when the call below them ends, and a
/// success ends the retry's tries.
#[inline(always)]
fn settle(
    pipeline: &Pipeline,
    slot: &mut Option<BulkheadTicket>,
    breaker: &mut Option<BreakerTicket>,
    tries: &Option<Tries>,
    outcome: Outcome,
) {
    if let (Some(slot), Some(bulkhead)) = (slot.take(), &pipeline.bulkhead) {
        slot.release(bulkhead);
    }
    if let (Some(ticket), Some(handle)) = (breaker, &pipeline.breaker) {
        ticket.record(handle, outcome);
    }
    if outcome.is_success()
        && let (Some(tries), Some(retry)) = (tries, &pipeline.retry)
    {
        tries.succeeded(retry);
    }
}

impl<S, Req, C, P, X> ResponseFuture<S, Req, C, P, X>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    C: Classify<S::Response, S::Error>,
    P: CloneRequest<Req>,
    X: ExtractDeadline<Req>,
{
    /// An attempt failed with `outcome` (recorded by the breaker already): `true` if
    /// another follows (and the state says when), `false` if the call ends with it.
    #[cold]
    #[inline(never)]
    fn failed(self: Pin<&mut Self>, outcome: Outcome) -> bool {
        let mut this = self.project();
        let (Some(tries), Some(retry)) = (this.tries, &this.shared.handle().retry) else {
            return false;
        };
        *this.countdown = Countdown::new(None);
        match tries.failed(retry, outcome, this.copy.is_some()) {
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

    /// An attempt ended with `result`, not at the inlined first poll: records it and
    /// returns it, or moves on to the next attempt (`None`).
    fn ended(
        mut self: Pin<&mut Self>,
        result: Result<S::Response, S::Error>,
    ) -> Option<Result<S::Response, S::Error>> {
        let this = self.as_mut().project();
        let outcome = this.classifier.classify(&result);
        settle(
            this.shared.handle(),
            this.slot,
            this.breaker,
            this.tries,
            outcome,
        );
        if outcome.is_success() {
            return Some(result);
        }
        if self.failed(outcome) {
            None
        } else {
            Some(result)
        }
    }

    /// Everything past an attempt that ends at its first poll: pending attempts and their
    /// timeout, waits for a turn or a slot, refusals, delays and further attempts.
    #[cold]
    #[inline(never)]
    fn poll_slow(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Response, S::Error>> {
        loop {
            let mut this = self.as_mut().project();
            let result = match this.state.as_mut().project() {
                StateProj::Running { future } => match future.poll(cx) {
                    Poll::Ready(result) => result,
                    Poll::Pending => {
                        let Some(timeout) = &this.shared.handle().timeout else {
                            return Poll::Pending;
                        };
                        let rejection = ready!(this.countdown.poll_expired(timeout, cx));
                        // The attempt is abandoned: dropped now, before its slot is
                        // freed (stacked, the timeout's future keeps it until the caller
                        // drops the response future; nothing decides differently).
                        this.state.set(State::Done);
                        Err(S::Error::from(rejection))
                    }
                },
                StateProj::Turn { wait, call } => {
                    ready!(Pin::new(wait).poll(cx));
                    let call = call.take().expect("the call is kept until its turn");
                    let next = match admit_bulkhead(this.shared.handle(), this.slot) {
                        Decision::Open => {
                            let (mut service, request) = *call;
                            let pipeline = this.shared.handle();
                            run(
                                pipeline,
                                this.deadline,
                                this.countdown,
                                &mut service,
                                request,
                            )
                        }
                        Decision::Queued(queued) => State::Queued {
                            queued,
                            call: Some(call),
                        },
                        Decision::Refused(rejection) => State::Rejected {
                            error: Some(S::Error::from(rejection)),
                        },
                        Decision::Turn(_) => unreachable!("the bulkhead gives no turns"),
                    };
                    this.state.set(next);
                    continue;
                }
                StateProj::Queued { queued, call } => match ready!(queued.poll_admit(cx)) {
                    Ok(slot) => {
                        *this.slot = Some(slot);
                        let (mut service, request) =
                            *call.take().expect("the call is kept until it is admitted");
                        let pipeline = this.shared.handle();
                        let next = run(
                            pipeline,
                            this.deadline,
                            this.countdown,
                            &mut service,
                            request,
                        );
                        this.state.set(next);
                        continue;
                    }
                    Err(rejection) => {
                        this.state.set(State::Done);
                        Err(S::Error::from(rejection))
                    }
                },
                StateProj::Rejected { error } => Err(error
                    .take()
                    .expect("pipeline future polled after completion")),
                StateProj::Sleeping => {
                    if let Some(tries) = this.tries {
                        ready!(tries.poll_delay(cx));
                    }
                    this.state.set(State::Ready { caller: None });
                    continue;
                }
                StateProj::Ready { caller } => {
                    let service = caller.get_or_insert_with(|| Box::new(this.shared.spare()));
                    match ready!(service.poll_ready(cx)) {
                        Ok(()) => {}
                        Err(error) => {
                            let result = Err(error);
                            if let (Some(tries), Some(retry)) =
                                (&*this.tries, &this.shared.handle().retry)
                            {
                                tries.not_ready(retry, this.classifier.classify(&result));
                            }
                            this.state.set(State::Done);
                            return Poll::Ready(result);
                        }
                    }
                    let mut service = caller.take().expect("made ready above");
                    let request = this
                        .copy
                        .take()
                        .expect("an attempt is made only while a request is kept");
                    *this.copy = this.policy.clone_request(&request);
                    let pipeline = this.shared.handle();
                    let next = match admit(pipeline, &request, this.breaker, this.slot) {
                        Decision::Open => run(
                            pipeline,
                            this.deadline,
                            this.countdown,
                            &mut *service,
                            request,
                        ),
                        gate => wait_or_refuse(gate, &mut *service, request),
                    };
                    this.state.set(next);
                    continue;
                }
                StateProj::Done => panic!("pipeline future polled after completion"),
            };
            if let Some(result) = self.as_mut().ended(result) {
                return Poll::Ready(result);
            }
            if matches!(self.state, State::Ready { .. }) {
                // A zero delay: let other tasks run before the next attempt.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}

#[pinned_drop]
impl<S: Service<Req>, Req, C, P, X> PinnedDrop for ResponseFuture<S, Req, C, P, X> {
    #[inline]
    fn drop(self: Pin<&mut Self>) {
        // An attempt that ended holds nothing: its slot is freed and its ticket spent.
        let holds = self.slot.is_some()
            || matches!(self.state, State::Queued { .. })
            || self
                .breaker
                .as_ref()
                .is_some_and(|ticket| !ticket.is_spent());
        if holds {
            release(self);
        }
    }
}

/// Lets go of what a dropped call holds, its attempt first (a turn not come is given
/// back with it), as the stacked layers' futures do.
#[cold]
#[inline(never)]
fn release<S: Service<Req>, Req, C, P, X>(future: Pin<&mut ResponseFuture<S, Req, C, P, X>>) {
    let mut this = future.project();
    let pipeline = this.shared.handle();
    // A queued attempt leaves the queue as its place is dropped.
    this.state.set(State::Done);
    if let (Some(slot), Some(bulkhead)) = (this.slot.take(), &pipeline.bulkhead) {
        slot.release(bulkhead);
    }
    if let (Some(ticket), Some(breaker)) = (this.breaker, &pipeline.breaker) {
        ticket.release(breaker);
    }
}

impl<S: Service<Req>, Req, C, P, X> fmt::Debug for ResponseFuture<S, Req, C, P, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Turn { .. } => "waiting for its turn",
            State::Queued { .. } => "queued",
            State::Rejected { .. } => "rejected",
            State::Sleeping => "waiting to retry",
            State::Ready { .. } => "readying a retry",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("pipeline", self.shared.handle())
            .field("state", &state)
            .field("breaker", &self.breaker)
            .field("slot", &self.slot)
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

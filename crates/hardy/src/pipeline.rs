//! [`Pipeline`]: a circuit breaker, a bulkhead and a timeout guarding each call in one
//! layer, whose calls hold one reference for all three.
//!
//! Stacked as three layers, each pattern's response future holds its own reference to
//! its handle, because a tower response future outlives the service that made it: three
//! reference counts taken and given back on every call, each an atomic operation on a
//! shared word. A pipeline keeps the three handles behind one reference, and its future
//! is one state machine that admits, runs, times and records the call against them:
//! one reference count for all three. What each pattern decides is unchanged: the same
//! handles, shared with any layer or direct call that uses them, in the same order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_breaker::{CircuitBreaker, Ticket as BreakerTicket};
use hardy_bulkhead::{Admit, Bulkhead, Queued, Ticket as BulkheadTicket};
use hardy_core::{Classify, DefaultClassifier, LocalArc, Rejection};
use hardy_timeout::Timeout;
use hardy_timeout::future::Countdown;
use pin_project::{pin_project, pinned_drop};
use tower_layer::Layer;
use tower_service::Service;

/// A circuit breaker, a bulkhead and a timeout, each optional, guarding each call in
/// that order, outermost first, as one tower layer.
///
/// It decides exactly as the three layers stacked in that order
/// (`.hardy_breaker(&b).hardy_bulkhead(&k).hardy_timeout(&t)`) do:
///
/// - the breaker admits the call or refuses it with [`Rejection::CircuitOpen`];
/// - the bulkhead takes a slot, queues for one, or refuses with
///   [`Rejection::BulkheadFull`];
/// - the timeout starts when the call is first found pending, and ends it with
///   [`Rejection::Timeout`] at the limit;
/// - the call's result, or the bulkhead's or the timeout's rejection, is classified and
///   recorded by the breaker, and the slot freed, as soon as the call ends.
///
/// Its calls differ from the stack's in what they cost: the three handles sit behind one
/// reference, so a call takes one reference count instead of three, and its future is
/// one state machine instead of three nested ones. The handles are the same: a breaker,
/// bulkhead or timeout in a pipeline shares its state with every other layer, service and
/// direct call that uses it.
///
/// A pipeline is a cheap handle: clones share the same three handles.
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
/// let breaker = CircuitBreaker::builder("soil-sensor").build()?;
/// let bulkhead = Bulkhead::builder("soil-sensor").max_concurrent(4).build()?;
/// let timeout = Timeout::new("soil-read", Duration::from_secs(1))?;
/// let pipeline = Pipeline::new()
///     .breaker(&breaker)
///     .bulkhead(&bulkhead)
///     .timeout(&timeout);
/// let mut read = ServiceBuilder::new()
///     .layer(pipeline.layer())
///     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(u16::from(sensor) * 10) });
/// assert_eq!(read.ready().await?.call(3).await?, 30);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Pipeline {
    breaker: Option<CircuitBreaker>,
    bulkhead: Option<Bulkhead>,
    timeout: Option<Timeout>,
}

impl Pipeline {
    /// A pipeline that guards nothing yet: each of its patterns is added by its method.
    pub fn new() -> Self {
        Pipeline::default()
    }

    /// Guards each call with `breaker`, outermost (replacing any breaker set before).
    #[must_use]
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.breaker = Some(breaker.clone());
        self
    }

    /// Admits each call the breaker lets through with `bulkhead` (replacing any bulkhead
    /// set before).
    #[must_use]
    pub fn bulkhead(mut self, bulkhead: &Bulkhead) -> Self {
        self.bulkhead = Some(bulkhead.clone());
        self
    }

    /// Limits each admitted call with `timeout`, innermost (replacing any timeout set
    /// before).
    #[must_use]
    pub fn timeout(mut self, timeout: &Timeout) -> Self {
        self.timeout = Some(timeout.clone());
        self
    }

    /// The breaker, if one is set.
    pub fn get_breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The bulkhead, if one is set.
    pub fn get_bulkhead(&self) -> Option<&Bulkhead> {
        self.bulkhead.as_ref()
    }

    /// The timeout, if one is set.
    pub fn get_timeout(&self) -> Option<&Timeout> {
        self.timeout.as_ref()
    }

    /// A layer guarding services with this pipeline, the breaker classifying results with
    /// [`DefaultClassifier`].
    pub fn layer(&self) -> PipelineLayer {
        PipelineLayer {
            pipeline: self.clone(),
            classifier: DefaultClassifier,
        }
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("breaker", &self.breaker.as_ref().map(CircuitBreaker::name))
            .field("bulkhead", &self.bulkhead.as_ref().map(Bulkhead::name))
            .field("timeout", &self.timeout.as_ref().map(Timeout::name))
            .finish()
    }
}

/// A tower layer guarding services with a [`Pipeline`]; made by [`Pipeline::layer`].
#[derive(Debug, Clone)]
pub struct PipelineLayer<C = DefaultClassifier> {
    pipeline: Pipeline,
    classifier: C,
}

impl<C> PipelineLayer<C> {
    /// The same layer, the breaker classifying results with `classifier`.
    pub fn classifier<D>(self, classifier: D) -> PipelineLayer<D> {
        PipelineLayer {
            pipeline: self.pipeline,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for PipelineLayer<C> {
    type Service = PipelineService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            inner,
            pipeline: LocalArc::new(self.pipeline.clone()),
            classifier: self.classifier.clone(),
        }
    }
}

/// A tower service guarded by a [`Pipeline`]; made by a [`PipelineLayer`].
///
/// `poll_ready` is the inner service's; the breaker and the bulkhead decide in `call`.
/// A call refused by either never reaches the inner service, and ends with its error
/// type made from the [`Rejection`].
///
/// Each service made by the layer keeps its own reference to the pipeline, so services
/// on different threads do not contend on one reference count; a clone shares its
/// original's.
pub struct PipelineService<S, C = DefaultClassifier> {
    inner: S,
    pipeline: LocalArc<Pipeline>,
    classifier: C,
}

impl<S: Clone, C: Clone> Clone for PipelineService<S, C> {
    fn clone(&self) -> Self {
        PipelineService {
            inner: self.inner.clone(),
            pipeline: self.pipeline.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S, C> PipelineService<S, C> {
    /// The pipeline guarding the service.
    pub fn pipeline(&self) -> &Pipeline {
        self.pipeline.handle()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, C> fmt::Debug for PipelineService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("inner", &self.inner)
            .field("pipeline", self.pipeline.handle())
            .finish()
    }
}

impl<S, C, Req> Service<Req> for PipelineService<S, C>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let pipeline = self.pipeline.get();
        let breaker = match &pipeline.breaker {
            None => None,
            Some(breaker) => match BreakerTicket::admit(breaker) {
                Ok(ticket) => Some(ticket),
                Err(rejection) => {
                    return ResponseFuture::new(
                        Arc::clone(pipeline),
                        None,
                        None,
                        State::rejected(rejection),
                        self.classifier.clone(),
                    );
                }
            },
        };
        let (slot, state) = match &pipeline.bulkhead {
            None => (None, State::running(self.inner.call(request))),
            Some(bulkhead) => match BulkheadTicket::admit(bulkhead) {
                Admit::Now(slot) => (Some(slot), State::running(self.inner.call(request))),
                Admit::Wait(queued) => (None, queue(&mut self.inner, queued, request)),
                Admit::Refused(rejection) => (None, State::rejected(rejection)),
            },
        };
        ResponseFuture::new(
            Arc::clone(pipeline),
            breaker,
            slot,
            state,
            self.classifier.clone(),
        )
    }
}

/// A call queued for a bulkhead slot takes the service made ready for it, leaving a
/// clone in its place, as tower's buffering layers do.
#[cold]
fn queue<S: Service<Req> + Clone, Req>(
    inner: &mut S,
    queued: Queued,
    request: Req,
) -> State<S, Req> {
    let clone = inner.clone();
    let service = std::mem::replace(inner, clone);
    State::Queued {
        queued,
        service,
        request: Some(request),
    }
}

#[pin_project(project = StateProj)]
enum State<S: Service<Req>, Req> {
    /// Admitted: the inner call runs.
    Running {
        #[pin]
        future: S::Future,
    },
    /// Waiting for a bulkhead slot, with the readied service and the request.
    Queued {
        queued: Queued,
        service: S,
        request: Option<Req>,
    },
    /// Refused, or timed out: the rejection, until it is returned.
    Rejected { rejection: Option<Rejection> },
    /// Returned, or dropped.
    Done,
}

impl<S: Service<Req>, Req> State<S, Req> {
    #[inline(always)]
    fn running(future: S::Future) -> Self {
        State::Running { future }
    }

    #[cold]
    fn rejected(rejection: Rejection) -> Self {
        State::Rejected {
            rejection: Some(rejection),
        }
    }
}

/// The response future of a [`PipelineService`]: the inner service's result, or its
/// error type made from the breaker's, the bulkhead's or the timeout's [`Rejection`].
///
/// It holds one reference to the pipeline, through which it reaches the three handles,
/// and what each pattern keeps of the call: the breaker's ticket, the bulkhead's slot
/// (or place in its queue) and the timeout's countdown.
///
/// # Cancel safety
///
/// Dropping it drops the inner call, then leaves the bulkhead's queue or frees the slot,
/// and lets go of the breaker's ticket unrecorded (a half-open probe's slot is freed):
/// the same as dropping the three layers' futures.
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S: Service<Req>, Req, C> {
    #[pin]
    state: State<S, Req>,
    pipeline: Arc<Pipeline>,
    breaker: Option<BreakerTicket>,
    slot: Option<BulkheadTicket>,
    countdown: Countdown,
    classifier: C,
}

impl<S: Service<Req>, Req, C> ResponseFuture<S, Req, C> {
    #[inline(always)]
    fn new(
        pipeline: Arc<Pipeline>,
        breaker: Option<BreakerTicket>,
        slot: Option<BulkheadTicket>,
        state: State<S, Req>,
        classifier: C,
    ) -> Self {
        ResponseFuture {
            state,
            pipeline,
            breaker,
            slot,
            countdown: Countdown::new(None),
            classifier,
        }
    }
}

impl<S, Req, C> Future for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
    C: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let result = match this.state.as_mut().project() {
                StateProj::Running { future } => match future.poll(cx) {
                    Poll::Ready(result) => result,
                    Poll::Pending => {
                        let Some(timeout) = &this.pipeline.timeout else {
                            return Poll::Pending;
                        };
                        let rejection = ready!(this.countdown.poll_expired(timeout, cx));
                        // The call is abandoned: dropped now, as the timeout's layer
                        // drops it when its future returns.
                        this.state.set(State::Done);
                        Err(S::Error::from(rejection))
                    }
                },
                StateProj::Queued {
                    queued,
                    service,
                    request,
                } => {
                    let bulkhead = this
                        .pipeline
                        .bulkhead
                        .as_ref()
                        .expect("only a pipeline with a bulkhead queues");
                    match ready!(queued.poll_admit(bulkhead, cx)) {
                        Ok(slot) => {
                            *this.slot = Some(slot);
                            let request = request
                                .take()
                                .expect("the request is kept until the call is admitted");
                            let future = service.call(request);
                            this.state.set(State::Running { future });
                            continue;
                        }
                        Err(rejection) => {
                            this.state.set(State::Done);
                            Err(S::Error::from(rejection))
                        }
                    }
                }
                StateProj::Rejected { rejection } => Err(S::Error::from(
                    rejection
                        .take()
                        .expect("pipeline future polled after completion"),
                )),
                StateProj::Done => panic!("pipeline future polled after completion"),
            };
            // Ended: the slot is freed and the breaker records, as the bulkhead's and the
            // breaker's futures do when the call below them ends.
            if let (Some(slot), Some(bulkhead)) = (this.slot.take(), &this.pipeline.bulkhead) {
                slot.release(bulkhead);
            }
            if let (Some(ticket), Some(breaker)) = (this.breaker, &this.pipeline.breaker) {
                ticket.record(breaker, this.classifier.classify(&result));
            }
            return Poll::Ready(result);
        }
    }
}

#[pinned_drop]
impl<S: Service<Req>, Req, C> PinnedDrop for ResponseFuture<S, Req, C> {
    fn drop(self: Pin<&mut Self>) {
        let mut this = self.project();
        let pipeline = &**this.pipeline;
        if let (StateProj::Queued { queued, .. }, Some(bulkhead)) =
            (this.state.as_mut().project(), &pipeline.bulkhead)
        {
            queued.abandon(bulkhead);
        }
        // The call below goes first, as it does in the stacked layers.
        this.state.set(State::Done);
        if let (Some(slot), Some(bulkhead)) = (this.slot.take(), &pipeline.bulkhead) {
            slot.release(bulkhead);
        }
        if let (Some(ticket), Some(breaker)) = (this.breaker, &pipeline.breaker) {
            ticket.release(breaker);
        }
    }
}

impl<S: Service<Req>, Req, C> fmt::Debug for ResponseFuture<S, Req, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Queued { .. } => "queued",
            State::Rejected { .. } => "rejected",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("pipeline", &*self.pipeline)
            .field("state", &state)
            .field("breaker", &self.breaker)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

//! [`Pipeline`]: a retry, a circuit breaker, a rate limit, a bulkhead and a timeout
//! guarding each call in one layer, whose calls hold one reference for all five.
//!
//! Stacked as layers, each pattern's response future that records something after the
//! call holds its own reference to its handle, because a tower response future
//! outlives the service that made it: a reference count taken and given back on every
//! call for each of the retry, the breaker, the bulkhead and the timeout, each an
//! atomic operation on a shared word. A pipeline keeps the handles behind one reference,
//! and its future is the retry's own loop, whose attempts are admitted, timed and
//! recorded against them: one reference count for all of them. What each pattern
//! decides is unchanged: the same handles, shared with any layer or direct call that
//! uses them, in the same order.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use hardy_breaker::CircuitBreaker;
use hardy_bulkhead::Bulkhead;
use hardy_core::{Classify, DefaultClassifier, Rejection, SpareService};
use hardy_rate_limit::RateLimiter;
use hardy_retry::{CloneRequest, Cloned, Retry};
use hardy_timeout::{ExtractDeadline, NoDeadline, Timeout};
use tower_layer::Layer;
use tower_service::Service;

mod future;

pub use future::ResponseFuture;
use future::Steps;

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
    overall: Option<Timeout>,
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

    /// Limits each call as a whole with `overall`, outermost: its attempts, the delays
    /// between them and their waits for admission together, counted from the call
    /// (replacing any limit set before).
    ///
    /// The retry knows the limit: it makes no retry whose delay would end past it, and
    /// the call ends with the last attempt's result instead. An attempt still running
    /// when the limit comes is abandoned and the call ends with [`Rejection::Timeout`],
    /// named after `overall`. A deadline the request carries
    /// ([`PipelineLayer::deadline_from`]) still counts, the earlier of the two winning.
    #[must_use]
    pub fn overall(mut self, overall: &Timeout) -> Self {
        self.overall = Some(overall.clone());
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
            && self.overall.is_none()
    }

    /// A pipeline of the patterns given, each left out where `None`.
    #[cfg(feature = "config")]
    pub(crate) fn from_parts(
        retry: Option<Retry>,
        breaker: Option<CircuitBreaker>,
        rate_limit: Option<RateLimiter>,
        bulkhead: Option<Bulkhead>,
        timeout: Option<Timeout>,
        overall: Option<Timeout>,
    ) -> Self {
        Pipeline {
            retry,
            breaker,
            rate_limit,
            bulkhead,
            timeout,
            overall,
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

    /// The limit of each call as a whole, if one is set.
    pub fn get_overall(&self) -> Option<&Timeout> {
        self.overall.as_ref()
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
            .field("overall", &self.overall.as_ref().map(Timeout::name))
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
            inner: SpareService::new(self.pipeline.clone(), inner),
            classifier: self.classifier.clone(),
            policy: self.policy.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

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
    /// The inner service, and the pipeline and spare shared with its calls.
    inner: SpareService<Pipeline, S>,
    classifier: C,
    policy: P,
    deadline: X,
}

impl<S: Clone, C: Clone, P: Clone, X: Clone> Clone for PipelineService<S, C, P, X> {
    fn clone(&self) -> Self {
        PipelineService {
            inner: self.inner.clone(),
            classifier: self.classifier.clone(),
            policy: self.policy.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

impl<S, C, P, X> PipelineService<S, C, P, X> {
    /// The pipeline guarding the service.
    pub fn pipeline(&self) -> &Pipeline {
        self.inner.handle()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably. Retries made after this are made with a clone of
    /// the service as it is at the next call.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S: fmt::Debug, C, P, X> fmt::Debug for PipelineService<S, C, P, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("inner", self.inner.get_ref())
            .field("pipeline", self.inner.handle())
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
        self.inner.ready_mut().poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let (shared, inner) = self.inner.call();
        let (tries, steps, attempt, overall) = Steps::first(
            Arc::clone(shared),
            inner,
            request,
            self.policy.clone(),
            self.deadline.clone(),
        );
        ResponseFuture::new(attempt, steps, self.classifier.clone(), tries, overall)
    }
}

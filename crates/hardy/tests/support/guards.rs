//! The handles under test: a setup builds twin sets of them, each guarding its own
//! dependency through the stacked layers or a pipeline, and records what a run left.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy::Pipeline;
use hardy::breaker::{BreakerConfig, BreakerSnapshot, BreakerState, Window};
use hardy::bulkhead::{BulkheadConfig, BulkheadStats};
use hardy::prelude::*;
use hardy::rate_limit::RateLimitConfig;
use hardy::retry::{CloneRequest, Cloned, RetryBudgetConfig, RetryConfig};
use hardy::timeout::{ExtractDeadline, NoDeadline};
use tokio_test::task;
use tower::util::{BoxCloneSyncService, MapRequest};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

use super::dependency::{Call, Dated, Dependency, DependencyService, Reach, Request, deadline_of};
use super::{LIMIT, OPEN_FOR};

/// The settings of the handles; `build` makes a fresh set, so one setup gives twins.
/// A retry and a rate limit are part of the set only when configured.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) breaker: BreakerConfig,
    pub(crate) bulkhead: BulkheadConfig,
    pub(crate) timeout: Duration,
    pub(crate) retry: Option<RetryConfig>,
    /// A retry budget given to the retry's builder (`Retry::builder(..).shared_budget(..)`).
    pub(crate) budget: Option<RetryBudgetConfig>,
    pub(crate) rate_limit: Option<RateLimitConfig>,
}

/// Retries up to `max_attempts` attempts, `delay` apart, unjittered.
pub(crate) fn retries(max_attempts: u32, delay: Duration) -> RetryConfig {
    RetryConfig {
        max_attempts,
        backoff: Backoff::Constant { delay },
        jitter: Jitter::None,
        ..RetryConfig::default()
    }
}

/// `limit` calls per `period`, bursts of `burst`, a wait of up to `max_wait` for a turn.
pub(crate) fn rate(
    limit: u32,
    period: Duration,
    burst: u32,
    max_wait: Duration,
) -> RateLimitConfig {
    RateLimitConfig {
        limit,
        period,
        burst: Some(burst),
        max_wait,
        ..RateLimitConfig::default()
    }
}

impl Setup {
    /// A breaker opened by three failures in a row (its window too large to trip
    /// first), one probe, open 5 s; a bulkhead of two slots and no queue; a 1 s timeout;
    /// no retry and no rate limit.
    pub(crate) fn new() -> Self {
        Setup {
            breaker: BreakerConfig {
                consecutive_failures: 3,
                window: Window::Count { size: 10 },
                minimum_calls: 10,
                half_open_calls: 1,
                open_for: OPEN_FOR,
                ..BreakerConfig::default()
            },
            bulkhead: BulkheadConfig {
                max_concurrent: 2,
                max_waiting: 0,
                max_wait: Duration::ZERO,
            },
            timeout: LIMIT,
            retry: None,
            budget: None,
            rate_limit: None,
        }
    }

    pub(crate) fn consecutive_failures(mut self, failures: u32) -> Self {
        self.breaker.consecutive_failures = failures;
        self
    }

    pub(crate) fn slots(mut self, max_concurrent: u32) -> Self {
        self.bulkhead.max_concurrent = max_concurrent;
        self
    }

    pub(crate) fn queue(mut self, max_waiting: u32, max_wait: Duration) -> Self {
        self.bulkhead.max_waiting = max_waiting;
        self.bulkhead.max_wait = max_wait;
        self
    }

    pub(crate) fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }

    pub(crate) fn budget(mut self, budget: RetryBudgetConfig) -> Self {
        self.budget = Some(budget);
        self
    }

    pub(crate) fn rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Fresh handles, all reporting their events to one log.
    pub(crate) fn build(&self) -> Guards {
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = |events: &Arc<Mutex<Vec<String>>>| {
            let events = events.clone();
            move |event: &dyn std::fmt::Debug| {
                events.lock().expect("log").push(format!("{event:?}"));
            }
        };
        let (to_breaker, to_bulkhead, to_timeout) = (log(&events), log(&events), log(&events));
        let (to_retry, to_limiter) = (log(&events), log(&events));
        Guards {
            retry: self.retry.as_ref().map(|config| {
                let mut builder = Retry::builder("dep")
                    .config(config.clone())
                    .on_event(move |event| to_retry(event));
                if let Some(budget) = &self.budget {
                    builder = builder.shared_budget(
                        RetryBudget::new("dep", budget.clone()).expect("valid budget"),
                    );
                }
                builder.build().expect("valid retry")
            }),
            breaker: CircuitBreaker::builder("dep")
                .config(self.breaker.clone())
                .on_event(move |event| to_breaker(event))
                .build()
                .expect("valid breaker"),
            limiter: self.rate_limit.as_ref().map(|config| {
                RateLimiter::builder("dep")
                    .config(config.clone())
                    .on_event(move |event| to_limiter(event))
                    .build()
                    .expect("valid rate limit")
            }),
            bulkhead: Bulkhead::builder("dep")
                .config(self.bulkhead.clone())
                .on_event(move |event| to_bulkhead(event))
                .build()
                .expect("valid bulkhead"),
            timeout: Timeout::builder("dep")
                .timeout(self.timeout)
                .on_event(move |event| to_timeout(event))
                .build()
                .expect("valid timeout"),
            dependency: Dependency::default(),
            events,
        }
    }
}

/// A dependency the handles can guard, stacked or in a pipeline: a service of `Req`
/// answering a number, cloneable and sendable as the boxed services need.
pub(crate) trait Guardable<Req>:
    Service<Req, Response = u32, Error = BoxError, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<D, Req> Guardable<Req> for D where
    D: Service<Req, Response = u32, Error = BoxError, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// How a scenario reaches the dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `.hardy_retry(&r).hardy_breaker(&b).hardy_rate_limit(&l).hardy_bulkhead(&k)
    /// .hardy_timeout(&t)`, without the retry or the rate limit when there is none; the
    /// retry's and the timeout's layers read each request's deadline.
    Stack,
    /// A pipeline of the same handles, its layer reading each request's deadline.
    Pipeline,
    /// The stack, its layers reading no deadline (as before `deadline_from`).
    StackUndated,
    /// The pipeline, its layer reading no deadline (as before `deadline_from`).
    PipelineUndated,
}

pub(crate) type Svc = BoxCloneSyncService<Request, u32, BoxError>;
pub(crate) type Response = task::Spawn<<Svc as Service<Request>>::Future>;

/// One set of handles, its dependency and the log of its events.
pub(crate) struct Guards {
    retry: Option<Retry>,
    pub(crate) breaker: CircuitBreaker,
    limiter: Option<RateLimiter>,
    pub(crate) bulkhead: Bulkhead,
    pub(crate) timeout: Timeout,
    pub(crate) dependency: Dependency,
    events: Arc<Mutex<Vec<String>>>,
}

impl Guards {
    pub(crate) fn pipeline(&self) -> Pipeline {
        let mut pipeline = Pipeline::new()
            .breaker(&self.breaker)
            .bulkhead(&self.bulkhead)
            .timeout(&self.timeout);
        if let Some(retry) = &self.retry {
            pipeline = pipeline.retry(retry);
        }
        if let Some(limiter) = &self.limiter {
            pipeline = pipeline.rate_limit(limiter);
        }
        pipeline
    }

    /// The dependency guarded by the handles, `via` the stack or a pipeline.
    pub(crate) fn service(&self, via: Via) -> Svc {
        self.guard(via, self.requests(), DefaultClassifier, Cloned)
    }

    /// As [`service`](Self::service), the breaker (and the retry) classifying results
    /// with `classifier`.
    pub(crate) fn service_classified(&self, via: Via, classifier: Classifier) -> Svc {
        self.guard(via, self.requests(), classifier, Cloned)
    }

    /// A service of the dependency taking requests: it sees their calls only.
    pub(crate) fn requests(&self) -> MapRequest<DependencyService, fn(Request) -> Call> {
        self.dependency
            .service()
            .map_request(|request| request.call)
    }

    /// `dependency` guarded by the handles, `via` the stack or a pipeline, results
    /// classified by `classifier` (in the stack, the breaker's and the retry's), requests
    /// copied for retries by `policy`, each request's deadline read by [`deadline_of`]
    /// (in the stack, by the retry and the timeout) unless `via` is undated.
    pub(crate) fn guard<D, Req, C, P>(
        &self,
        via: Via,
        dependency: D,
        classifier: C,
        policy: P,
    ) -> BoxCloneSyncService<Req, u32, BoxError>
    where
        D: Guardable<Req>,
        Req: Dated + Send + 'static,
        C: Classify<u32, BoxError> + Clone + Send + Sync + 'static,
        P: CloneRequest<Req> + Clone + Send + Sync + 'static,
    {
        match via {
            Via::Stack => self.stack(dependency, classifier, policy, deadline_of::<Req>),
            Via::StackUndated => self.stack(dependency, classifier, policy, NoDeadline),
            Via::Pipeline => BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(
                        self.pipeline()
                            .layer()
                            .classifier(classifier)
                            .clone_requests(policy)
                            .deadline_from(deadline_of::<Req>),
                    )
                    .service(dependency),
            ),
            Via::PipelineUndated => BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(
                        self.pipeline()
                            .layer()
                            .classifier(classifier)
                            .clone_requests(policy),
                    )
                    .service(dependency),
            ),
        }
    }

    /// The stacked layers of [`guard`](Self::guard), the retry's and the timeout's
    /// reading each request's deadline with `extract`.
    fn stack<D, Req, C, P, X>(
        &self,
        dependency: D,
        classifier: C,
        policy: P,
        extract: X,
    ) -> BoxCloneSyncService<Req, u32, BoxError>
    where
        D: Guardable<Req>,
        Req: Send + 'static,
        C: Classify<u32, BoxError> + Clone + Send + Sync + 'static,
        P: CloneRequest<Req> + Clone + Send + Sync + 'static,
        X: ExtractDeadline<Req> + Clone + Send + Sync + 'static,
    {
        let below = ServiceBuilder::new()
            .layer(self.breaker.layer().classify(classifier.clone()))
            .option_layer(self.limiter.as_ref().map(RateLimiter::layer))
            .hardy_bulkhead(&self.bulkhead)
            .layer(self.timeout.layer().deadline_from(extract.clone()))
            .service(dependency);
        match &self.retry {
            Some(retry) => BoxCloneSyncService::new(
                retry
                    .layer()
                    .classify(classifier)
                    .clone_requests(policy)
                    .deadline_from(extract)
                    .layer(below),
            ),
            None => BoxCloneSyncService::new(below),
        }
    }

    pub(crate) fn events(&self) -> Vec<String> {
        self.events.lock().expect("log").clone()
    }

    /// The retry's events only.
    pub(crate) fn retry_events(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|event| {
                ["Retrying {", "Succeeded {", "GaveUp {"]
                    .iter()
                    .any(|kind| event.starts_with(kind))
            })
            .collect()
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        self.limiter.as_ref().expect("a rate limit")
    }

    pub(crate) fn budget_balance(&self) -> Option<f64> {
        self.retry
            .as_ref()
            .and_then(Retry::retry_budget)
            .map(RetryBudget::balance)
    }

    /// (state, calls, failures, consecutive failures) of the breaker.
    pub(crate) fn breaker_counts(&self) -> (BreakerState, u32, u32, u32) {
        let snapshot = self.breaker.snapshot();
        (
            snapshot.state,
            snapshot.calls,
            snapshot.failures,
            snapshot.consecutive_failures,
        )
    }

    /// (in flight, waiting, admitted, rejected) of the bulkhead.
    pub(crate) fn bulkhead_counts(&self) -> (usize, usize, u64, u64) {
        let stats = self.bulkhead.stats();
        (
            stats.in_flight,
            stats.waiting,
            stats.admitted,
            stats.rejected,
        )
    }

    pub(crate) fn record(&self) -> Record {
        Record {
            events: self.events(),
            breaker: self.breaker.snapshot(),
            bulkhead: self.bulkhead.stats(),
            budget: self.budget_balance(),
            rate_limit_ready_in: self.limiter.as_ref().map(RateLimiter::time_to_ready),
            reaches: self.dependency.reaches(),
        }
    }
}

pub(crate) type Classifier = fn(&Result<u32, BoxError>) -> Outcome;

/// What a run leaves: every event of the handles, in order, the breaker's snapshot, the
/// bulkhead's stats, the retry budget's balance, the time until the rate limit admits a
/// call at once, and the calls that reached the dependency. Taken as the run ends (a
/// snapshot reads the clock).
#[derive(Debug, PartialEq)]
pub(crate) struct Record {
    events: Vec<String>,
    breaker: BreakerSnapshot,
    bulkhead: BulkheadStats,
    budget: Option<f64>,
    rate_limit_ready_in: Option<Duration>,
    reaches: Vec<Reach>,
}

//! `Pipeline` decides exactly as the retry, breaker, rate limit, bulkhead and timeout
//! layers stacked in its order
//! (`.hardy_retry(&r).hardy_breaker(&b).hardy_rate_limit(&l).hardy_bulkhead(&k)
//! .hardy_timeout(&t)`).
//!
//! Most scenarios run twice, on twin handles built from one setup: once through the
//! stacked layers and once through a pipeline. Each run asserts what the scenario must
//! show; then the two runs are compared: every event the handles emitted, in order, the
//! breaker's snapshot, the bulkhead's stats, the retry budget's balance, the time until
//! the rate limit admits a call at once, and every call that reached the dependency
//! (which service instance made it, and whether that instance was made ready).
//!
//! A request may carry its caller's [`Deadline`]: the stack's retry and timeout layers
//! and the pipeline's layer all read it with the same `deadline_from` extractor.
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

use std::collections::{HashMap, VecDeque};
use std::future::{Future, Ready, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hardy::breaker::{BreakerConfig, BreakerSnapshot, BreakerState, Window};
use hardy::bulkhead::{BulkheadConfig, BulkheadStats};
use hardy::prelude::*;
use hardy::rate_limit::RateLimitConfig;
use hardy::retry::{CloneRequest, Cloned, RetryBudgetConfig, RetryConfig, SendOnce};
use hardy::timeout::{ExtractDeadline, NoDeadline};
use hardy::{Pipeline, PipelineLayer, PipelineService};
use proptest::prelude::*;
use tokio::time::{Instant, advance, sleep};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::util::{BoxCloneSyncService, MapRequest, ServiceFn};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// The timeout's limit.
const LIMIT: Duration = Duration::from_secs(1);
/// How long the breaker stays open.
const OPEN_FOR: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the dependency does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Answers this at once.
    Ok(u32),
    /// Fails at once.
    Fail,
    /// Fails at once with the error `no ack {n}`.
    FailWith(u32),
    /// Never answers.
    Hang,
    /// Answers 1 after the delay.
    OkAfter(Duration),
    /// Fails after the delay.
    FailAfter(Duration),
    /// Panics when first polled.
    Panic,
    /// Does what the dependency's script of this number says next (`Ok(0)` once the
    /// script is done): a call's attempts each take the next step.
    Script(u8),
}

impl Call {
    /// This call, made by a caller whose deadline is `deadline`.
    fn by(self, deadline: Deadline) -> Request {
        Request {
            call: self,
            deadline: Some(deadline),
        }
    }
}

/// A request through the guards: what the dependency does with it, and the caller's
/// deadline, if any (read by the stack's retry and timeout and by the pipeline; the
/// dependency sees only the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Request {
    call: Call,
    deadline: Option<Deadline>,
}

impl From<Call> for Request {
    /// A call whose caller has no deadline.
    fn from(call: Call) -> Self {
        Request {
            call,
            deadline: None,
        }
    }
}

/// A request that may carry its caller's deadline.
trait Dated {
    fn deadline(&self) -> Option<Deadline>;
}

impl Dated for Request {
    fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }
}

/// The extractor given to `deadline_from`, the same for the retry, the timeout and the
/// pipeline.
fn deadline_of<Req: Dated>(request: &Req) -> Option<Deadline> {
    request.deadline()
}

/// Whether the dependency's services are ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Readiness {
    #[default]
    Ready,
    /// Not yet: woken when it changes.
    Pending,
    /// `poll_ready` fails with the error `not ready`.
    Fail,
}

/// A call that reached the dependency: the calls the service instance it reached had
/// made before (a clone starts from its original's count), and whether that instance
/// was polled ready for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reach {
    before: usize,
    readied: bool,
}

/// The guarded dependency; logs the calls that reach it.
#[derive(Debug, Clone, Default)]
struct Dependency {
    shared: Arc<DependencyState>,
}

#[derive(Debug, Default)]
struct DependencyState {
    reaches: Mutex<Vec<Reach>>,
    scripts: Mutex<HashMap<u8, VecDeque<Call>>>,
    readiness: Mutex<(Readiness, Vec<Waker>)>,
}

impl Dependency {
    fn reached(&self) -> usize {
        self.reaches().len()
    }

    fn reaches(&self) -> Vec<Reach> {
        self.shared.reaches.lock().expect("reaches").clone()
    }

    /// What calls `Call::Script(key)` do, one step per call, from now on.
    fn script(&self, key: u8, steps: impl IntoIterator<Item = Call>) {
        let steps = steps.into_iter().collect();
        self.shared
            .scripts
            .lock()
            .expect("scripts")
            .insert(key, steps);
    }

    /// Makes every service of the dependency ready, pending or failing, waking those
    /// waiting to be ready.
    fn readiness(&self, readiness: Readiness) {
        let waiting = {
            let mut state = self.shared.readiness.lock().expect("readiness");
            state.0 = readiness;
            std::mem::take(&mut state.1)
        };
        waiting.into_iter().for_each(Waker::wake);
    }

    fn service(&self) -> DependencyService {
        DependencyService {
            dependency: self.clone(),
            calls: 0,
            ready: false,
        }
    }
}

/// A service instance of the dependency: it counts its own calls (a clone starts from
/// its original's count) and knows whether it was polled ready (a clone was not).
#[derive(Debug)]
struct DependencyService {
    dependency: Dependency,
    calls: usize,
    ready: bool,
}

impl Clone for DependencyService {
    fn clone(&self) -> Self {
        DependencyService {
            dependency: self.dependency.clone(),
            calls: self.calls,
            ready: false,
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

impl Service<Call> for DependencyService {
    type Response = u32;
    type Error = BoxError;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let mut state = self.dependency.shared.readiness.lock().expect("readiness");
        match state.0 {
            Readiness::Ready => {
                self.ready = true;
                Poll::Ready(Ok(()))
            }
            Readiness::Pending => {
                state.1.push(cx.waker().clone());
                Poll::Pending
            }
            Readiness::Fail => Poll::Ready(Err(BoxError::from("not ready"))),
        }
    }

    fn call(&mut self, call: Call) -> Answer {
        let shared = &self.dependency.shared;
        shared.reaches.lock().expect("reaches").push(Reach {
            before: self.calls,
            readied: self.ready,
        });
        self.calls += 1;
        self.ready = false;
        let call = match call {
            Call::Script(key) => shared
                .scripts
                .lock()
                .expect("scripts")
                .get_mut(&key)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Call::Ok(0)),
            call => call,
        };
        Box::pin(async move {
            match call {
                Call::Ok(value) => Ok(value),
                Call::Fail => Err(BoxError::from("no ack")),
                Call::FailWith(n) => Err(BoxError::from(format!("no ack {n}"))),
                Call::Hang => pending().await,
                Call::OkAfter(delay) => {
                    sleep(delay).await;
                    Ok(1)
                }
                Call::FailAfter(delay) => {
                    sleep(delay).await;
                    Err(BoxError::from("no ack"))
                }
                Call::Panic => panic!("driver bug"),
                Call::Script(_) => unreachable!("a script's steps are not scripts"),
            }
        })
    }
}

/// The settings of the handles; `build` makes a fresh set, so one setup gives twins.
/// A retry and a rate limit are part of the set only when configured.
#[derive(Debug, Clone)]
struct Setup {
    breaker: BreakerConfig,
    bulkhead: BulkheadConfig,
    timeout: Duration,
    retry: Option<RetryConfig>,
    /// A retry budget given to the retry's builder (`Retry::builder(..).budget(..)`).
    budget: Option<RetryBudgetConfig>,
    rate_limit: Option<RateLimitConfig>,
}

/// Retries up to `max_attempts` attempts, `delay` apart, unjittered.
fn retries(max_attempts: u32, delay: Duration) -> RetryConfig {
    RetryConfig {
        max_attempts,
        backoff: Backoff::Constant { delay },
        jitter: Jitter::None,
        ..RetryConfig::default()
    }
}

/// `limit` calls per `period`, bursts of `burst`, a wait of up to `max_wait` for a turn.
fn rate(limit: u32, period: Duration, burst: u32, max_wait: Duration) -> RateLimitConfig {
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
    fn new() -> Self {
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

    fn consecutive_failures(mut self, failures: u32) -> Self {
        self.breaker.consecutive_failures = failures;
        self
    }

    fn slots(mut self, max_concurrent: u32) -> Self {
        self.bulkhead.max_concurrent = max_concurrent;
        self
    }

    fn queue(mut self, max_waiting: u32, max_wait: Duration) -> Self {
        self.bulkhead.max_waiting = max_waiting;
        self.bulkhead.max_wait = max_wait;
        self
    }

    fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }

    fn budget(mut self, budget: RetryBudgetConfig) -> Self {
        self.budget = Some(budget);
        self
    }

    fn rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Fresh handles, all reporting their events to one log.
    fn build(&self) -> Guards {
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
                    builder = builder
                        .budget(RetryBudget::new("dep", budget.clone()).expect("valid budget"));
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
trait Guardable<Req>:
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
enum Via {
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

type Svc = BoxCloneSyncService<Request, u32, BoxError>;
type Response = task::Spawn<<Svc as Service<Request>>::Future>;

/// One set of handles, its dependency and the log of its events.
struct Guards {
    retry: Option<Retry>,
    breaker: CircuitBreaker,
    limiter: Option<RateLimiter>,
    bulkhead: Bulkhead,
    timeout: Timeout,
    dependency: Dependency,
    events: Arc<Mutex<Vec<String>>>,
}

impl Guards {
    fn pipeline(&self) -> Pipeline {
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
    fn service(&self, via: Via) -> Svc {
        self.guard(via, self.requests(), DefaultClassifier, Cloned)
    }

    /// As [`service`](Self::service), the breaker (and the retry) classifying results
    /// with `classifier`.
    fn service_classified(&self, via: Via, classifier: Classifier) -> Svc {
        self.guard(via, self.requests(), classifier, Cloned)
    }

    /// A service of the dependency taking requests: it sees their calls only.
    fn requests(&self) -> MapRequest<DependencyService, fn(Request) -> Call> {
        self.dependency
            .service()
            .map_request(|request| request.call)
    }

    /// `dependency` guarded by the handles, `via` the stack or a pipeline, results
    /// classified by `classifier` (in the stack, the breaker's and the retry's), requests
    /// copied for retries by `policy`, each request's deadline read by [`deadline_of`]
    /// (in the stack, by the retry and the timeout) unless `via` is undated.
    fn guard<D, Req, C, P>(
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

    fn events(&self) -> Vec<String> {
        self.events.lock().expect("log").clone()
    }

    /// The retry's events only.
    fn retry_events(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|event| {
                ["Retrying {", "Succeeded {", "GaveUp {"]
                    .iter()
                    .any(|kind| event.starts_with(kind))
            })
            .collect()
    }

    fn limiter(&self) -> &RateLimiter {
        self.limiter.as_ref().expect("a rate limit")
    }

    fn budget_balance(&self) -> Option<f64> {
        self.retry
            .as_ref()
            .and_then(Retry::budget)
            .map(RetryBudget::balance)
    }

    /// (state, calls, failures, consecutive failures) of the breaker.
    fn breaker_counts(&self) -> (BreakerState, u32, u32, u32) {
        let snapshot = self.breaker.snapshot();
        (
            snapshot.state,
            snapshot.calls,
            snapshot.failures,
            snapshot.consecutive_failures,
        )
    }

    /// (in flight, waiting, admitted, rejected) of the bulkhead.
    fn bulkhead_counts(&self) -> (usize, usize, u64, u64) {
        let stats = self.bulkhead.stats();
        (
            stats.in_flight,
            stats.waiting,
            stats.admitted,
            stats.rejected,
        )
    }

    fn record(&self) -> Record {
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

type Classifier = fn(&Result<u32, BoxError>) -> Outcome;

/// What a run leaves: every event of the handles, in order, the breaker's snapshot, the
/// bulkhead's stats, the retry budget's balance, the time until the rate limit admits a
/// call at once, and the calls that reached the dependency. Taken as the run ends (a
/// snapshot reads the clock).
#[derive(Debug, PartialEq)]
struct Record {
    events: Vec<String>,
    breaker: BreakerSnapshot,
    bulkhead: BulkheadStats,
    budget: Option<f64>,
    rate_limit_ready_in: Option<Duration>,
    reaches: Vec<Reach>,
}

/// Runs `scenario` through the stack, then through a pipeline on twin handles, and
/// compares what the two runs left.
async fn through_both<F>(setup: &Setup, scenario: F)
where
    F: AsyncFn(&Guards, Via),
{
    through_each(setup, &[Via::Stack, Via::Pipeline], scenario).await;
}

/// Runs `scenario` `via` each way in turn, each on twin handles, and compares what each
/// run left with what the first left.
async fn through_each<F>(setup: &Setup, vias: &[Via], scenario: F)
where
    F: AsyncFn(&Guards, Via),
{
    let (&first, rest) = vias.split_first().expect("a way to run it");
    let guards = setup.build();
    scenario(&guards, first).await;
    let expected = guards.record();
    for &via in rest {
        let guards = setup.build();
        scenario(&guards, via).await;
        assert_eq!(
            guards.record(),
            expected,
            "the run {via:?} differs from the run {first:?}"
        );
    }
}

/// Readies `service` and makes the call, unpolled.
fn start(service: &mut Svc, call: impl Into<Request>) -> Response {
    let ready = service.poll_ready(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(ready, Poll::Ready(Ok(()))),
        "the dependency is ready"
    );
    task::spawn(service.call(call.into()))
}

/// Readies `service`, makes the call and awaits its answer.
async fn answer(service: &mut Svc, call: impl Into<Request>) -> Result<u32, BoxError> {
    service.ready().await?.call(call.into()).await
}

#[track_caller]
fn rejection(result: Result<u32, BoxError>) -> Rejection {
    match result {
        Ok(value) => panic!("expected a rejection, got Ok({value})"),
        Err(error) => match error.downcast::<Rejection>() {
            Ok(rejection) => *rejection,
            Err(error) => panic!("expected a rejection, got the error {error:?}"),
        },
    }
}

/// Opens the breaker with failures through `service` and waits out its open time: the
/// next call is a probe.
async fn half_open(guards: &Guards, service: &mut Svc) {
    for _ in 0..guards.breaker.config().consecutive_failures {
        let failed = answer(service, Call::Fail).await.expect_err("it fails");
        assert!(
            failed.as_rejection().is_none(),
            "the dependency's own error"
        );
    }
    assert_eq!(guards.breaker.state(), BreakerState::Open);
    advance(OPEN_FOR).await;
}

/// Readies `service`, makes the call and polls it once: it is pending.
fn start_pending(service: &mut Svc, call: impl Into<Request>) -> Response {
    let mut response = start(service, call);
    assert_pending!(response.poll());
    response
}

/// The probe slot is free: the next call through `service` is the probe, answers
/// `value`, and closes the breaker.
async fn probe_closes(guards: &Guards, service: &mut Svc, via: Via, value: u32) {
    assert_eq!(
        answer(service, Call::Ok(value)).await.expect("probe"),
        value,
        "{via:?}"
    );
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");
}

/// Asserts that `result` is the timeout's rejection of an attempt that ran for `after`,
/// its limit; `why` says which limit that was.
#[track_caller]
fn timed_out(result: Result<u32, BoxError>, after: Duration, via: Via, why: &str) {
    let timed_out = rejection(result);
    assert!(
        matches!(timed_out, Rejection::Timeout { elapsed, limit, .. } if elapsed == after && limit == after),
        "{via:?}: {why}: {timed_out:?}"
    );
}

/// Lets `call`, whose attempt is running, run out its time: pending until `after` has
/// passed, then [`timed_out`] after `after`.
async fn times_out_after(call: &mut Response, after: Duration, via: Via, why: &str) {
    advance(after - ms(1)).await;
    assert_pending!(call.poll());
    advance(ms(1)).await;
    timed_out(assert_ready!(call.poll()), after, via, why);
}

/// Asserts the breaker's counts (state, calls, failures, consecutive failures) and the
/// bulkhead's (in flight, waiting, admitted, rejected).
#[track_caller]
fn assert_counts(
    guards: &Guards,
    via: Via,
    breaker: (BreakerState, u32, u32, u32),
    bulkhead: (usize, usize, u64, u64),
) {
    assert_eq!(guards.breaker_counts(), breaker, "{via:?}");
    assert_eq!(guards.bulkhead_counts(), bulkhead, "{via:?}");
}

/// Asserts that the retry's last event is giving up after its third attempt, the last
/// it may make.
#[track_caller]
fn gave_up_after_three(guards: &Guards, via: Via) {
    assert_eq!(
        guards.retry_events().last().map(String::as_str),
        Some(
            r#"GaveUp { name: "dep", attempt: 3, outcome: Failure(Retryable), reason: MaxAttempts }"#
        ),
        "{via:?}"
    );
}

// 1. Success.

async fn successes_and_failures_are_recorded_and_free_their_slot(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    assert_eq!(answer(&mut service, Call::Ok(7)).await.expect("ok"), 7);

    let mut slow = start_pending(&mut service, Call::OkAfter(ms(300)));
    assert_eq!(
        guards.bulkhead_counts(),
        (1, 0, 2, 0),
        "{via:?}: a running call holds its slot"
    );
    advance(ms(300)).await;
    assert_eq!(assert_ready_ok!(slow.poll()), 1);
    assert_eq!(
        guards.bulkhead.stats().in_flight,
        0,
        "{via:?}: freed as the call answers, before its future is dropped"
    );
    drop(slow);
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 0, 0),
        "{via:?}"
    );

    answer(&mut service, Call::Fail)
        .await
        .expect_err("it fails");
    assert_counts(guards, via, (BreakerState::Closed, 3, 1, 1), (0, 0, 3, 0));
    assert_eq!(guards.dependency.reached(), 3, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_success_passes_through_is_recorded_and_frees_its_slot() {
    through_both(
        &Setup::new(),
        successes_and_failures_are_recorded_and_free_their_slot,
    )
    .await;
}

// 2. An open breaker.

async fn forced_open_refuses_without_calling(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.breaker.force_open();
    let refused = rejection(answer(&mut service, Call::Ok(1)).await);
    assert!(
        matches!(
            &refused,
            Rejection::CircuitOpen {
                retry_after: None,
                ..
            }
        ),
        "{via:?}: {refused:?}"
    );
    assert_eq!(refused.name(), "dep");
    assert_eq!(guards.dependency.reached(), 0, "{via:?}: never called");
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 0, 0),
        "{via:?}: a refused call takes no slot"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::ForcedOpen, 0, 0, 0),
        "{via:?}"
    );

    guards.breaker.reset();
    assert_eq!(answer(&mut service, Call::Ok(2)).await.expect("ok"), 2);
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_forced_open_breaker_refuses_and_never_calls_the_dependency() {
    through_both(&Setup::new(), forced_open_refuses_without_calling).await;
}

// 3. A full bulkhead.

async fn a_full_bulkhead_refuses(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let mut first = start_pending(&mut service, Call::OkAfter(ms(500)));

    let refused = rejection(answer(&mut service, Call::Ok(2)).await);
    assert!(
        matches!(
            refused,
            Rejection::BulkheadFull {
                in_flight: 1,
                max_concurrent: 1,
                waiting: 0,
                max_waiting: 0,
                ..
            }
        ),
        "{via:?}: {refused:?}"
    );
    assert_eq!(guards.dependency.reached(), 1, "{via:?}: the refused call");
    // One failure would open this breaker: the refusal is not one.
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 0, 0, 0),
        "{via:?}: the bulkhead's refusal is ignored by the breaker"
    );

    advance(ms(500)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1);
    assert_counts(guards, via, (BreakerState::Closed, 1, 0, 0), (0, 0, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_refuses_and_the_breaker_ignores_it_as_the_stack_does() {
    let setup = Setup::new().consecutive_failures(1).slots(1);
    through_both(&setup, a_full_bulkhead_refuses).await;
}

async fn a_probe_refused_by_the_bulkhead(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    half_open(guards, &mut service).await;
    let held = guards.bulkhead.try_acquire().expect("a free slot");

    let refused = rejection(answer(&mut service, Call::Ok(2)).await);
    assert!(refused.is_bulkhead_full(), "{via:?}: {refused:?}");
    assert_eq!(
        guards.breaker.state(),
        BreakerState::HalfOpen,
        "{via:?}: the refused probe neither closes nor reopens it"
    );

    drop(held);
    // Its probe slot was freed: the next call is the probe, and closes it.
    probe_closes(guards, &mut service, via, 3).await;
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_probe_refused_by_the_bulkhead_frees_the_probe_slot() {
    let setup = Setup::new().consecutive_failures(1).slots(1);
    through_both(&setup, a_probe_refused_by_the_bulkhead).await;
}

// 4. The bulkhead's queue.

async fn queued_calls_wait_and_a_dropped_one_leaves(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let mut first = start(&mut service, Call::OkAfter(ms(500)));
    let mut second = start(&mut service, Call::Ok(2));
    let mut third = start(&mut service, Call::Ok(3));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_pending!(third.poll());
    assert_eq!(guards.bulkhead_counts(), (1, 2, 1, 0), "{via:?}");
    assert_eq!(guards.dependency.reached(), 1, "{via:?}: queued calls wait");

    drop(second);
    assert_eq!(
        guards.bulkhead_counts(),
        (1, 1, 1, 0),
        "{via:?}: the dropped call left the queue"
    );

    advance(ms(500)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1);
    assert!(
        third.is_woken(),
        "{via:?}: the slot went to the next waiter"
    );
    let stats = guards.bulkhead.stats();
    assert_eq!(
        (stats.in_flight, stats.waiting),
        (1, 0),
        "{via:?}: handed over"
    );
    assert_eq!(assert_ready_ok!(third.poll()), 3);
    assert_counts(guards, via, (BreakerState::Closed, 2, 0, 0), (0, 0, 2, 0));
    assert_eq!(
        guards.dependency.reached(),
        2,
        "{via:?}: never the dropped one"
    );
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_runs_when_the_slot_frees_and_a_dropped_one_leaves_the_queue() {
    let setup = Setup::new().slots(1).queue(4, Duration::from_secs(10));
    through_both(&setup, queued_calls_wait_and_a_dropped_one_leaves).await;
}

async fn a_wait_that_runs_out(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let mut first = start(&mut service, Call::Hang);
    let mut second = start(&mut service, Call::Ok(2));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    advance(ms(499)).await;
    assert_pending!(second.poll());
    advance(ms(1)).await;
    let refused = rejection(assert_ready!(second.poll()));
    assert!(refused.is_bulkhead_full(), "{via:?}: {refused:?}");
    assert_eq!(guards.bulkhead_counts(), (1, 0, 1, 1), "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 0, 0, 0),
        "{via:?}: ignored"
    );

    advance(ms(500)).await;
    assert!(rejection(assert_ready!(first.poll())).is_timeout());
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}"
    );
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_whose_wait_runs_out_is_refused_and_ignored() {
    let setup = Setup::new().slots(1).queue(1, ms(500));
    through_both(&setup, a_wait_that_runs_out).await;
}

async fn a_queued_call_is_timed_from_its_start(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let started = Instant::now();
    let mut first = start(&mut service, Call::OkAfter(ms(800)));
    let mut second = start(&mut service, Call::Hang);
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    advance(ms(800)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1);
    assert_pending!(second.poll());
    assert_eq!(guards.dependency.reached(), 2, "{via:?}: admitted, running");
    // Its second of time started with it, not when it queued.
    times_out_after(
        &mut second,
        LIMIT,
        via,
        "timed from when it ran, at the limit",
    )
    .await;
    assert_eq!(started.elapsed(), ms(800) + LIMIT);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 2, 0), "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_is_timed_from_when_it_runs_not_from_when_it_queued() {
    let setup = Setup::new().slots(1).queue(1, Duration::from_secs(10));
    through_both(&setup, a_queued_call_is_timed_from_its_start).await;
}

// 5. The timeout.

async fn a_hung_call_times_out(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Hang);
    assert_eq!(guards.bulkhead.stats().in_flight, 1, "{via:?}");
    times_out_after(&mut call, LIMIT, via, "at the limit").await;
    assert_eq!(started.elapsed(), LIMIT);
    assert_eq!(
        guards.bulkhead.stats().in_flight,
        0,
        "{via:?}: freed as it timed out"
    );
    // One failure opens this breaker: the timeout was one.
    let snapshot = guards.breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::Open, "{via:?}");
    assert_eq!(snapshot.retry_after, Some(OPEN_FOR), "{via:?}");
    assert_eq!(
        guards.events(),
        [
            r#"TimedOut { name: "dep", elapsed: 1s, limit: 1s, by_deadline: false }"#,
            r#"StateChanged { name: "dep", from: Closed, to: Open, reason: ConsecutiveFailures { count: 1 } }"#,
        ],
        "{via:?}: timed out, then recorded"
    );
    drop(call);

    let refused = rejection(answer(&mut service, Call::Ok(1)).await);
    assert!(refused.is_circuit_open(), "{via:?}: {refused:?}");
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_answers_times_out_counts_as_a_failure_and_frees_its_slot() {
    let setup = Setup::new().consecutive_failures(1);
    through_both(&setup, a_hung_call_times_out).await;
}

/// Marks its flag when dropped.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_call_is_dropped_when_it_times_out() {
    // Stricter than the stack, whose timeout keeps the abandoned future until its
    // response future is dropped: the pipeline drops it as it times out.
    let guards = Setup::new().build();
    let dropped = Arc::new(AtomicUsize::new(0));
    let flag = dropped.clone();
    let mut service = ServiceBuilder::new()
        .layer(guards.pipeline().layer())
        .service_fn(move |_: ()| {
            let flag = DropFlag(flag.clone());
            async move {
                let _flag = flag;
                pending::<Result<u32, BoxError>>().await
            }
        });
    let mut call = task::spawn(service.ready().await.expect("ready").call(()));
    assert_pending!(call.poll());
    advance(LIMIT).await;
    assert!(rejection(assert_ready!(call.poll())).is_timeout());
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    drop(call);
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "dropped once");
}

// 6. Cancellation.

async fn a_dropped_probe(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    half_open(guards, &mut service).await;
    let probe = start_pending(&mut service, Call::Hang);
    assert_eq!(guards.breaker.state(), BreakerState::HalfOpen, "{via:?}");
    assert_eq!(guards.bulkhead.stats().in_flight, 1, "{via:?}");
    let refused = rejection(answer(&mut service, Call::Ok(2)).await);
    assert!(
        refused.is_circuit_open(),
        "{via:?}: the one probe slot is taken: {refused:?}"
    );

    drop(probe);
    assert_eq!(
        guards.bulkhead.stats().in_flight,
        0,
        "{via:?}: the slot is freed"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::HalfOpen, 0, 0, 0),
        "{via:?}: nothing recorded"
    );
    // The probe slot is freed too: the next call probes, and closes it.
    probe_closes(guards, &mut service, via, 3).await;
    assert_eq!(guards.dependency.reached(), 3, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_running_probe_frees_its_slot_and_its_probe_slot() {
    let setup = Setup::new().consecutive_failures(1).slots(1);
    through_both(&setup, a_dropped_probe).await;
}

async fn a_dropped_queued_probe(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    half_open(guards, &mut service).await;
    let held = guards.bulkhead.try_acquire().expect("a free slot");
    let probe = start_pending(&mut service, Call::Ok(2));
    assert_eq!(guards.bulkhead_counts(), (1, 1, 2, 0), "{via:?}: it queues");

    drop(probe);
    assert_eq!(
        guards.bulkhead_counts(),
        (1, 0, 2, 0),
        "{via:?}: it left the queue"
    );
    drop(held);
    assert_eq!(guards.bulkhead.stats().in_flight, 0, "{via:?}");
    probe_closes(guards, &mut service, via, 3).await;
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_queued_probe_leaves_the_queue_and_frees_its_probe_slot() {
    let setup = Setup::new()
        .consecutive_failures(1)
        .slots(1)
        .queue(1, Duration::from_secs(10));
    through_both(&setup, a_dropped_queued_probe).await;
}

async fn an_unpolled_probe_dropped(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    half_open(guards, &mut service).await;
    // Admitted by `call`: holds the probe slot and a bulkhead slot unpolled.
    let probe = start(&mut service, Call::Hang);
    assert_eq!(guards.bulkhead.stats().in_flight, 1, "{via:?}");
    assert!(rejection(answer(&mut service, Call::Ok(2)).await).is_circuit_open());
    drop(probe);
    assert_eq!(guards.bulkhead.stats().in_flight, 0, "{via:?}");
    probe_closes(guards, &mut service, via, 3).await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_probe_never_polled_frees_both_slots() {
    let setup = Setup::new().consecutive_failures(1).slots(1);
    through_both(&setup, an_unpolled_probe_dropped).await;
}

// 7. A panic.

async fn a_panicking_dependency(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let mut call = start(&mut service, Call::Panic);
    let panicked = catch_unwind(AssertUnwindSafe(|| call.poll()));
    assert!(panicked.is_err(), "{via:?}: the panic reaches the caller");
    drop(call);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 1, 0), "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 0, 0, 0),
        "{via:?}: nothing recorded"
    );

    half_open(guards, &mut service).await;
    let mut probe = start(&mut service, Call::Panic);
    assert!(catch_unwind(AssertUnwindSafe(|| probe.poll())).is_err());
    drop(probe);
    assert_eq!(guards.bulkhead.stats().in_flight, 0, "{via:?}");
    assert_eq!(guards.breaker.state(), BreakerState::HalfOpen, "{via:?}");
    probe_closes(guards, &mut service, via, 4).await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_dependency_frees_the_slot_and_the_probe_slot() {
    let setup = Setup::new().consecutive_failures(1).slots(1);
    through_both(&setup, a_panicking_dependency).await;
}

// A classifier of the layer's own.

/// A 5xx answer is a failure; the rest as by default.
fn by_status(result: &Result<u32, BoxError>) -> Outcome {
    match result {
        Ok(status) if *status >= 500 => Outcome::RETRYABLE_FAILURE,
        other => DefaultClassifier.classify(other),
    }
}

async fn classified_answers(guards: &Guards, via: Via) {
    let mut service = guards.service_classified(via, by_status);
    assert_eq!(answer(&mut service, Call::Ok(200)).await.expect("ok"), 200);
    assert_eq!(answer(&mut service, Call::Ok(503)).await.expect("ok"), 503);
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 1, 1),
        "{via:?}"
    );
    assert_eq!(answer(&mut service, Call::Ok(503)).await.expect("ok"), 503);
    assert_eq!(guards.breaker.state(), BreakerState::Open, "{via:?}");
    assert!(rejection(answer(&mut service, Call::Ok(200)).await).is_circuit_open());
}

#[tokio::test(start_paused = true)]
async fn the_layers_classifier_decides_what_the_breaker_records() {
    let setup = Setup::new().consecutive_failures(2);
    through_both(&setup, classified_answers).await;
}

// 8. Pipelines with some patterns only.

/// Readies `service`, a pipeline's layer over the dependency alone, makes the call and
/// awaits its answer.
async fn answer_call<S>(service: &mut S, call: Call) -> Result<u32, BoxError>
where
    S: Service<Call, Response = u32, Error = BoxError>,
{
    service.ready().await?.call(call).await
}

/// Makes `count` calls that never answer through `service`, unreadied, and polls each
/// once: all are pending.
fn hung_calls<S>(service: &mut S, count: usize) -> Vec<task::Spawn<S::Future>>
where
    S: Service<Call, Response = u32, Error = BoxError>,
{
    let mut calls: Vec<_> = (0..count)
        .map(|_| task::spawn(service.call(Call::Hang)))
        .collect();
    still_pending(&mut calls);
    calls
}

/// Polls each of `calls`: all are pending.
fn still_pending<F: Future<Output = Result<u32, BoxError>>>(calls: &mut [task::Spawn<F>]) {
    for call in calls {
        assert_pending!(call.poll());
    }
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_nothing_set_passes_calls_through() {
    let pipeline = Pipeline::new();
    assert!(pipeline.get_breaker().is_none());
    assert!(pipeline.get_bulkhead().is_none());
    assert!(pipeline.get_timeout().is_none());
    let dependency = Dependency::default();
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(dependency.service());
    assert_eq!(answer_call(&mut service, Call::Ok(5)).await.unwrap(), 5);
    let failed = answer_call(&mut service, Call::Fail).await;
    assert!(failed.unwrap_err().as_rejection().is_none());
    // No slots and no limit: many calls run at once, for as long as they take.
    let mut hung = hung_calls(&mut service, 20);
    advance(Duration::from_secs(3600)).await;
    still_pending(&mut hung);
    assert_eq!(dependency.reached(), 22);
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_only_a_timeout_times_calls_out() {
    let guards = Setup::new().build();
    let pipeline = Pipeline::new().timeout(&guards.timeout);
    assert_eq!(
        pipeline.get_timeout().map(Timeout::name),
        Some(&"dep".into())
    );
    assert!(pipeline.get_breaker().is_none() && pipeline.get_bulkhead().is_none());
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(guards.dependency.service());
    assert_eq!(answer_call(&mut service, Call::Ok(5)).await.unwrap(), 5);
    let mut calls = hung_calls(&mut service, 3);
    advance(LIMIT).await;
    for call in &mut calls {
        assert!(rejection(assert_ready!(call.poll())).is_timeout());
    }
    // The twin breaker and bulkhead were not part of it.
    assert_eq!(guards.breaker_counts(), (BreakerState::Closed, 0, 0, 0));
    assert_eq!(guards.bulkhead_counts(), (0, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_only_a_bulkhead_limits_calls() {
    let guards = Setup::new().slots(1).build();
    let pipeline = Pipeline::new().bulkhead(&guards.bulkhead);
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(guards.dependency.service());
    let mut first = task::spawn(service.call(Call::OkAfter(Duration::from_secs(60))));
    assert_pending!(first.poll());
    let refused = answer_call(&mut service, Call::Ok(2)).await;
    assert!(rejection(refused).is_bulkhead_full());
    // No timeout: the first call runs for its whole minute.
    advance(Duration::from_secs(59)).await;
    assert_pending!(first.poll());
    advance(Duration::from_secs(1)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1);
    assert_eq!(answer_call(&mut service, Call::Ok(3)).await.unwrap(), 3);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 2, 1));
    assert_eq!(guards.dependency.reached(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_only_a_breaker_opens_on_failures() {
    let guards = Setup::new().consecutive_failures(2).build();
    let pipeline = Pipeline::new().breaker(&guards.breaker);
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(guards.dependency.service());
    // No bulkhead: any number of calls run at once.
    let mut hung = hung_calls(&mut service, 5);
    for _ in 0..2 {
        let failed = answer_call(&mut service, Call::Fail).await;
        assert!(failed.unwrap_err().as_rejection().is_none());
    }
    assert_eq!(guards.breaker.state(), BreakerState::Open);
    let refused = answer_call(&mut service, Call::Ok(1)).await;
    assert!(rejection(refused).is_circuit_open());
    // No timeout: the hung calls are still running.
    advance(Duration::from_secs(3600)).await;
    still_pending(&mut hung);
    assert_eq!(guards.dependency.reached(), 7);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 0, 0));
}

#[test]
fn a_pipeline_shows_its_handles_and_replaces_them() {
    let guards = Setup::new().build();
    let other = Bulkhead::builder("other").build().expect("valid");
    let pipeline = guards.pipeline().bulkhead(&other);
    assert_eq!(
        pipeline.get_bulkhead().map(Bulkhead::name),
        Some(&"other".into())
    );
    let shown = format!("{pipeline:?}");
    for field in [
        r#"breaker: Some("dep")"#,
        r#"bulkhead: Some("other")"#,
        r#"timeout: Some("dep")"#,
    ] {
        assert!(shown.contains(field), "{shown} shows {field}");
    }
    let service: PipelineService<u8> = pipeline.layer().layer(7);
    assert_eq!(
        service.pipeline().get_breaker().map(CircuitBreaker::name),
        Some(&"dep".into())
    );
    assert_eq!(*service.get_ref(), 7);
    assert_eq!(service.into_inner(), 7);

    assert!(Pipeline::new().is_empty(), "nothing set");
    assert!(!pipeline.is_empty());
    assert!(
        !Pipeline::new().bulkhead(&other).is_empty(),
        "one pattern set"
    );
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    type Inner = ServiceFn<fn(u8) -> Ready<Result<u8, BoxError>>>;
    send_sync::<Pipeline>();
    send_sync::<PipelineLayer>();
    send_sync::<PipelineService<Inner>>();
    send_sync::<<PipelineService<Inner> as Service<u8>>::Future>();
}

// 9. Retries.

async fn a_failing_dependency_retried_on_schedule(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    // A first call: the service the caller readies has made one call since.
    assert_eq!(answer(&mut service, Call::Ok(1)).await.expect("ok"), 1);
    guards
        .dependency
        .script(0, [Call::Fail, Call::Fail, Call::Ok(7)]);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Script(0));
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 1, 1),
        "{via:?}: the failed attempt is recorded"
    );
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 2, 0),
        "{via:?}: its slot is freed while it waits to retry"
    );

    advance(ms(99)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 2, "{via:?}: not before 100 ms");
    advance(ms(1)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 3, "{via:?}: the first retry");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 3, 2, 2),
        "{via:?}: each attempt is recorded"
    );

    advance(ms(199)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 3, "{via:?}: not before 200 ms");
    advance(ms(1)).await;
    assert_eq!(assert_ready_ok!(call.poll()), 7, "{via:?}");
    assert_eq!(started.elapsed(), ms(300), "{via:?}");
    assert_counts(guards, via, (BreakerState::Closed, 4, 2, 0), (0, 0, 4, 0));
    let readied = |before| Reach {
        before,
        readied: true,
    };
    assert_eq!(
        guards.dependency.reaches(),
        // The first attempt is made with the caller's service (its second call); each
        // retry with a fresh clone of the spare, made ready first.
        [readied(0), readied(1), readied(0), readied(0)],
        "{via:?}"
    );
    assert_eq!(
        guards.retry_events(),
        [
            r#"Succeeded { name: "dep", attempt: 1 }"#,
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 200ms }"#,
            r#"Succeeded { name: "dep", attempt: 3 }"#,
        ],
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_dependency_is_retried_on_the_schedule_each_attempt_recorded() {
    let setup = Setup::new().retry(RetryConfig {
        backoff: Backoff::Exponential {
            initial: ms(100),
            multiplier: 2.0,
        },
        ..retries(3, ms(100))
    });
    through_both(&setup, a_failing_dependency_retried_on_schedule).await;
}

async fn attempts_run_out(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(
        0,
        [
            Call::FailWith(1),
            Call::FailWith(2),
            Call::FailWith(3),
            Call::Ok(9),
        ],
    );
    let started = Instant::now();
    let failed = answer(&mut service, Call::Script(0))
        .await
        .expect_err("every attempt fails");
    assert!(failed.as_rejection().is_none(), "{via:?}: {failed:?}");
    assert_eq!(
        failed.to_string(),
        "no ack 3",
        "{via:?}: the last attempt's own error"
    );
    assert_eq!(started.elapsed(), ms(200), "{via:?}");
    assert_eq!(guards.dependency.reached(), 3, "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Open, 0, 0, 0),
        "{via:?}: the third failure opened it"
    );
    assert_eq!(
        guards.events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"StateChanged { name: "dep", from: Closed, to: Open, reason: ConsecutiveFailures { count: 3 } }"#,
            r#"GaveUp { name: "dep", attempt: 3, outcome: Failure(Retryable), reason: MaxAttempts }"#,
        ],
        "{via:?}: recorded, then judged"
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_are_limited_by_max_attempts_and_the_last_error_is_returned() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, attempts_run_out).await;
}

async fn sent_once(guards: &Guards, via: Via) {
    let mut service = guards.guard(via, guards.requests(), DefaultClassifier, SendOnce);
    guards.dependency.script(0, [Call::Fail, Call::Ok(2)]);
    let failed = answer(&mut service, Call::Script(0))
        .await
        .expect_err("it fails");
    assert_eq!(failed.to_string(), "no ack", "{via:?}");
    assert_eq!(guards.dependency.reached(), 1, "{via:?}: never retried");
    assert_eq!(
        guards.retry_events(),
        [
            r#"GaveUp { name: "dep", attempt: 1, outcome: Failure(Retryable), reason: NotCloneable }"#
        ],
        "{via:?}"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_sent_once_is_never_retried() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, sent_once).await;
}

/// A request that counts its copies: each copy is numbered (the original is 0).
#[derive(Debug)]
struct Numbered {
    number: usize,
    copies: Arc<AtomicUsize>,
}

impl Dated for Numbered {
    fn deadline(&self) -> Option<Deadline> {
        None
    }
}

impl Clone for Numbered {
    fn clone(&self) -> Self {
        Numbered {
            number: self.copies.fetch_add(1, Ordering::SeqCst) + 1,
            copies: self.copies.clone(),
        }
    }
}

/// Sends a numbered request to a dependency that fails its first two attempts, through
/// the handles with `policy`: the numbers of the requests that reached it, the copies
/// made, and the answer.
async fn numbered_attempts<P>(
    guards: &Guards,
    via: Via,
    policy: P,
) -> (Vec<usize>, usize, Result<u32, BoxError>)
where
    P: CloneRequest<Numbered> + Clone + Send + Sync + 'static,
{
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let dependency = service_fn(move |request: Numbered| {
        let attempt = {
            let mut log = log.lock().expect("received");
            log.push(request.number);
            log.len()
        };
        async move {
            match attempt {
                1 | 2 => Err(BoxError::from(format!("no ack {attempt}"))),
                _ => Ok(10),
            }
        }
    });
    let mut service = guards.guard(via, dependency, DefaultClassifier, policy);
    let copies = Arc::new(AtomicUsize::new(0));
    let request = Numbered {
        number: 0,
        copies: copies.clone(),
    };
    let result = service.ready().await.expect("ready").call(request).await;
    let received = received.lock().expect("received").clone();
    (received, copies.load(Ordering::SeqCst), result)
}

async fn copied_requests(guards: &Guards, via: Via) {
    let (received, copies, result) = numbered_attempts(guards, via, Cloned).await;
    assert_eq!(result.expect("the third attempt"), 10, "{via:?}");
    assert_eq!(
        received,
        [0, 1, 2],
        "{via:?}: each retry sends a copy of the request kept from the attempt before"
    );
    assert_eq!(
        copies, 3,
        "{via:?}: one copy kept at the call, one more at each retry"
    );

    let (received, copies, result) = numbered_attempts(guards, via, SendOnce).await;
    assert_eq!(result.expect_err("sent once").to_string(), "no ack 1");
    assert_eq!((received, copies), (vec![0], 0), "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn each_retry_sends_a_copy_of_the_request() {
    let setup = Setup::new()
        .consecutive_failures(10)
        .retry(retries(3, ms(10)));
    through_both(&setup, copied_requests).await;
}

async fn a_retry_refused_by_the_open_breaker(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Fail, Call::Fail, Call::Ok(3)]);
    let refused = rejection(answer(&mut service, Call::Script(0)).await);
    assert!(
        matches!(
            refused,
            Rejection::CircuitOpen { retry_after: Some(after), .. } if after == OPEN_FOR - ms(100)
        ),
        "{via:?}: the last attempt's result, the open breaker's refusal: {refused:?}"
    );
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Open, 0, 0, 0),
        "{via:?}"
    );
    assert_eq!(
        guards.retry_events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"GaveUp { name: "dep", attempt: 3, outcome: Ignore(RetryAfter(4.9s)), reason: NotRetryable }"#,
        ],
        "{via:?}: an open breaker's refusal is ignored, and not retried by default"
    );
    assert_eq!(guards.bulkhead_counts(), (0, 0, 2, 0), "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_the_breaker_opens_is_refused_and_ends_the_call() {
    let setup = Setup::new()
        .consecutive_failures(2)
        .retry(retries(3, ms(100)));
    through_both(&setup, a_retry_refused_by_the_open_breaker).await;
}

async fn a_retry_that_waits_for_the_breaker(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Fail, Call::Fail, Call::Ok(3)]);
    let started = Instant::now();
    assert_eq!(
        answer(&mut service, Call::Script(0)).await.expect("probe"),
        3,
        "{via:?}"
    );
    assert_eq!(
        started.elapsed(),
        ms(200) + OPEN_FOR - ms(100),
        "{via:?}: refused at 200 ms, retried when the breaker half-opens"
    );
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");
    assert_eq!(guards.dependency.reached(), 3, "{via:?}");
    assert_eq!(
        guards.retry_events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Retrying { name: "dep", attempt: 3, outcome: Ignore(RetryAfter(4.9s)), delay: 4.9s }"#,
            r#"Succeeded { name: "dep", attempt: 4 }"#,
        ],
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_told_to_wait_for_retry_after_waits_out_the_open_breaker_and_probes() {
    let setup = Setup::new().consecutive_failures(2).retry(RetryConfig {
        wait_for_retry_after: true,
        ..retries(4, ms(100))
    });
    through_both(&setup, a_retry_that_waits_for_the_breaker).await;
}

async fn a_timed_out_attempt_retried(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Hang, Call::OkAfter(ms(900))]);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Script(0));
    advance(LIMIT).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.events(),
        [
            r#"TimedOut { name: "dep", elapsed: 1s, limit: 1s, by_deadline: false }"#,
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
        ],
        "{via:?}: timed out, recorded, then retried"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}"
    );
    assert_eq!(guards.bulkhead.stats().in_flight, 0, "{via:?}");

    advance(ms(100)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    // The retry has a second of its own.
    advance(ms(899)).await;
    assert_pending!(call.poll());
    advance(ms(1)).await;
    assert_eq!(assert_ready_ok!(call.poll()), 1, "{via:?}");
    assert_eq!(started.elapsed(), ms(2000), "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 1, 0),
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_timed_out_is_retried_with_a_timeout_of_its_own() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, a_timed_out_attempt_retried).await;
}

async fn every_attempt_times_out(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Hang, Call::Hang, Call::Hang]);
    let started = Instant::now();
    let timed_out = rejection(answer(&mut service, Call::Script(0)).await);
    assert!(timed_out.is_timeout(), "{via:?}: {timed_out:?}");
    assert_eq!(started.elapsed(), LIMIT * 3 + ms(200), "{via:?}");
    assert_counts(guards, via, (BreakerState::Open, 0, 0, 0), (0, 0, 3, 0));
    gave_up_after_three(guards, via);
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_every_attempt_times_out_ends_with_the_timeout() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, every_attempt_times_out).await;
}

async fn a_retry_readied_first(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Fail, Call::Fail, Call::Ok(3)]);
    let mut call = start_pending(&mut service, Call::Script(0));
    guards.dependency.readiness(Readiness::Pending);
    advance(ms(100)).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.dependency.reached(),
        1,
        "{via:?}: the retry waits for its service to be ready"
    );
    assert_eq!(guards.bulkhead_counts(), (0, 0, 1, 0), "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}: not admitted yet"
    );

    guards.dependency.readiness(Readiness::Ready);
    assert!(call.is_woken(), "{via:?}");
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 2, "{via:?}: the retry, failed");

    guards.dependency.readiness(Readiness::Fail);
    advance(ms(100)).await;
    let failed = assert_ready!(call.poll()).expect_err("not ready");
    assert_eq!(
        failed.to_string(),
        "not ready",
        "{via:?}: the readiness error ends the call"
    );
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(
        guards.dependency.reaches(),
        [Reach {
            before: 0,
            readied: true
        }; 2],
        "{via:?}"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 2, 2),
        "{via:?}: the readiness error is not an attempt"
    );
    assert_eq!(
        guards.retry_events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"GaveUp { name: "dep", attempt: 2, outcome: Failure(Retryable), reason: NotReady }"#,
        ],
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_is_made_with_a_clone_made_ready_and_a_readiness_error_ends_the_call() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, a_retry_readied_first).await;
}

async fn zero_delay_retries(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Fail, Call::Fail, Call::Ok(4)]);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Script(0));
    assert!(
        call.is_woken(),
        "{via:?}: it yields, woken to retry at once"
    );
    assert_eq!(
        guards.dependency.reached(),
        1,
        "{via:?}: the retry waits for the next poll"
    );
    assert_pending!(call.poll());
    assert!(call.is_woken(), "{via:?}");
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(assert_ready_ok!(call.poll()), 4, "{via:?}");
    assert_eq!(started.elapsed(), Duration::ZERO, "{via:?}");
    assert_eq!(
        guards.retry_events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 0ns }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 0ns }"#,
            r#"Succeeded { name: "dep", attempt: 3 }"#,
        ],
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_retry_yields_once_then_retries_at_once() {
    let setup = Setup::new().retry(retries(3, Duration::ZERO));
    through_both(&setup, zero_delay_retries).await;
}

async fn a_zero_delay_retry_after_another_call(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Ok(1)]);
    let mut first = start_pending(&mut service, Call::Script(0));
    // While the first yields before its retry, another call takes the one slot.
    let mut second = start_pending(&mut service, Call::OkAfter(ms(100)));
    let refused = rejection(assert_ready!(first.poll()));
    assert!(
        refused.is_bulkhead_full(),
        "{via:?}: the retry finds the slot taken: {refused:?}"
    );
    advance(ms(100)).await;
    assert_eq!(assert_ready_ok!(second.poll()), 1, "{via:?}");
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_retry_lets_a_call_made_meanwhile_go_first() {
    let setup = Setup::new().slots(1).retry(retries(3, Duration::ZERO));
    through_both(&setup, a_zero_delay_retry_after_another_call).await;
}

async fn classified_retries(guards: &Guards, via: Via) {
    let mut service = guards.service_classified(via, by_status);
    guards.dependency.script(0, [Call::Ok(503), Call::Ok(200)]);
    assert_eq!(
        answer(&mut service, Call::Script(0)).await.expect("ok"),
        200,
        "{via:?}: a 5xx answer is retried"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 1, 0),
        "{via:?}: and recorded as a failure"
    );
    guards.dependency.script(0, [Call::Ok(503); 3]);
    assert_eq!(
        answer(&mut service, Call::Script(0)).await.expect("ok"),
        503,
        "{via:?}: the last real answer"
    );
    assert_eq!(guards.dependency.reached(), 5, "{via:?}");
    gave_up_after_three(guards, via);
}

#[tokio::test(start_paused = true)]
async fn the_layers_classifier_decides_what_is_retried_as_well_as_what_is_recorded() {
    let setup = Setup::new()
        .consecutive_failures(10)
        .retry(retries(3, ms(100)));
    through_both(&setup, classified_retries).await;
}

async fn a_panicking_retry(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Panic]);
    let mut call = start_pending(&mut service, Call::Script(0));
    assert_eq!(guards.breaker.state(), BreakerState::Open, "{via:?}");
    advance(OPEN_FOR).await;
    let panicked = catch_unwind(AssertUnwindSafe(|| call.poll()));
    assert!(panicked.is_err(), "{via:?}: the retry, the probe, panics");
    drop(call);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 2, 0), "{via:?}");
    assert_eq!(guards.breaker.state(), BreakerState::HalfOpen, "{via:?}");
    // Its probe slot was freed: the next call is the probe, and closes it.
    probe_closes(guards, &mut service, via, 3).await;
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_panics_frees_its_slot_and_its_probe_slot() {
    let setup = Setup::new()
        .consecutive_failures(1)
        .slots(1)
        .retry(retries(2, OPEN_FOR));
    through_both(&setup, a_panicking_retry).await;
}

/// Retries of 3 attempts 100 ms apart on a budget of one token at most, refilled only
/// by `retry_ratio` a call; a breaker that these failures do not open.
fn budgeted(retry_ratio: f64) -> Setup {
    Setup::new()
        .consecutive_failures(10)
        .retry(retries(3, ms(100)))
        .budget(RetryBudgetConfig {
            retry_ratio,
            min_retries_per_second: 0.0,
            max_balance: 1,
        })
}

async fn a_budget_runs_out(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail; 4]);
    let started = Instant::now();
    let failed = answer(&mut service, Call::Script(0))
        .await
        .expect_err("it fails");
    assert_eq!(failed.to_string(), "no ack", "{via:?}");
    assert_eq!(
        started.elapsed(),
        ms(100),
        "{via:?}: one retry, on the one token"
    );
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(guards.budget_balance(), Some(0.0), "{via:?}");

    let failed = answer(&mut service, Call::Script(0))
        .await
        .expect_err("it fails");
    assert_eq!(failed.to_string(), "no ack", "{via:?}");
    assert_eq!(guards.dependency.reached(), 3, "{via:?}: no retry at all");
    assert_eq!(
        guards.retry_events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"GaveUp { name: "dep", attempt: 2, outcome: Failure(Retryable), reason: BudgetExhausted }"#,
            r#"GaveUp { name: "dep", attempt: 1, outcome: Failure(Retryable), reason: BudgetExhausted }"#,
        ],
        "{via:?}"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 3, 3, 3),
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_retry_budget_ends_calls_with_their_failure() {
    let setup = budgeted(0.0);
    through_both(&setup, a_budget_runs_out).await;
}

async fn a_budget_filled_by_calls(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    // The one token, then half a token a call: the second call's deposit makes one.
    guards.dependency.script(0, [Call::Fail, Call::Ok(1)]);
    assert_eq!(
        answer(&mut service, Call::Script(0))
            .await
            .expect("retried"),
        1
    );
    guards.dependency.script(0, [Call::Fail, Call::Ok(2)]);
    let failed = answer(&mut service, Call::Script(0)).await;
    assert_eq!(
        failed.expect_err("no token").to_string(),
        "no ack",
        "{via:?}: half a token"
    );
    guards.dependency.script(0, [Call::Fail, Call::Ok(3)]);
    assert_eq!(
        answer(&mut service, Call::Script(0))
            .await
            .expect("retried"),
        3,
        "{via:?}: two deposits, one token"
    );
    assert_eq!(guards.budget_balance(), Some(0.0), "{via:?}");
    assert_eq!(guards.dependency.reached(), 5, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn every_call_deposits_in_the_retry_budget() {
    let setup = budgeted(0.5);
    through_both(&setup, a_budget_filled_by_calls).await;
}

// 10. Rate limits.

async fn a_refusing_rate_limit(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    assert_eq!(answer(&mut service, Call::Ok(1)).await.expect("ok"), 1);
    assert_eq!(answer(&mut service, Call::Ok(2)).await.expect("ok"), 2);
    let refused = rejection(answer(&mut service, Call::Ok(3)).await);
    assert!(
        matches!(refused, Rejection::RateLimited { retry_after, .. } if retry_after == ms(500)),
        "{via:?}: {refused:?}"
    );
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    // One failure would open this breaker: the refusal is not one.
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 0, 0),
        "{via:?}: the rate limit's refusal is ignored by the breaker"
    );
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 2, 0),
        "{via:?}: refused before the bulkhead"
    );
    assert_eq!(
        guards.events(),
        [r#"Rejected { name: "dep", retry_after: 500ms }"#],
        "{via:?}"
    );
    assert_eq!(guards.limiter().time_to_ready(), ms(500), "{via:?}");

    advance(ms(500)).await;
    assert_eq!(answer(&mut service, Call::Ok(4)).await.expect("ok"), 4);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_refuses_calls_beyond_its_burst_and_the_breaker_ignores_it() {
    let setup = Setup::new().consecutive_failures(1).rate_limit(rate(
        2,
        Duration::from_secs(1),
        2,
        Duration::ZERO,
    ));
    through_both(&setup, a_refusing_rate_limit).await;
}

async fn a_probe_refused_by_the_rate_limit(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    half_open(guards, &mut service).await;
    // Both turns of the burst taken through the shared handle.
    guards.limiter().check().expect("a turn");
    guards.limiter().check().expect("a turn");

    let refused = rejection(answer(&mut service, Call::Ok(2)).await);
    assert!(refused.is_rate_limited(), "{via:?}: {refused:?}");
    assert_eq!(
        guards.breaker.state(),
        BreakerState::HalfOpen,
        "{via:?}: the refused probe neither closes nor reopens it"
    );

    advance(ms(100)).await;
    // Its probe slot was freed: the next call is the probe, and closes it.
    probe_closes(guards, &mut service, via, 3).await;
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_probe_refused_by_the_rate_limit_frees_the_probe_slot() {
    let setup = Setup::new().consecutive_failures(1).rate_limit(rate(
        10,
        Duration::from_secs(1),
        2,
        Duration::ZERO,
    ));
    through_both(&setup, a_probe_refused_by_the_rate_limit).await;
}

async fn a_wait_for_a_turn(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    assert_eq!(answer(&mut service, Call::Ok(1)).await.expect("ok"), 1);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::OkAfter(ms(900)));
    assert_eq!(
        guards.events(),
        [r#"Waiting { name: "dep", wait: 1.5s }"#],
        "{via:?}"
    );
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 1, 0),
        "{via:?}: no slot taken while it waits for its turn"
    );

    advance(ms(1499)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");
    advance(ms(1)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 2, "{via:?}: its turn came");
    assert_eq!(guards.bulkhead.stats().in_flight, 1, "{via:?}");
    // Timed from when it runs: the wait and the call together exceed the timeout.
    advance(ms(900)).await;
    assert_eq!(assert_ready_ok!(call.poll()), 1, "{via:?}");
    assert_eq!(started.elapsed(), ms(2400), "{via:?}");
    assert_counts(guards, via, (BreakerState::Closed, 2, 0, 0), (0, 0, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_that_waits_makes_the_call_wait_for_its_turn_then_run() {
    let setup = Setup::new().rate_limit(rate(2, Duration::from_secs(3), 1, Duration::from_secs(2)));
    through_both(&setup, a_wait_for_a_turn).await;
}

async fn turns_given_back(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    assert_eq!(answer(&mut service, Call::Ok(1)).await.expect("ok"), 1);
    let second = start_pending(&mut service, Call::Ok(2));
    let third = start_pending(&mut service, Call::Ok(3));
    assert_eq!(
        guards.limiter().time_to_ready(),
        Duration::from_secs(3),
        "{via:?}"
    );

    drop(third);
    assert_eq!(
        guards.limiter().time_to_ready(),
        Duration::from_secs(2),
        "{via:?}: the last turn reserved is given back"
    );
    let started = Instant::now();
    let mut fourth = start_pending(&mut service, Call::Ok(4));
    // A turn not the last reserved is not given back.
    drop(second);
    assert_eq!(
        guards.limiter().time_to_ready(),
        Duration::from_secs(3),
        "{via:?}"
    );
    advance(Duration::from_secs(2) - ms(1)).await;
    assert_pending!(fourth.poll());
    advance(ms(1)).await;
    assert_eq!(assert_ready_ok!(fourth.poll()), 4, "{via:?}");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "{via:?}: the third's turn, no later"
    );
    assert_eq!(
        guards.events(),
        [
            r#"Waiting { name: "dep", wait: 1s }"#,
            r#"Waiting { name: "dep", wait: 2s }"#,
            r#"Waiting { name: "dep", wait: 2s }"#,
        ],
        "{via:?}"
    );
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_counts(guards, via, (BreakerState::Closed, 2, 0, 0), (0, 0, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_waiting_for_its_turn_gives_the_turn_back() {
    let setup = Setup::new().rate_limit(rate(1, Duration::from_secs(1), 1, Duration::from_secs(5)));
    through_both(&setup, turns_given_back).await;
}

async fn a_retry_refused_a_turn(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Fail, Call::Fail, Call::Ok(5)]);
    let refused = rejection(answer(&mut service, Call::Script(0)).await);
    assert!(
        matches!(refused, Rejection::RateLimited { retry_after, .. } if retry_after == ms(50)),
        "{via:?}: the retry's attempt took a turn too soon: {refused:?}"
    );
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}: the refusal is not recorded"
    );
    assert_eq!(
        guards.events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Rejected { name: "dep", retry_after: 50ms }"#,
            r#"GaveUp { name: "dep", attempt: 2, outcome: Ignore(RetryAfter(50ms)), reason: NotRetryable }"#,
        ],
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_retry_takes_a_turn_and_a_refused_one_ends_the_call() {
    let setup = Setup::new().retry(retries(3, ms(100))).rate_limit(rate(
        20,
        Duration::from_secs(3),
        1,
        Duration::ZERO,
    ));
    through_both(&setup, a_retry_refused_a_turn).await;
}

async fn a_retry_waiting_out_the_rate_limit(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Ok(5)]);
    let started = Instant::now();
    assert_eq!(
        answer(&mut service, Call::Script(0)).await.expect("ok"),
        5,
        "{via:?}"
    );
    assert_eq!(started.elapsed(), ms(150), "{via:?}");
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(
        guards.events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Rejected { name: "dep", retry_after: 50ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Ignore(RetryAfter(50ms)), delay: 50ms }"#,
            r#"Succeeded { name: "dep", attempt: 3 }"#,
        ],
        "{via:?}"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 1, 0),
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_told_to_wait_for_retry_after_retries_a_refused_turn_when_it_comes() {
    let setup = Setup::new()
        .retry(RetryConfig {
            wait_for_retry_after: true,
            ..retries(3, ms(100))
        })
        .rate_limit(rate(20, Duration::from_secs(3), 1, Duration::ZERO));
    through_both(&setup, a_retry_waiting_out_the_rate_limit).await;
}

async fn retries_wait_for_their_turns(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards
        .dependency
        .script(0, [Call::Fail, Call::Fail, Call::Ok(6)]);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Script(0));
    advance(ms(100)).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.dependency.reached(),
        1,
        "{via:?}: the retry waits for its turn"
    );
    assert_eq!(guards.bulkhead.stats().in_flight, 0, "{via:?}");
    assert_eq!(
        guards.limiter().time_to_ready(),
        ms(200),
        "{via:?}: its turn is reserved"
    );
    advance(ms(50)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    advance(ms(100)).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.dependency.reached(),
        2,
        "{via:?}: the second retry waits for its turn"
    );
    advance(ms(50)).await;
    assert_eq!(assert_ready_ok!(call.poll()), 6, "{via:?}");
    assert_eq!(started.elapsed(), ms(300), "{via:?}");
    assert_eq!(
        guards.events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Waiting { name: "dep", wait: 50ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Waiting { name: "dep", wait: 50ms }"#,
            r#"Succeeded { name: "dep", attempt: 3 }"#,
        ],
        "{via:?}"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 3, 2, 0),
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_retry_waits_for_a_turn_of_its_own() {
    let setup = Setup::new().retry(retries(3, ms(100))).rate_limit(rate(
        20,
        Duration::from_secs(3),
        1,
        Duration::from_secs(1),
    ));
    through_both(&setup, retries_wait_for_their_turns).await;
}

// 11. Cancellation between and before retries.

async fn dropped_while_sleeping(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Ok(2)]);
    let call = start_pending(&mut service, Call::Script(0));
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}"
    );
    drop(call);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 1, 0), "{via:?}");
    advance(Duration::from_secs(1)).await;
    assert_eq!(guards.dependency.reached(), 1, "{via:?}: never retried");
    // The one slot and the rate limit's turns are free.
    assert_eq!(answer(&mut service, Call::Ok(3)).await.expect("ok"), 3);
    assert_eq!(
        guards.retry_events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"Succeeded { name: "dep", attempt: 1 }"#,
        ],
        "{via:?}: nothing more of the dropped call"
    );
    assert_eq!(guards.bulkhead_counts(), (0, 0, 2, 0), "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_waiting_to_retry_frees_everything() {
    let setup = Setup::new()
        .slots(1)
        .retry(retries(3, ms(100)))
        .rate_limit(rate(1, Duration::from_secs(1), 1, Duration::ZERO));
    through_both(&setup, dropped_while_sleeping).await;
}

async fn dropped_while_readying(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Ok(2)]);
    let mut call = start_pending(&mut service, Call::Script(0));
    assert_eq!(guards.breaker.state(), BreakerState::Open, "{via:?}");
    guards.dependency.readiness(Readiness::Pending);
    advance(OPEN_FOR).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.dependency.reached(),
        1,
        "{via:?}: readying its retry, the probe"
    );
    drop(call);
    guards.dependency.readiness(Readiness::Ready);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 1, 0), "{via:?}");
    assert_eq!(
        guards.breaker.state(),
        BreakerState::Open,
        "{via:?}: no probe was admitted"
    );
    // The next call is the probe, and closes it.
    probe_closes(guards, &mut service, via, 3).await;
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_readying_its_retry_frees_everything() {
    let setup = Setup::new()
        .consecutive_failures(1)
        .retry(retries(2, OPEN_FOR));
    through_both(&setup, dropped_while_readying).await;
}

async fn a_queued_retry_dropped(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Ok(2)]);
    let mut call = start_pending(&mut service, Call::Script(0));
    assert_eq!(guards.breaker.state(), BreakerState::Open, "{via:?}");
    let held = guards.bulkhead.try_acquire().expect("a free slot");
    advance(OPEN_FOR).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.bulkhead.stats().waiting,
        1,
        "{via:?}: the retry, the probe, queues"
    );
    assert_eq!(guards.breaker.state(), BreakerState::HalfOpen, "{via:?}");

    drop(call);
    assert_eq!(
        guards.bulkhead_counts(),
        (1, 0, 2, 0),
        "{via:?}: it left the queue"
    );
    drop(held);
    // Its probe slot was freed: the next call is the probe, and closes it.
    probe_closes(guards, &mut service, via, 3).await;
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_retry_queued_for_a_slot_leaves_the_queue_and_frees_its_probe_slot() {
    let setup = Setup::new()
        .consecutive_failures(1)
        .slots(1)
        .queue(1, Duration::from_secs(10))
        .retry(retries(2, OPEN_FOR));
    through_both(&setup, a_queued_retry_dropped).await;
}

async fn a_retry_waiting_for_its_turn_dropped(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Ok(2)]);
    let mut call = start_pending(&mut service, Call::Script(0));
    advance(OPEN_FOR).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.events().last().map(String::as_str),
        Some(r#"Waiting { name: "dep", wait: 5s }"#),
        "{via:?}: the retry, the probe, waits for its turn"
    );
    assert_eq!(
        guards.limiter().time_to_ready(),
        Duration::from_secs(15),
        "{via:?}"
    );

    drop(call);
    assert_eq!(
        guards.limiter().time_to_ready(),
        Duration::from_secs(5),
        "{via:?}: its turn was given back"
    );
    advance(Duration::from_secs(5)).await;
    // Its probe slot was freed: the next call is the probe, admitted at once.
    probe_closes(guards, &mut service, via, 3).await;
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(guards.bulkhead.stats().in_flight, 0, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_retry_waiting_for_its_turn_gives_it_back_and_frees_its_probe_slot() {
    let setup = Setup::new()
        .consecutive_failures(1)
        .retry(retries(2, OPEN_FOR))
        .rate_limit(rate(1, Duration::from_secs(10), 1, Duration::from_secs(20)));
    through_both(&setup, a_retry_waiting_for_its_turn_dropped).await;
}

// 12. The caller's deadline.

async fn attempts_ended_at_their_deadlines(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Hang.by(Deadline::after(ms(400))));
    assert_eq!(guards.bulkhead.stats().in_flight, 1, "{via:?}");
    times_out_after(
        &mut call,
        ms(400),
        via,
        "ended at the deadline, before the limit",
    )
    .await;
    assert_eq!(started.elapsed(), ms(400), "{via:?}");
    assert_eq!(
        guards.bulkhead.stats().in_flight,
        0,
        "{via:?}: freed as it timed out"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}: recorded as a failure"
    );
    drop(call);

    // An answer before the deadline is the answer.
    let mut call = start(
        &mut service,
        Call::OkAfter(ms(300)).by(Deadline::after(ms(400))),
    );
    assert_pending!(call.poll());
    advance(ms(300)).await;
    assert_eq!(assert_ready_ok!(call.poll()), 1, "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 1, 0),
        "{via:?}"
    );

    // The time left when the attempt starts, not the whole budget.
    let deadline = Deadline::after(ms(400));
    advance(ms(100)).await;
    let mut call = start_pending(&mut service, Call::Hang.by(deadline));
    times_out_after(
        &mut call,
        ms(300),
        via,
        "at the deadline, the time left when it started",
    )
    .await;
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");

    // A deadline past the limit leaves the limit in force; the second failure in a row
    // opens the breaker.
    let mut call = start_pending(&mut service, Call::Hang.by(Deadline::after(LIMIT * 5)));
    times_out_after(&mut call, LIMIT, via, "at the limit").await;
    assert_eq!(guards.breaker.state(), BreakerState::Open, "{via:?}");
    assert_eq!(
        guards.events(),
        [
            r#"TimedOut { name: "dep", elapsed: 400ms, limit: 400ms, by_deadline: true }"#,
            r#"TimedOut { name: "dep", elapsed: 300ms, limit: 300ms, by_deadline: true }"#,
            r#"TimedOut { name: "dep", elapsed: 1s, limit: 1s, by_deadline: false }"#,
            r#"StateChanged { name: "dep", from: Closed, to: Open, reason: ConsecutiveFailures { count: 2 } }"#,
        ],
        "{via:?}"
    );
    assert_eq!(guards.bulkhead_counts(), (0, 0, 4, 0), "{via:?}");
    assert_eq!(guards.dependency.reached(), 4, "{via:?}");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_before_the_limit_ends_the_attempt_at_the_deadline_recorded_as_a_failure() {
    let setup = Setup::new().consecutive_failures(2);
    through_both(&setup, attempts_ended_at_their_deadlines).await;
}

async fn a_retry_ended_at_the_deadline(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail, Call::Hang]);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Script(0).by(Deadline::after(ms(600))));
    advance(ms(100)).await;
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), 2, "{via:?}: the retry runs");
    assert_eq!(guards.bulkhead.stats().in_flight, 1, "{via:?}");
    times_out_after(&mut call, ms(500), via, "the retry ended at the deadline").await;
    assert_eq!(started.elapsed(), ms(600), "{via:?}");
    assert_eq!(
        guards.events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"TimedOut { name: "dep", elapsed: 500ms, limit: 500ms, by_deadline: true }"#,
            r#"GaveUp { name: "dep", attempt: 2, outcome: Failure(Retryable), reason: Deadline }"#,
        ],
        "{via:?}: timed out, recorded, then no retry past the deadline"
    );
    assert_counts(guards, via, (BreakerState::Closed, 2, 2, 2), (0, 0, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_retry_is_ended_at_the_deadline_and_not_retried_past_it() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, a_retry_ended_at_the_deadline).await;
}

async fn no_retry_past_the_deadline(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Fail; 4]);
    let started = Instant::now();
    let failed = answer(&mut service, Call::Script(0).by(Deadline::after(ms(700))))
        .await
        .expect_err("it fails");
    assert_eq!(
        failed.to_string(),
        "no ack",
        "{via:?}: the last attempt's own error"
    );
    assert_eq!(
        started.elapsed(),
        ms(600),
        "{via:?}: a third retry would end at 900 ms"
    );
    assert_eq!(guards.dependency.reached(), 3, "{via:?}");

    // A delay that would end at the deadline is not made either.
    guards.dependency.script(0, [Call::Fail; 4]);
    let started = Instant::now();
    let failed = answer(&mut service, Call::Script(0).by(Deadline::after(ms(600))))
        .await
        .expect_err("it fails");
    assert_eq!(failed.to_string(), "no ack", "{via:?}");
    assert_eq!(started.elapsed(), ms(300), "{via:?}");
    assert_eq!(guards.dependency.reached(), 5, "{via:?}");
    assert_eq!(
        guards.retry_events(),
        [
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 300ms }"#,
            r#"Retrying { name: "dep", attempt: 2, outcome: Failure(Retryable), delay: 300ms }"#,
            r#"GaveUp { name: "dep", attempt: 3, outcome: Failure(Retryable), reason: Deadline }"#,
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 300ms }"#,
            r#"GaveUp { name: "dep", attempt: 2, outcome: Failure(Retryable), reason: Deadline }"#,
        ],
        "{via:?}"
    );
    assert_counts(guards, via, (BreakerState::Closed, 5, 5, 5), (0, 0, 5, 0));
}

#[tokio::test(start_paused = true)]
async fn the_retry_makes_no_retry_whose_delay_would_end_past_the_deadline() {
    let setup = Setup::new()
        .consecutive_failures(10)
        .retry(retries(4, ms(300)));
    through_both(&setup, no_retry_past_the_deadline).await;
}

/// Asserts that `result` is the timeout's refusal of an attempt that started past its
/// deadline.
#[track_caller]
fn refused_late(result: Result<u32, BoxError>, via: Via) {
    let refused = rejection(result);
    assert!(
        matches!(refused, Rejection::Timeout { elapsed, limit, .. } if elapsed.is_zero() && limit.is_zero()),
        "{via:?}: refused by the timeout with nothing elapsed: {refused:?}"
    );
}

async fn attempts_started_past_the_deadline(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    // A call whose deadline has passed already: refused, and not retried.
    refused_late(
        answer(
            &mut service,
            Call::Ok(1).by(Deadline::after(Duration::ZERO)),
        )
        .await,
        via,
    );
    assert_eq!(guards.dependency.reached(), 0, "{via:?}: never called");
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 1, 0),
        "{via:?}: the slot was taken and freed"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 1, 1),
        "{via:?}: the refusal is recorded as a failure"
    );

    // A retry readied until past the deadline: refused as it starts.
    guards.dependency.script(0, [Call::Fail, Call::Ok(2)]);
    let started = Instant::now();
    let mut call = start_pending(&mut service, Call::Script(0).by(Deadline::after(ms(300))));
    guards.dependency.readiness(Readiness::Pending);
    advance(ms(100)).await;
    assert_pending!(call.poll());
    advance(ms(300)).await;
    assert_pending!(call.poll());
    assert_eq!(
        guards.dependency.reached(),
        1,
        "{via:?}: the retry is still being readied"
    );
    guards.dependency.readiness(Readiness::Ready);
    assert!(call.is_woken(), "{via:?}");
    refused_late(assert_ready!(call.poll()), via);
    assert_eq!(started.elapsed(), ms(400), "{via:?}");
    assert_eq!(
        guards.dependency.reached(),
        1,
        "{via:?}: the retry never ran"
    );
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 3, 0),
        "{via:?}: the retry's slot was taken and freed"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 3, 3, 3),
        "{via:?}"
    );
    assert_eq!(
        guards.events(),
        [
            r#"DeadlineExpired { name: "dep" }"#,
            r#"GaveUp { name: "dep", attempt: 1, outcome: Failure(Retryable), reason: Deadline }"#,
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"DeadlineExpired { name: "dep" }"#,
            r#"GaveUp { name: "dep", attempt: 2, outcome: Failure(Retryable), reason: Deadline }"#,
        ],
        "{via:?}: refused, recorded, then judged"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_or_a_retry_starting_past_the_deadline_is_refused_by_the_timeout() {
    let setup = Setup::new()
        .consecutive_failures(10)
        .retry(retries(3, ms(100)));
    through_both(&setup, attempts_started_past_the_deadline).await;
}

/// `call`, admitted as its turn or its slot came, runs (the dependency reached `reached`
/// times) until its deadline, `left` later, and times out there.
async fn runs_until_its_deadline(
    guards: &Guards,
    call: &mut Response,
    via: Via,
    reached: usize,
    left: Duration,
) {
    assert_pending!(call.poll());
    assert_eq!(guards.dependency.reached(), reached, "{via:?}: it runs");
    advance(left).await;
    timed_out(
        assert_ready!(call.poll()),
        left,
        via,
        "ended at the deadline",
    );
}

/// Makes a call that holds the one slot for 500 ms, then `call`, which queues for it:
/// both are pending.
fn queued_behind(service: &mut Svc, call: impl Into<Request>) -> (Response, Response) {
    let mut first = start(service, Call::OkAfter(ms(500)));
    let mut queued = start(service, call);
    assert_pending!(first.poll());
    assert_pending!(queued.poll());
    (first, queued)
}

async fn queued_past_the_deadline(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    let (mut first, mut late) =
        queued_behind(&mut service, Call::Hang.by(Deadline::after(ms(300))));
    assert_eq!(guards.bulkhead_counts(), (1, 1, 1, 0), "{via:?}: it queues");
    advance(ms(500)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1, "{via:?}");
    assert!(late.is_woken(), "{via:?}: handed the slot");
    refused_late(assert_ready!(late.poll()), via);
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 2, 0),
        "{via:?}: the slot was taken and freed"
    );
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 1, 1),
        "{via:?}"
    );

    // Admitted before its deadline: it runs until the deadline.
    let (mut first, mut queued) =
        queued_behind(&mut service, Call::Hang.by(Deadline::after(ms(800))));
    advance(ms(500)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1, "{via:?}");
    runs_until_its_deadline(guards, &mut queued, via, 3, ms(300)).await;
    assert_eq!(guards.bulkhead_counts(), (0, 0, 4, 0), "{via:?}");
    assert_eq!(
        guards.events(),
        [
            r#"AdmittedAfterWait { name: "dep", waited: 500ms }"#,
            r#"DeadlineExpired { name: "dep" }"#,
            r#"AdmittedAfterWait { name: "dep", waited: 500ms }"#,
            r#"TimedOut { name: "dep", elapsed: 300ms, limit: 300ms, by_deadline: true }"#,
        ],
        "{via:?}: admitted, then refused or timed out"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_queued_for_a_slot_past_its_deadline_is_refused_as_it_is_admitted() {
    let setup = Setup::new().slots(1).queue(1, Duration::from_secs(10));
    through_both(&setup, queued_past_the_deadline).await;
}

async fn a_turn_past_the_deadline(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    assert_eq!(answer(&mut service, Call::Ok(1)).await.expect("ok"), 1);
    let mut late = start_pending(&mut service, Call::Hang.by(Deadline::after(ms(600))));
    advance(Duration::from_secs(1)).await;
    refused_late(assert_ready!(late.poll()), via);
    assert_eq!(
        guards.bulkhead_counts(),
        (0, 0, 2, 0),
        "{via:?}: the slot was taken and freed"
    );
    assert_eq!(guards.dependency.reached(), 1, "{via:?}");

    // Its turn comes before its deadline: it runs until the deadline.
    let mut call = start_pending(&mut service, Call::Hang.by(Deadline::after(ms(1500))));
    advance(Duration::from_secs(1)).await;
    runs_until_its_deadline(guards, &mut call, via, 2, ms(500)).await;
    assert_eq!(
        guards.events(),
        [
            r#"Waiting { name: "dep", wait: 1s }"#,
            r#"DeadlineExpired { name: "dep" }"#,
            r#"Waiting { name: "dep", wait: 1s }"#,
            r#"TimedOut { name: "dep", elapsed: 500ms, limit: 500ms, by_deadline: true }"#,
        ],
        "{via:?}"
    );
    assert_counts(guards, via, (BreakerState::Closed, 3, 2, 2), (0, 0, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_turn_comes_past_its_deadline_is_refused_as_it_is_admitted() {
    let setup = Setup::new().rate_limit(rate(1, Duration::from_secs(1), 1, Duration::from_secs(2)));
    through_both(&setup, a_turn_past_the_deadline).await;
}

/// Every way to run a scenario: with and without deadlines read from requests.
const EVERY_WAY: [Via; 4] = [
    Via::Stack,
    Via::Pipeline,
    Via::StackUndated,
    Via::PipelineUndated,
];

#[tokio::test(start_paused = true)]
async fn requests_without_a_deadline_are_decided_as_without_deadline_from() {
    // Undated requests, through layers reading deadlines and through layers reading
    // none: the same runs.
    let retried = Setup::new().retry(retries(3, ms(100)));
    through_each(&retried, &EVERY_WAY, a_timed_out_attempt_retried).await;
    through_each(&retried, &EVERY_WAY, every_attempt_times_out).await;
    through_each(&retried, &EVERY_WAY, a_retry_readied_first).await;
    let queued = Setup::new().slots(1).queue(1, Duration::from_secs(10));
    through_each(&queued, &EVERY_WAY, a_queued_call_is_timed_from_its_start).await;
    let paced = Setup::new().rate_limit(rate(2, Duration::from_secs(3), 1, Duration::from_secs(2)));
    through_each(&paced, &EVERY_WAY, a_wait_for_a_turn).await;
}

async fn undated_after_dated(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    guards.dependency.script(0, [Call::Hang, Call::Hang]);
    refused_late(
        answer(&mut service, Call::Hang.by(Deadline::after(Duration::ZERO))).await,
        via,
    );
    // The next request, without a deadline, on the same service: a second for each
    // attempt and the full schedule, whatever the last request's deadline was.
    let started = Instant::now();
    timed_out(
        answer(&mut service, Call::Script(0)).await,
        LIMIT,
        via,
        "the last attempt's, at the limit",
    );
    assert_eq!(started.elapsed(), LIMIT * 2 + ms(100), "{via:?}");
    assert_eq!(guards.dependency.reached(), 2, "{via:?}");
    assert_eq!(
        guards.events(),
        [
            r#"DeadlineExpired { name: "dep" }"#,
            r#"GaveUp { name: "dep", attempt: 1, outcome: Failure(Retryable), reason: Deadline }"#,
            r#"TimedOut { name: "dep", elapsed: 1s, limit: 1s, by_deadline: false }"#,
            r#"Retrying { name: "dep", attempt: 1, outcome: Failure(Retryable), delay: 100ms }"#,
            r#"TimedOut { name: "dep", elapsed: 1s, limit: 1s, by_deadline: false }"#,
            r#"GaveUp { name: "dep", attempt: 2, outcome: Failure(Retryable), reason: MaxAttempts }"#,
        ],
        "{via:?}"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 3, 3, 3),
        "{via:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_deadline_after_one_with_a_deadline_has_the_full_limit_and_schedule() {
    let setup = Setup::new()
        .consecutive_failures(10)
        .retry(retries(2, ms(100)));
    through_both(&setup, undated_after_dated).await;
}

// 13. The model: random calls through both.

/// A step of a random run.
#[derive(Debug, Clone)]
enum Step {
    /// Calls made together; the step ends when every one has ended.
    Burst(Vec<Call>),
    /// Time passes with no call running.
    Wait(Duration),
}

fn a_call() -> impl Strategy<Value = Call> {
    // Distinct delays for distinct outcomes: two calls ending at the same instant end
    // the same way, so the order the runtime wakes them in cannot matter.
    prop_oneof![
        Just(Call::Ok(1)),
        Just(Call::Fail),
        Just(Call::Hang),
        Just(Call::OkAfter(ms(300))),
        Just(Call::FailAfter(ms(450))),
    ]
}

fn a_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => proptest::collection::vec(a_call(), 1..=4).prop_map(Step::Burst),
        1 => prop_oneof![Just(Duration::from_secs(2)), Just(OPEN_FOR)].prop_map(Step::Wait),
    ]
}

/// Both rules of the breaker and its probes in play; two slots and a queue of one whose
/// wait runs out before a hung call's timeout.
fn model_setup() -> Setup {
    Setup {
        breaker: BreakerConfig {
            consecutive_failures: 3,
            window: Window::Count { size: 6 },
            minimum_calls: 4,
            failure_ratio: 0.5,
            half_open_calls: 2,
            open_for: OPEN_FOR,
            ..BreakerConfig::default()
        },
        bulkhead: BulkheadConfig {
            max_concurrent: 2,
            max_waiting: 1,
            max_wait: ms(500),
        },
        timeout: LIMIT,
        retry: None,
        budget: None,
        rate_limit: None,
    }
}

fn label(result: &Result<u32, BoxError>) -> String {
    match result {
        Ok(value) => format!("ok {value}"),
        Err(error) => match error.as_rejection() {
            Some(rejection) => format!("{:?}", rejection.kind()),
            None => format!("error {error}"),
        },
    }
}

/// Makes `requests` together, each through a clone of `service`, and waits until every
/// one has ended: their answers, labelled, in the order they were made.
async fn burst(service: &Svc, requests: impl IntoIterator<Item = Request>) -> Vec<String> {
    let running: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let mut service = service.clone();
            tokio::spawn(async move { answer(&mut service, request).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in running {
        answers.push(label(&call.await.expect("no call panics")));
    }
    answers
}

/// Runs `run` through the stack, then through a pipeline on twin handles built from
/// `setup`, one after the other in one runtime on a paused clock: what each run returned
/// and left, the stack's first.
fn stack_and_pipeline<T, F>(setup: &Setup, run: F) -> [(T, Record); 2]
where
    F: AsyncFn(&Guards, Via) -> T,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    // Built inside the runtime, on its paused clock.
    [Via::Stack, Via::Pipeline].map(|via| {
        runtime.block_on(async {
            let guards = setup.build();
            (run(&guards, via).await, guards.record())
        })
    })
}

/// Each step's answers, in the order the calls were made, and the breaker after it.
type Trace = Vec<(Vec<String>, BreakerSnapshot)>;

async fn run(guards: &Guards, via: Via, steps: &[Step]) -> Trace {
    let service = guards.service(via);
    let mut trace = Vec::new();
    for step in steps {
        let answers = match step {
            Step::Wait(time) => {
                sleep(*time).await;
                Vec::new()
            }
            Step::Burst(calls) => burst(&service, calls.iter().map(|&call| call.into())).await,
        };
        trace.push((answers, guards.breaker.snapshot()));
    }
    trace
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_calls_leave_the_same_traces_through_the_pipeline_as_through_the_stack(
        steps in proptest::collection::vec(a_step(), 1..24),
    ) {
        let [(stack_trace, stack), (pipeline_trace, pipeline)] =
            stack_and_pipeline(&model_setup(), async |guards: &Guards, via| {
                run(guards, via, &steps).await
            });
        prop_assert_eq!(pipeline_trace, stack_trace);
        prop_assert_eq!(pipeline, stack);
    }
}

// 14. The model with retries and a rate limit: random attempts through both.

/// A round of a random run with retries.
#[derive(Debug, Clone)]
enum Round {
    /// Calls made together, each with the outcomes of its attempts in turn (then `Ok(0)`)
    /// and its caller's budget, if it has a deadline; the round ends when every call has
    /// ended.
    Burst(Vec<(Vec<Call>, Option<Duration>)>),
    /// Time passes with no call running.
    Wait(Duration),
}

/// A caller's budget, if its call has a deadline: most have none; some have one that has
/// passed already, or that ends before or after the timeout's limit. The budgets are not
/// multiples of 5 ms, as the model's other times are, so that a deadline and another
/// timer seldom end at the same instant.
fn a_budget() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Duration::ZERO)),
        1 => Just(Some(ms(377))),
        1 => Just(Some(ms(1213))),
    ]
}

fn a_round() -> impl Strategy<Value = Round> {
    prop_oneof![
        4 => proptest::collection::vec(
            (proptest::collection::vec(a_call(), 1..=3), a_budget()),
            1..=4,
        )
        .prop_map(Round::Burst),
        1 => prop_oneof![Just(Duration::from_secs(2)), Just(OPEN_FOR)].prop_map(Round::Wait),
    ]
}

/// The model's breaker and bulkhead; a retry of `max_attempts` attempts `delay` apart
/// (waiting for an open breaker's or the rate limit's retry-after when told to, capped
/// at 700 ms) on a small budget refilled by calls and time; a rate limit of 8 calls a
/// second in bursts of 3 whose calls wait up to 250 ms for their turn.
fn retried_model_setup(max_attempts: u32, delay: Duration, wait_for_retry_after: bool) -> Setup {
    model_setup()
        .retry(RetryConfig {
            wait_for_retry_after,
            max_delay: ms(700),
            ..retries(max_attempts, delay)
        })
        .budget(RetryBudgetConfig {
            retry_ratio: 0.25,
            min_retries_per_second: 0.5,
            max_balance: 3,
        })
        .rate_limit(rate(8, Duration::from_secs(1), 3, ms(250)))
}

/// Each round's answers, in the order the calls were made, the breaker after it, the
/// time until the rate limit admits a call at once and the budget's balance.
type RetriedTrace = Vec<(Vec<String>, BreakerSnapshot, Duration, Option<f64>)>;

async fn run_rounds(guards: &Guards, via: Via, rounds: &[Round]) -> RetriedTrace {
    let service = guards.service(via);
    let mut trace = Vec::new();
    for round in rounds {
        let answers = match round {
            Round::Wait(time) => {
                sleep(*time).await;
                Vec::new()
            }
            Round::Burst(calls) => {
                let requests = calls.iter().zip(0u8..).map(|((attempts, budget), key)| {
                    guards.dependency.script(key, attempts.iter().copied());
                    Request {
                        call: Call::Script(key),
                        deadline: budget.map(Deadline::after),
                    }
                });
                burst(&service, requests).await
            }
        };
        trace.push((
            answers,
            guards.breaker.snapshot(),
            guards.limiter().time_to_ready(),
            guards.budget_balance(),
        ));
    }
    trace
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_retried_calls_leave_the_same_traces_through_the_pipeline_as_through_the_stack(
        rounds in proptest::collection::vec(a_round(), 1..16),
        max_attempts in 2u32..=3,
        delay in prop_oneof![Just(Duration::ZERO), Just(ms(40)), Just(ms(70))],
        wait_for_retry_after in any::<bool>(),
    ) {
        let setup = retried_model_setup(max_attempts, delay, wait_for_retry_after);
        let [(stack_trace, stack), (pipeline_trace, pipeline)] =
            stack_and_pipeline(&setup, async |guards: &Guards, via| {
                run_rounds(guards, via, &rounds).await
            });
        prop_assert_eq!(pipeline_trace, stack_trace);
        prop_assert_eq!(pipeline, stack);
    }
}

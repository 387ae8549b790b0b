//! `Pipeline` decides exactly as the breaker, bulkhead and timeout layers stacked in its
//! order (`.hardy_breaker(&b).hardy_bulkhead(&k).hardy_timeout(&t)`).
//!
//! Most scenarios run twice, on twin handles built from one setup: once through the
//! stacked layers and once through a pipeline. Each run asserts what the scenario must
//! show; then the two runs are compared: every event the three handles emitted, in
//! order, the breaker's snapshot, the bulkhead's stats and the calls that reached the
//! dependency.
#![cfg(all(feature = "breaker", feature = "bulkhead", feature = "timeout"))]

use std::future::{Ready, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hardy::breaker::{BreakerConfig, BreakerSnapshot, BreakerState, Window};
use hardy::bulkhead::{BulkheadConfig, BulkheadStats};
use hardy::prelude::*;
use hardy::{Pipeline, PipelineLayer, PipelineService};
use proptest::prelude::*;
use tokio::time::{Instant, advance, sleep};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::util::{BoxCloneSyncService, ServiceFn};
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
    /// Never answers.
    Hang,
    /// Answers 1 after the delay.
    OkAfter(Duration),
    /// Fails after the delay.
    FailAfter(Duration),
    /// Panics when first polled.
    Panic,
}

/// The guarded dependency; counts the calls that reach it.
#[derive(Debug, Clone, Default)]
struct Dependency {
    reached: Arc<AtomicUsize>,
}

impl Dependency {
    fn reached(&self) -> usize {
        self.reached.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl Service<Call, Response = u32, Error = BoxError, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static {
        let reached = self.reached.clone();
        service_fn(move |call: Call| {
            reached.fetch_add(1, Ordering::SeqCst);
            async move {
                match call {
                    Call::Ok(value) => Ok(value),
                    Call::Fail => Err(BoxError::from("no ack")),
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
                }
            }
        })
    }
}

/// The settings of the three handles; `build` makes a fresh set, so one setup gives
/// twins.
#[derive(Debug, Clone)]
struct Setup {
    breaker: BreakerConfig,
    bulkhead: BulkheadConfig,
    timeout: Duration,
}

impl Setup {
    /// A breaker opened by three failures in a row (its window too large to trip
    /// first), one probe, open 5 s; a bulkhead of two slots and no queue; a 1 s timeout.
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

    /// Fresh handles, all three reporting their events to one log.
    fn build(&self) -> Guards {
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = |events: &Arc<Mutex<Vec<String>>>| {
            let events = events.clone();
            move |event: &dyn std::fmt::Debug| {
                events.lock().expect("log").push(format!("{event:?}"));
            }
        };
        let (to_breaker, to_bulkhead, to_timeout) = (log(&events), log(&events), log(&events));
        Guards {
            breaker: CircuitBreaker::builder("dep")
                .config(self.breaker.clone())
                .on_event(move |event| to_breaker(event))
                .build()
                .expect("valid breaker"),
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

/// How a scenario reaches the dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `.hardy_breaker(&b).hardy_bulkhead(&k).hardy_timeout(&t)`.
    Stack,
    /// `Pipeline::new().breaker(&b).bulkhead(&k).timeout(&t)`.
    Pipeline,
}

type Svc = BoxCloneSyncService<Call, u32, BoxError>;
type Response = task::Spawn<<Svc as Service<Call>>::Future>;

/// One set of handles, its dependency and the log of its events.
struct Guards {
    breaker: CircuitBreaker,
    bulkhead: Bulkhead,
    timeout: Timeout,
    dependency: Dependency,
    events: Arc<Mutex<Vec<String>>>,
}

impl Guards {
    fn pipeline(&self) -> Pipeline {
        Pipeline::new()
            .breaker(&self.breaker)
            .bulkhead(&self.bulkhead)
            .timeout(&self.timeout)
    }

    /// The dependency guarded by the three handles, `via` the stack or a pipeline.
    fn service(&self, via: Via) -> Svc {
        let dependency = self.dependency.service();
        match via {
            Via::Stack => Svc::new(
                ServiceBuilder::new()
                    .hardy_breaker(&self.breaker)
                    .hardy_bulkhead(&self.bulkhead)
                    .hardy_timeout(&self.timeout)
                    .service(dependency),
            ),
            Via::Pipeline => Svc::new(
                ServiceBuilder::new()
                    .layer(self.pipeline().layer())
                    .service(dependency),
            ),
        }
    }

    /// As [`service`](Self::service), the breaker classifying results with `classifier`.
    fn service_classified(&self, via: Via, classifier: Classifier) -> Svc {
        let dependency = self.dependency.service();
        match via {
            Via::Stack => Svc::new(
                ServiceBuilder::new()
                    .layer(self.breaker.layer().classify(classifier))
                    .hardy_bulkhead(&self.bulkhead)
                    .hardy_timeout(&self.timeout)
                    .service(dependency),
            ),
            Via::Pipeline => Svc::new(
                ServiceBuilder::new()
                    .layer(self.pipeline().layer().classifier(classifier))
                    .service(dependency),
            ),
        }
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().expect("log").clone()
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
            reached: self.dependency.reached(),
        }
    }
}

type Classifier = fn(&Result<u32, BoxError>) -> Outcome;

/// What a run leaves: every event of the three handles, in order, the breaker's
/// snapshot, the bulkhead's stats and the calls that reached the dependency. Taken as
/// the run ends (a snapshot reads the clock).
#[derive(Debug, PartialEq)]
struct Record {
    events: Vec<String>,
    breaker: BreakerSnapshot,
    bulkhead: BulkheadStats,
    reached: usize,
}

/// Runs `scenario` through the stack, then through a pipeline on twin handles, and
/// compares what the two runs left.
async fn through_both<F>(setup: &Setup, scenario: F)
where
    F: AsyncFn(&Guards, Via),
{
    let stack = setup.build();
    scenario(&stack, Via::Stack).await;
    let stack = stack.record();
    let pipeline = setup.build();
    scenario(&pipeline, Via::Pipeline).await;
    assert_eq!(
        pipeline.record(),
        stack,
        "the pipeline's run differs from the stack's"
    );
}

/// Readies `service` and makes the call, unpolled.
fn start(service: &mut Svc, call: Call) -> Response {
    let ready = service.poll_ready(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(ready, Poll::Ready(Ok(()))),
        "the dependency is always ready"
    );
    task::spawn(service.call(call))
}

/// Readies `service`, makes the call and awaits its answer.
async fn answer(service: &mut Svc, call: Call) -> Result<u32, BoxError> {
    service.ready().await?.call(call).await
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

// 1. Success.

async fn successes_and_failures_are_recorded_and_free_their_slot(guards: &Guards, via: Via) {
    let mut service = guards.service(via);
    assert_eq!(answer(&mut service, Call::Ok(7)).await.expect("ok"), 7);

    let mut slow = start(&mut service, Call::OkAfter(ms(300)));
    assert_pending!(slow.poll());
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
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 3, 1, 1),
        "{via:?}"
    );
    assert_eq!(guards.bulkhead_counts(), (0, 0, 3, 0), "{via:?}");
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
    let mut first = start(&mut service, Call::OkAfter(ms(500)));
    assert_pending!(first.poll());

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
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 1, 0, 0),
        "{via:?}"
    );
    assert_eq!(guards.bulkhead_counts(), (0, 0, 1, 1), "{via:?}");
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
    assert_eq!(answer(&mut service, Call::Ok(3)).await.expect("probe"), 3);
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");
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
    assert_eq!(guards.bulkhead_counts(), (0, 0, 2, 0), "{via:?}");
    assert_eq!(
        guards.dependency.reached(),
        2,
        "{via:?}: never the dropped one"
    );
    assert_eq!(
        guards.breaker_counts(),
        (BreakerState::Closed, 2, 0, 0),
        "{via:?}"
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
    advance(LIMIT - ms(1)).await;
    assert_pending!(second.poll());
    advance(ms(1)).await;
    let timed_out = rejection(assert_ready!(second.poll()));
    assert!(
        matches!(timed_out, Rejection::Timeout { elapsed, limit, .. } if elapsed == LIMIT && limit == LIMIT),
        "{via:?}: {timed_out:?}"
    );
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
    let mut call = start(&mut service, Call::Hang);
    assert_pending!(call.poll());
    assert_eq!(guards.bulkhead.stats().in_flight, 1, "{via:?}");
    advance(LIMIT - ms(1)).await;
    assert_pending!(call.poll());
    advance(ms(1)).await;
    let timed_out = rejection(assert_ready!(call.poll()));
    assert!(
        matches!(timed_out, Rejection::Timeout { elapsed, limit, .. } if elapsed == LIMIT && limit == LIMIT),
        "{via:?}: {timed_out:?}"
    );
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
    let mut probe = start(&mut service, Call::Hang);
    assert_pending!(probe.poll());
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
    assert_eq!(answer(&mut service, Call::Ok(3)).await.expect("probe"), 3);
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");
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
    let mut probe = start(&mut service, Call::Ok(2));
    assert_pending!(probe.poll());
    assert_eq!(guards.bulkhead_counts(), (1, 1, 2, 0), "{via:?}: it queues");

    drop(probe);
    assert_eq!(
        guards.bulkhead_counts(),
        (1, 0, 2, 0),
        "{via:?}: it left the queue"
    );
    drop(held);
    assert_eq!(guards.bulkhead.stats().in_flight, 0, "{via:?}");
    assert_eq!(answer(&mut service, Call::Ok(3)).await.expect("probe"), 3);
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");
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
    assert_eq!(answer(&mut service, Call::Ok(3)).await.expect("probe"), 3);
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");
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
    assert_eq!(answer(&mut service, Call::Ok(4)).await.expect("probe"), 4);
    assert_eq!(guards.breaker.state(), BreakerState::Closed, "{via:?}");
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
    assert_eq!(
        service
            .ready()
            .await
            .unwrap()
            .call(Call::Ok(5))
            .await
            .unwrap(),
        5
    );
    let failed = service.ready().await.unwrap().call(Call::Fail).await;
    assert!(failed.unwrap_err().as_rejection().is_none());
    // No slots and no limit: many calls run at once, for as long as they take.
    let mut hung: Vec<_> = (0..20)
        .map(|_| task::spawn(service.call(Call::Hang)))
        .collect();
    for call in &mut hung {
        assert_pending!(call.poll());
    }
    advance(Duration::from_secs(3600)).await;
    for call in &mut hung {
        assert_pending!(call.poll());
    }
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
    assert_eq!(
        service
            .ready()
            .await
            .unwrap()
            .call(Call::Ok(5))
            .await
            .unwrap(),
        5
    );
    let mut calls: Vec<_> = (0..3)
        .map(|_| task::spawn(service.call(Call::Hang)))
        .collect();
    for call in &mut calls {
        assert_pending!(call.poll());
    }
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
    let refused = service.ready().await.unwrap().call(Call::Ok(2)).await;
    assert!(rejection(refused).is_bulkhead_full());
    // No timeout: the first call runs for its whole minute.
    advance(Duration::from_secs(59)).await;
    assert_pending!(first.poll());
    advance(Duration::from_secs(1)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1);
    assert_eq!(
        service
            .ready()
            .await
            .unwrap()
            .call(Call::Ok(3))
            .await
            .unwrap(),
        3
    );
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
    let mut hung: Vec<_> = (0..5)
        .map(|_| task::spawn(service.call(Call::Hang)))
        .collect();
    for call in &mut hung {
        assert_pending!(call.poll());
    }
    for _ in 0..2 {
        let failed = service.ready().await.unwrap().call(Call::Fail).await;
        assert!(failed.unwrap_err().as_rejection().is_none());
    }
    assert_eq!(guards.breaker.state(), BreakerState::Open);
    let refused = service.ready().await.unwrap().call(Call::Ok(1)).await;
    assert!(rejection(refused).is_circuit_open());
    // No timeout: the hung calls are still running.
    advance(Duration::from_secs(3600)).await;
    for call in &mut hung {
        assert_pending!(call.poll());
    }
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

// 9. The model: random calls through both.

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
            Step::Burst(calls) => {
                let running: Vec<_> = calls
                    .iter()
                    .map(|&call| {
                        let mut service = service.clone();
                        tokio::spawn(async move { answer(&mut service, call).await })
                    })
                    .collect();
                let mut answers = Vec::new();
                for call in running {
                    answers.push(label(&call.await.expect("no call panics")));
                }
                answers
            }
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        let setup = model_setup();
        // Built inside the runtime, on its paused clock.
        let (stack_trace, stack) = runtime.block_on(async {
            let stack = setup.build();
            (run(&stack, Via::Stack, &steps).await, stack.record())
        });
        let (pipeline_trace, pipeline) = runtime.block_on(async {
            let pipeline = setup.build();
            (run(&pipeline, Via::Pipeline, &steps).await, pipeline.record())
        });
        prop_assert_eq!(pipeline_trace, stack_trace);
        prop_assert_eq!(pipeline, stack);
    }
}

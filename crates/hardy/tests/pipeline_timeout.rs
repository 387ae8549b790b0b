//! The timeout and the caller's deadline in the pipeline: hung and abandoned calls,
//! attempts and retries ended or refused at the deadline, and requests without one.
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

mod support;

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::prelude::*;
use tokio::time::{Instant, advance};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

use support::*;

// The timeout.

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

// The caller's deadline.

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

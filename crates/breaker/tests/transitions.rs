//! Every transition of the state machine, on paused time.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardy_breaker::{BreakerBuilder, BreakerState, CircuitBreaker, Window};
use hardy_core::{Error, Name, Outcome, Rejection, Retryability};
use tokio::time::{advance, sleep};
use tokio_test::{assert_pending, task};

type Io = std::io::Error;

fn build(builder: BreakerBuilder) -> CircuitBreaker {
    builder.build().expect("valid breaker")
}

async fn fail(breaker: &CircuitBreaker) -> Result<(), Error<Io>> {
    breaker.call(|| async { Err(Io::other("no ack")) }).await
}

async fn succeed(breaker: &CircuitBreaker) -> Result<(), Error<Io>> {
    breaker.call(|| async { Ok(()) }).await
}

fn rejection(result: Result<(), Error<Io>>) -> Rejection {
    match result {
        Err(Error::Rejected(rejection)) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The failure-ratio rule only (0.5 over the last `size` calls, after `minimum`).
fn count_ratio(size: u32, minimum: u32) -> BreakerBuilder {
    CircuitBreaker::builder("dep")
        .consecutive_failures(0)
        .count_window(size)
        .minimum_calls(minimum)
        .failure_ratio(0.5)
}

async fn fail_times(breaker: &CircuitBreaker, times: usize) {
    for _ in 0..times {
        fail(breaker).await.expect_err("the operation fails");
    }
}

async fn succeed_times(breaker: &CircuitBreaker, times: usize) {
    for _ in 0..times {
        succeed(breaker).await.expect("the operation succeeds");
    }
}

/// Builds the breaker with one probe slot and a 5 s open time, opens it with one
/// failure and waits out the open time: the next call is the probe.
async fn half_open(builder: BreakerBuilder) -> CircuitBreaker {
    let breaker = build(builder.open_for(Duration::from_secs(5)).half_open_calls(1));
    fail(&breaker).await.expect_err("the operation fails");
    assert_eq!(breaker.state(), BreakerState::Open);
    advance(Duration::from_secs(5)).await;
    breaker
}

/// Consecutive failures only: the window never trips.
fn consecutive(n: u32) -> BreakerBuilder {
    CircuitBreaker::builder("dep")
        .consecutive_failures(n)
        .window(Window::Off)
}

#[tokio::test(start_paused = true)]
async fn opens_after_consecutive_failures_and_rejects_without_calling() {
    let breaker = build(consecutive(3).open_for(Duration::from_secs(30)));
    fail_times(&breaker, 2).await;
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), BreakerState::Open);

    advance(Duration::from_secs(10)).await;
    let called = AtomicUsize::new(0);
    let result = breaker
        .call(|| {
            called.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), Io>(()) }
        })
        .await;
    let rejection = rejection(result);
    assert!(rejection.is_circuit_open());
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_failures_in_a_row() {
    let breaker = build(consecutive(3));
    for _ in 0..10 {
        fail(&breaker).await.unwrap_err();
        fail(&breaker).await.unwrap_err();
        succeed(&breaker).await.unwrap();
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_failure_ratio_is_judged_only_after_minimum_calls() {
    let breaker = build(count_ratio(10, 6));
    fail_times(&breaker, 5).await;
    assert_eq!(breaker.state(), BreakerState::Closed, "5 calls < minimum 6");
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn old_calls_leave_a_count_window() {
    let breaker = build(count_ratio(10, 10));
    fail_times(&breaker, 4).await;
    succeed_times(&breaker, 10).await;
    // The 4 early failures have left: 4 new ones make 4/10, still below 0.5.
    fail_times(&breaker, 4).await;
    assert_eq!(breaker.state(), BreakerState::Closed);
    let snapshot = breaker.snapshot();
    assert_eq!((snapshot.calls, snapshot.failures), (10, 4));
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), BreakerState::Open, "5/10 reaches 0.5");
}

#[tokio::test(start_paused = true)]
async fn old_calls_leave_a_time_window() {
    let breaker = build(
        CircuitBreaker::builder("dep")
            .consecutive_failures(0)
            .time_window(Duration::from_secs(10), 10)
            .minimum_calls(4)
            .failure_ratio(0.5),
    );
    fail_times(&breaker, 3).await;
    advance(Duration::from_secs(10)).await;
    assert_eq!(breaker.snapshot().calls, 0, "the failures aged out");
    fail(&breaker).await.unwrap_err();
    succeed_times(&breaker, 3).await;
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail(&breaker).await.unwrap_err();
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "2 failures of 5 calls: 0.4"
    );
    fail(&breaker).await.unwrap_err();
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "3 failures of 6 calls: 0.5"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_successes_open_the_breaker() {
    let breaker = build(
        CircuitBreaker::builder("dep")
            .consecutive_failures(0)
            .count_window(4)
            .minimum_calls(4)
            .slow_calls(Duration::from_secs(2), 0.75),
    );
    let slow = || async {
        sleep(Duration::from_secs(2)).await;
        Ok::<(), Io>(())
    };
    succeed(&breaker).await.unwrap();
    breaker.call(slow).await.unwrap();
    breaker.call(slow).await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Closed);
    breaker.call(slow).await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(
        breaker.snapshot().slow_calls,
        0,
        "opening clears the window"
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_begins_exactly_when_the_open_time_ends() {
    let breaker = build(
        consecutive(1)
            .open_for(Duration::from_secs(30))
            .half_open_calls(1),
    );
    fail(&breaker).await.unwrap_err();
    advance(Duration::from_secs(30) - Duration::from_nanos(1)).await;
    assert!(rejection(succeed(&breaker).await).is_circuit_open());
    advance(Duration::from_nanos(1)).await;
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_probes_and_closes_on_their_success() {
    let breaker = build(
        consecutive(1)
            .open_for(Duration::from_secs(5))
            .half_open_calls(2),
    );
    fail(&breaker).await.unwrap_err();
    advance(Duration::from_secs(5)).await;

    let probe = || async {
        sleep(Duration::from_secs(1)).await;
        Ok::<(), Io>(())
    };
    let mut first = task::spawn(breaker.call(probe));
    let mut second = task::spawn(breaker.call(probe));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    let third = rejection(succeed(&breaker).await);
    assert!(third.is_circuit_open());
    assert_eq!(third.retry_after(), None);

    advance(Duration::from_secs(1)).await;
    first.await.unwrap();
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "one probe of two finished"
    );
    second.await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens() {
    let breaker = half_open(consecutive(1)).await;
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.snapshot().retry_after, Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn hung_probes_reopen_after_max_wait() {
    let breaker =
        half_open(consecutive(1).max_wait_in_half_open(Some(Duration::from_secs(20)))).await;
    let mut hung = task::spawn(breaker.call(pending::<Result<(), Io>>));
    assert_pending!(hung.poll());
    advance(Duration::from_secs(19)).await;
    assert!(rejection(succeed(&breaker).await).is_circuit_open());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    advance(Duration::from_secs(1)).await;
    let reopened = rejection(succeed(&breaker).await);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(reopened.retry_after(), Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn a_late_result_from_an_earlier_cycle_is_ignored() {
    // A slow call admitted while closed finishes (successfully) while the breaker is
    // half-open: it must not be taken for a probe and close the breaker.
    let breaker = build(
        consecutive(1)
            .open_for(Duration::from_secs(5))
            .half_open_calls(1),
    );
    let mut slow = task::spawn(breaker.call(|| async {
        sleep(Duration::from_secs(7)).await;
        Ok::<(), Io>(())
    }));
    assert_pending!(slow.poll());
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), BreakerState::Open);
    advance(Duration::from_secs(5)).await;
    let mut probe = task::spawn(breaker.call(pending::<Result<(), Io>>));
    assert_pending!(probe.poll());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);

    advance(Duration::from_secs(2)).await;
    slow.await.unwrap();
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "the late success was ignored"
    );
    assert!(
        rejection(succeed(&breaker).await).is_circuit_open(),
        "the probe slot is still taken"
    );
}

#[tokio::test(start_paused = true)]
async fn a_direct_call_is_admitted_at_its_first_poll() {
    let breaker = half_open(consecutive(1)).await;
    let runs = AtomicUsize::new(0);
    let operation = || {
        runs.fetch_add(1, Ordering::Relaxed);
        pending::<Result<(), Io>>()
    };
    // Made but never polled: no probe slot is taken and the operation never runs.
    let unpolled = breaker.call(operation);
    assert!(format!("{unpolled:?}").contains("not started"));
    drop(unpolled);
    assert_eq!(runs.load(Ordering::Relaxed), 0);
    assert_eq!(breaker.state(), BreakerState::Open, "no call asked yet");

    let mut probe = task::spawn(breaker.call(operation));
    assert_eq!(
        runs.load(Ordering::Relaxed),
        0,
        "nothing runs before the first poll"
    );
    assert_pending!(probe.poll());
    assert_eq!(runs.load(Ordering::Relaxed), 1);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert!(
        rejection(succeed(&breaker).await).is_circuit_open(),
        "the polled call holds the probe slot"
    );
    assert_pending!(probe.poll());
    assert_eq!(
        runs.load(Ordering::Relaxed),
        1,
        "the operation is made once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot() {
    let breaker = half_open(consecutive(1)).await;
    let mut probe = task::spawn(breaker.call(pending::<Result<(), Io>>));
    assert_pending!(probe.poll());
    assert!(rejection(succeed(&breaker).await).is_circuit_open());
    drop(probe);
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_probe_frees_its_slot() {
    let breaker = half_open(consecutive(1)).await;
    // A spawned call moves a clone of the handle in with it.
    let handle = breaker.clone();
    let probe = async move {
        handle
            .call(|| async {
                sleep(Duration::from_millis(1)).await;
                panic!("driver bug");
                #[allow(unreachable_code)]
                Ok::<(), Io>(())
            })
            .await
    };
    assert!(tokio::spawn(probe).await.unwrap_err().is_panic());
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_open_time_grows_with_each_failed_attempt_up_to_the_cap() {
    let breaker = build(
        consecutive(1)
            .half_open_calls(1)
            .open_for(Duration::from_secs(10))
            .open_backoff(2.0, Duration::from_secs(35)),
    );
    fail(&breaker).await.unwrap_err();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let open = breaker.snapshot().retry_after.unwrap();
        seen.push(open.as_secs());
        advance(open).await;
        fail(&breaker).await.unwrap_err(); // the probe fails
    }
    assert_eq!(seen, [10, 20, 35, 35]);
    // A successful probe resets the growth.
    advance(breaker.snapshot().retry_after.unwrap()).await;
    succeed(&breaker).await.unwrap();
    fail(&breaker).await.unwrap_err();
    assert_eq!(
        breaker.snapshot().retry_after,
        Some(Duration::from_secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_spreads_the_open_time_reproducibly() {
    let opened_for = |seed| async move {
        let breaker = build(
            consecutive(1)
                .open_for(Duration::from_secs(100))
                .open_backoff(1.0, Duration::from_secs(110))
                .open_jitter(0.2)
                .seed(seed),
        );
        let mut times = Vec::new();
        for _ in 0..20 {
            fail(&breaker).await.unwrap_err();
            times.push(breaker.snapshot().retry_after.unwrap());
            breaker.reset();
        }
        times
    };
    let first = opened_for(7).await;
    assert_eq!(first, opened_for(7).await, "same seed, same times");
    assert!(
        first
            .iter()
            .all(|t| *t >= Duration::from_secs(80) && *t <= Duration::from_secs(110))
    );
    assert!(first.iter().any(|t| *t != first[0]), "spread: {first:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_holds_the_breaker_open_when_honoured() {
    let breaker = build(consecutive(0).window(Window::Off).honor_retry_after(true));
    let throttled = |result: &Result<u16, Io>| match result {
        Ok(429) => Outcome::Failure(Retryability::RetryAfter(Duration::from_secs(42))),
        _ => Outcome::Success,
    };
    breaker
        .call_with(throttled, || async { Ok::<u16, Io>(429) })
        .await
        .unwrap();
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(
        breaker.snapshot().retry_after,
        Some(Duration::from_secs(42))
    );
}

#[tokio::test(start_paused = true)]
async fn ok_results_can_count_as_failures() {
    let breaker = build(consecutive(2));
    let by_status = |result: &Result<u16, Io>| match result {
        Ok(status) if *status >= 500 => Outcome::RETRYABLE_FAILURE,
        _ => Outcome::Success,
    };
    for _ in 0..2 {
        breaker
            .call_with(by_status, || async { Ok::<u16, Io>(503) })
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn refusals_of_inner_layers_are_ignored_but_timeouts_count() {
    let breaker = build(consecutive(2));
    let full = || Rejection::BulkheadFull {
        name: Name::from("inner"),
        in_flight: 1,
        max_concurrent: 1,
        waiting: 0,
        max_waiting: 0,
    };
    for _ in 0..10 {
        let result = breaker
            .call(|| async { Err::<(), Error<Io>>(full().into()) })
            .await;
        assert!(result.unwrap_err().as_rejection_inner().is_some());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    let timeout = || Rejection::Timeout {
        name: Name::from("inner"),
        elapsed: Duration::from_secs(1),
        limit: Duration::from_secs(1),
    };
    for _ in 0..2 {
        let _ = breaker
            .call(|| async { Err::<(), Error<Io>>(timeout().into()) })
            .await;
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

trait InnerRejection {
    fn as_rejection_inner(&self) -> Option<&Rejection>;
}

impl InnerRejection for Error<Error<Io>> {
    fn as_rejection_inner(&self) -> Option<&Rejection> {
        self.inner().and_then(Error::rejection)
    }
}

#[tokio::test(start_paused = true)]
async fn manual_modes() {
    let breaker = build(consecutive(1));
    breaker.force_open();
    assert_eq!(rejection(succeed(&breaker).await).retry_after(), None);
    assert_eq!(breaker.state(), BreakerState::ForcedOpen);

    breaker.disable();
    fail_times(&breaker, 5).await;
    assert_eq!(breaker.state(), BreakerState::Disabled, "never opens");
    assert_eq!(breaker.snapshot().consecutive_failures, 5, "still records");

    breaker.reset();
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(breaker.snapshot().consecutive_failures, 0);
    fail(&breaker).await.unwrap_err();
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn metrics_only_reports_instead_of_opening() {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let breaker =
        build(consecutive(2).on_event(move |event| sink.lock().unwrap().push(event.clone())));
    breaker.metrics_only();
    fail_times(&breaker, 4).await;
    assert_eq!(breaker.state(), BreakerState::MetricsOnly);
    let exceeded = events
        .lock()
        .unwrap()
        .iter()
        .filter(|event| matches!(event, hardy_breaker::BreakerEvent::ThresholdExceeded { .. }))
        .count();
    assert_eq!(
        exceeded, 2,
        "each trip reported once, then the window starts over"
    );
}

#[tokio::test(start_paused = true)]
async fn a_ticket_records_once_and_a_released_probe_frees_its_slot() {
    use hardy_breaker::hooks::Ticket;

    let breaker = half_open(consecutive(1)).await;
    let mut probe = Ticket::admit(&breaker).expect("the one probe is admitted");
    assert!(!probe.is_spent());
    assert!(
        matches!(Ticket::admit(&breaker), Err(Rejection::CircuitOpen { .. })),
        "the probe slot is taken"
    );
    probe.release(&breaker);
    assert!(probe.is_spent());
    // Released: nothing recorded, the breaker still half-open, the slot free again.
    probe.record(&breaker, Outcome::RETRYABLE_FAILURE);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);

    let mut next = Ticket::admit(&breaker).expect("the freed slot admits another probe");
    next.record(&breaker, Outcome::Success);
    assert!(next.is_spent());
    assert_eq!(breaker.state(), BreakerState::Closed);
    // Recorded once: a second record or a release changes nothing.
    next.record(&breaker, Outcome::RETRYABLE_FAILURE);
    next.release(&breaker);
    assert_eq!(breaker.state(), BreakerState::Closed);

    let mut failing = Ticket::admit(&breaker).expect("closed");
    failing.record(&breaker, Outcome::RETRYABLE_FAILURE);
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "one failure in a row opens it"
    );
}

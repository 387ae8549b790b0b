//! What is retried: errors yes, refusals no (unless waiting for their hint), `Ok`
//! results when the classifier says so, retry-after hints over the schedule; and the
//! caller always gets the last real result.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_core::{Error, Name, Outcome, Rejection, Retryability};
use hardy_retry::{Backoff, Jitter, Retry};
use tokio::time::Instant;

type Io = std::io::Error;
const MS: Duration = Duration::from_millis(1);

fn retry(attempts: u32) -> hardy_retry::RetryBuilder {
    Retry::builder("classify")
        .max_attempts(attempts)
        .backoff(Backoff::Constant { delay: 100 * MS })
        .jitter(Jitter::None)
}

fn open(retry_after: Option<Duration>) -> Error<Io> {
    Rejection::CircuitOpen {
        name: Name::from("soil-1"),
        retry_after,
    }
    .into()
}

#[tokio::test(start_paused = true)]
async fn errors_are_retried_until_attempts_run_out_and_the_last_error_returned() {
    let retry = retry(3).build().expect("valid");
    let tries = AtomicU32::new(0);
    let result = retry
        .call(|| {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move { Err::<(), _>(Io::other(format!("failure {n}"))) }
        })
        .await;
    assert_eq!(tries.load(Ordering::Relaxed), 3);
    match result {
        Err(Error::Inner(error)) => assert_eq!(error.to_string(), "failure 2"),
        other => panic!("expected the last error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_success_ends_the_call() {
    let retry = retry(5).build().expect("valid");
    let tries = AtomicU32::new(0);
    let value = retry
        .call(|| {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move {
                if n < 2 {
                    Err(Io::other("flaky"))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .expect("the third attempt succeeds");
    assert_eq!((value, tries.load(Ordering::Relaxed)), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_not_retried_by_default() {
    let retry = retry(5).build().expect("valid");
    let tries = AtomicU32::new(0);
    let result = retry
        .call(|| {
            tries.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(open(Some(Duration::from_secs(1)))) }
        })
        .await;
    assert_eq!(tries.load(Ordering::Relaxed), 1);
    let rejection = result.expect_err("refused").flatten();
    assert!(matches!(rejection, Error::Rejected(r) if r.is_circuit_open()));
}

#[tokio::test(start_paused = true)]
async fn a_refusal_with_a_hint_is_waited_for_when_configured() {
    let retry = retry(3).wait_for_retry_after(true).build().expect("valid");
    let started = Instant::now();
    let tries = AtomicU32::new(0);
    let value = retry
        .call(|| {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move {
                if n == 0 {
                    Err(open(Some(Duration::from_secs(2))))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .expect("the breaker closed again");
    assert_eq!(value, 1);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "the hint, not 100 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_without_a_hint_is_final_even_when_waiting_for_hints() {
    let retry = retry(3).wait_for_retry_after(true).build().expect("valid");
    let tries = AtomicU32::new(0);
    let _ = retry
        .call(|| {
            tries.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(open(None)) }
        })
        .await;
    assert_eq!(tries.load(Ordering::Relaxed), 1);
    let bulkhead_full = || -> Error<Io> {
        Rejection::BulkheadFull {
            name: Name::from("sensors"),
            in_flight: 4,
            max_concurrent: 4,
            waiting: 0,
            max_waiting: 0,
        }
        .into()
    };
    let _ = retry
        .call(|| {
            tries.fetch_add(1, Ordering::Relaxed);
            async move { Err::<(), _>(bulkhead_full()) }
        })
        .await;
    assert_eq!(tries.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_hint_is_capped_at_max_delay() {
    let retry = retry(2)
        .wait_for_retry_after(true)
        .max_delay(Duration::from_secs(1))
        .build()
        .expect("valid");
    let started = Instant::now();
    let _ = retry
        .call(|| async {
            Err::<(), _>(Error::<Io>::from(Rejection::RateLimited {
                name: Name::from("pump-1"),
                retry_after: Duration::from_secs(3600),
            }))
        })
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_retried() {
    let retry = retry(2).build().expect("valid");
    let tries = AtomicU32::new(0);
    let _ = retry
        .call(|| {
            tries.fetch_add(1, Ordering::Relaxed);
            async {
                Err::<(), _>(Error::<Io>::from(Rejection::Timeout {
                    name: Name::from("read"),
                    elapsed: Duration::from_secs(1),
                    limit: Duration::from_secs(1),
                }))
            }
        })
        .await;
    assert_eq!(tries.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn ok_results_are_retried_when_classified_so_and_the_last_one_returned() {
    let retry = retry(3).build().expect("valid");
    let tries = AtomicU32::new(0);
    let low_quality = |result: &Result<f32, Io>| match result {
        Ok(quality) if *quality < 0.5 => Outcome::RETRYABLE_FAILURE,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::RETRYABLE_FAILURE,
    };
    let quality = retry
        .call_with(low_quality, || {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<f32, Io>(0.1 * n as f32) }
        })
        .await
        .expect("Ok, if poor");
    assert_eq!(tries.load(Ordering::Relaxed), 3);
    assert!((quality - 0.2).abs() < 1e-6, "the last result: {quality}");
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_stops_at_once() {
    let retry = retry(5).build().expect("valid");
    let tries = AtomicU32::new(0);
    let permanent = |result: &Result<(), Io>| match result {
        Ok(()) => Outcome::Success,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Outcome::PERMANENT_FAILURE,
        Err(_) => Outcome::RETRYABLE_FAILURE,
    };
    let _ = retry
        .call_with(permanent, || {
            tries.fetch_add(1, Ordering::Relaxed);
            async { Err(Io::new(std::io::ErrorKind::InvalidInput, "bad sensor id")) }
        })
        .await;
    assert_eq!(tries.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failures_own_hint_replaces_the_schedule() {
    let retry = retry(2).build().expect("valid");
    let started = Instant::now();
    let hinted = |result: &Result<u16, Io>| match result {
        Ok(429) => Outcome::Failure(Retryability::RetryAfter(Duration::from_secs(7))),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::RETRYABLE_FAILURE,
    };
    let tries = AtomicU32::new(0);
    let status = retry
        .call_with(hinted, || {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<u16, Io>(if n == 0 { 429 } else { 200 }) }
        })
        .await
        .expect("answered");
    assert_eq!(status, 200);
    assert_eq!(started.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn an_ignored_but_retryable_outcome_is_retried() {
    let retry = retry(2).build().expect("valid");
    let tries = AtomicU32::new(0);
    let _ = retry
        .call_with(
            |_: &Result<(), Io>| Outcome::Ignore(Retryability::Retryable),
            || {
                tries.fetch_add(1, Ordering::Relaxed);
                async { Err(Io::other("x")) }
            },
        )
        .await;
    assert_eq!(tries.load(Ordering::Relaxed), 2);
}

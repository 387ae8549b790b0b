//! Retries in the pipeline: the schedule, max attempts, copies of requests, timed-out
//! and readied attempts, zero delays, the classifier, and the retry budget.
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::prelude::*;
use hardy::retry::{CloneRequest, Cloned, RetryBudgetConfig, RetryConfig, SendOnce};
use tokio::time::{Instant, advance};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tower::{BoxError, Service, ServiceExt, service_fn};

use support::*;

// Retries.

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

#[tokio::test(start_paused = true)]
async fn an_attempt_that_timed_out_is_retried_with_a_timeout_of_its_own() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, a_timed_out_attempt_retried).await;
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_every_attempt_times_out_ends_with_the_timeout() {
    let setup = Setup::new().retry(retries(3, ms(100)));
    through_both(&setup, every_attempt_times_out).await;
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

// The retry budget.

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

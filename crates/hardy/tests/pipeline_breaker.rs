//! The breaker in the pipeline: successes and failures recorded, a forced-open breaker,
//! the layer's classifier, and retries that meet an open breaker.
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

mod support;

use hardy::breaker::BreakerState;
use hardy::prelude::*;
use hardy::retry::RetryConfig;
use tokio::time::{Instant, advance};
use tokio_test::assert_ready_ok;

use support::*;

// Success.

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

// An open breaker.

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

// A classifier of the layer's own.

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

// Retries meeting the open breaker.

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

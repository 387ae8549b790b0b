//! Admission in the pipeline: a full bulkhead, the bulkhead's queue, and the rate limit
//! (refusals, waits for a turn, turns given back, and the turns retries take).
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

mod support;

use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::prelude::*;
use hardy::retry::RetryConfig;
use tokio::time::{Instant, advance};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok};

use support::*;

// A full bulkhead.

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

// The bulkhead's queue.

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

#[tokio::test(start_paused = true)]
async fn a_queued_call_is_timed_from_when_it_runs_not_from_when_it_queued() {
    let setup = Setup::new().slots(1).queue(1, Duration::from_secs(10));
    through_both(&setup, a_queued_call_is_timed_from_its_start).await;
}

// Rate limits.

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

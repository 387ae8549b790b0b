//! Cancellation and panics in the pipeline: dropped probes, a panicking dependency, and
//! calls dropped or panicking between and before retries all free their slots.
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use hardy::breaker::BreakerState;
use tokio::time::advance;
use tokio_test::assert_pending;

use support::*;

// Cancellation.

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

// Panics, in the dependency and in a retry.

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

// Cancellation between and before retries.

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

//! Scenarios run by more than one test file: by their own topic's tests and by the
//! deadline tests, with and without deadlines read from requests.

use hardy::breaker::BreakerState;
use tokio::time::{Instant, advance};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok};

use super::check::{
    answer, assert_counts, gave_up_after_three, rejection, start, start_pending, times_out_after,
};
use super::dependency::{Call, Reach, Readiness};
use super::guards::{Guards, Via};
use super::{LIMIT, ms};

pub(crate) async fn a_queued_call_is_timed_from_its_start(guards: &Guards, via: Via) {
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

pub(crate) async fn a_timed_out_attempt_retried(guards: &Guards, via: Via) {
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

pub(crate) async fn every_attempt_times_out(guards: &Guards, via: Via) {
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

pub(crate) async fn a_retry_readied_first(guards: &Guards, via: Via) {
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

pub(crate) async fn a_wait_for_a_turn(guards: &Guards, via: Via) {
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

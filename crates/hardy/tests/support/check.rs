//! Runs scenarios through the stack and through a pipeline and compares what they
//! left; makes calls and asserts on their results.

use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::prelude::*;
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready, task};
use tower::{BoxError, Service, ServiceExt};

use super::dependency::{Call, Request};
use super::guards::{Guards, Response, Setup, Svc, Via};
use super::{OPEN_FOR, ms};

/// Runs `scenario` through the stack, then through a pipeline on twin handles, and
/// compares what the two runs left.
pub(crate) async fn through_both<F>(setup: &Setup, scenario: F)
where
    F: AsyncFn(&Guards, Via),
{
    through_each(setup, &[Via::Stack, Via::Pipeline], scenario).await;
}

/// Runs `scenario` `via` each way in turn, each on twin handles, and compares what each
/// run left with what the first left.
pub(crate) async fn through_each<F>(setup: &Setup, vias: &[Via], scenario: F)
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
pub(crate) fn start(service: &mut Svc, call: impl Into<Request>) -> Response {
    let ready = service.poll_ready(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(ready, Poll::Ready(Ok(()))),
        "the dependency is ready"
    );
    task::spawn(service.call(call.into()))
}

/// Readies `service`, makes the call and awaits its answer.
pub(crate) async fn answer(service: &mut Svc, call: impl Into<Request>) -> Result<u32, BoxError> {
    service.ready().await?.call(call.into()).await
}

#[track_caller]
pub(crate) fn rejection(result: Result<u32, BoxError>) -> Rejection {
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
pub(crate) async fn half_open(guards: &Guards, service: &mut Svc) {
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
pub(crate) fn start_pending(service: &mut Svc, call: impl Into<Request>) -> Response {
    let mut response = start(service, call);
    assert_pending!(response.poll());
    response
}

/// The probe slot is free: the next call through `service` is the probe, answers
/// `value`, and closes the breaker.
pub(crate) async fn probe_closes(guards: &Guards, service: &mut Svc, via: Via, value: u32) {
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
pub(crate) fn timed_out(result: Result<u32, BoxError>, after: Duration, via: Via, why: &str) {
    let timed_out = rejection(result);
    assert!(
        matches!(timed_out, Rejection::Timeout { elapsed, limit, .. } if elapsed == after && limit == after),
        "{via:?}: {why}: {timed_out:?}"
    );
}

/// Lets `call`, whose attempt is running, run out its time: pending until `after` has
/// passed, then [`timed_out`] after `after`.
pub(crate) async fn times_out_after(call: &mut Response, after: Duration, via: Via, why: &str) {
    advance(after - ms(1)).await;
    assert_pending!(call.poll());
    advance(ms(1)).await;
    timed_out(assert_ready!(call.poll()), after, via, why);
}

/// Asserts the breaker's counts (state, calls, failures, consecutive failures) and the
/// bulkhead's (in flight, waiting, admitted, rejected).
#[track_caller]
pub(crate) fn assert_counts(
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
pub(crate) fn gave_up_after_three(guards: &Guards, via: Via) {
    assert_eq!(
        guards.retry_events().last().map(String::as_str),
        Some(
            r#"GaveUp { name: "dep", attempt: 3, outcome: Failure(Retryable), reason: MaxAttempts }"#
        ),
        "{via:?}"
    );
}

/// A 5xx answer is a failure; the rest as by default.
pub(crate) fn by_status(result: &Result<u32, BoxError>) -> Outcome {
    match result {
        Ok(status) if *status >= 500 => Outcome::RETRYABLE_FAILURE,
        other => DefaultClassifier.classify(other),
    }
}

//! The layer, driven with tower-test's mock.

use std::time::Duration;

use hardy_chaos::{Chaos, InjectedRejection, Latency};
use hardy_core::{Error, Rejection, RejectionKind};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

type Mock = mock::Mock<u32, u32>;
type Handle = mock::Handle<u32, u32>;

fn chaos(configure: impl FnOnce(hardy_chaos::ChaosBuilder) -> hardy_chaos::ChaosBuilder) -> Chaos {
    configure(Chaos::builder("dep").seed(1))
        .build()
        .expect("valid")
}

#[tokio::test(start_paused = true)]
async fn an_injected_rejection_never_reaches_the_inner_service() {
    let chaos = chaos(|b| b.rejection(1.0, InjectedRejection::BulkheadFull));
    let (service, mut handle): (Mock, Handle) = mock::pair();
    let mut service = chaos.layer().layer(service);
    handle.allow(1);

    let error = service
        .ready()
        .await
        .expect("ready")
        .call(1)
        .await
        .expect_err("injected");
    let rejection = hardy_core::find_rejection(&*error).expect("a rejection");
    assert_eq!(rejection.kind(), RejectionKind::BulkheadFull);
    assert_eq!(rejection.name().as_str(), "dep");
    assert!(
        handle.poll_request().is_pending(),
        "the inner service saw nothing"
    );
    assert_eq!(chaos.stats().rejections, 1);
}

#[tokio::test(start_paused = true)]
async fn each_rejection_kind_is_the_real_variant_with_the_hint() {
    for (injected, kind) in [
        (InjectedRejection::CircuitOpen, RejectionKind::CircuitOpen),
        (InjectedRejection::BulkheadFull, RejectionKind::BulkheadFull),
        (InjectedRejection::Timeout, RejectionKind::Timeout),
        (InjectedRejection::RateLimited, RejectionKind::RateLimited),
        (InjectedRejection::Shed, RejectionKind::Shed),
        (InjectedRejection::PoolTimeout, RejectionKind::PoolTimeout),
    ] {
        let chaos = chaos(|b| {
            b.rejection(1.0, injected)
                .retry_after(Duration::from_secs(7))
        });
        let result = chaos.call(|| async { Ok::<_, ()>(()) }).await;
        let Err(Error::Rejected(rejection)) = result else {
            panic!("{injected:?}: expected a rejection")
        };
        assert_eq!(rejection.kind(), kind);
        if matches!(
            kind,
            RejectionKind::CircuitOpen | RejectionKind::RateLimited | RejectionKind::Shed
        ) {
            assert_eq!(
                rejection.retry_after(),
                Some(Duration::from_secs(7)),
                "{kind}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn injected_errors_come_from_the_error_maker() {
    let chaos = chaos(|b| b.error_rate(1.0));
    let (service, mut handle): (Mock, Handle) = mock::pair();
    let mut service = chaos
        .layer()
        .error(|| tower::BoxError::from("injected fault"))
        .layer(service);
    handle.allow(1);
    let error = service
        .ready()
        .await
        .expect("ready")
        .call(1)
        .await
        .expect_err("injected");
    assert_eq!(error.to_string(), "injected fault");
    assert!(handle.poll_request().is_pending());
    assert_eq!(chaos.stats().errors, 1);
}

#[tokio::test(start_paused = true)]
async fn without_an_error_maker_error_draws_pass_through_uncounted() {
    let chaos = chaos(|b| b.error_rate(1.0).corrupt_rate(0.0));
    let (service, mut handle): (Mock, Handle) = mock::pair();
    let mut service = chaos.layer().layer(service);
    handle.allow(1);
    let response = service.ready().await.expect("ready").call(4);
    let (request, send) = handle.next_request().await.expect("passed through");
    assert_eq!(request, 4);
    send.send_response(40);
    assert_eq!(response.await.expect("real answer"), 40);
    assert_eq!(chaos.stats().errors, 0);
    assert_eq!(chaos.stats().calls, 1);
}

#[tokio::test(start_paused = true)]
async fn a_corruption_changes_the_ok_answer_and_leaves_errors_alone() {
    let chaos = chaos(|b| b.corrupt_rate(1.0));
    let (service, mut handle): (Mock, Handle) = mock::pair();
    let mut service = chaos
        .layer()
        .corrupt(|answer: u32| answer * 100)
        .layer(service);
    handle.allow(2);

    let response = service.ready().await.expect("ready").call(1);
    let (_, send) = handle.next_request().await.expect("called");
    send.send_response(3);
    assert_eq!(response.await.expect("ok"), 300);

    let response = service.ready().await.expect("ready").call(2);
    let (_, send) = handle.next_request().await.expect("called");
    send.send_error(Rejection::RetryBudgetExhausted { name: "x".into() });
    assert!(response.await.is_err(), "errors are not corrupted");
    assert_eq!(chaos.stats().corrupted, 2);
}

#[tokio::test(start_paused = true)]
async fn a_delay_holds_the_answer_back_exactly_that_long() {
    let chaos = chaos(|b| {
        b.latency(
            1.0,
            Latency::Fixed {
                delay: Duration::from_millis(250),
            },
        )
    });
    let (service, mut handle): (Mock, Handle) = mock::pair();
    let mut service = chaos.layer().layer(service);
    handle.allow(1);
    service.ready().await.expect("ready");
    let mut response = tokio_test::task::spawn(service.call(9));
    let (_, send) = handle
        .next_request()
        .await
        .expect("the inner call is made at once");
    send.send_response(90);

    assert_pending!(response.poll());
    tokio::time::advance(Duration::from_millis(249)).await;
    assert_pending!(response.poll());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(assert_ready_ok!(response.poll()), 90);
    assert_eq!(chaos.stats().total_delay, Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_delayed_call_holds_nothing() {
    let chaos = chaos(|b| {
        b.latency(
            1.0,
            Latency::Fixed {
                delay: Duration::from_secs(5),
            },
        )
    });
    let held = std::sync::Arc::new(());
    let guard = held.clone();
    let mut service = chaos.layer().layer(tower::service_fn(move |n: u32| {
        let guard = guard.clone();
        async move {
            let _guard = guard;
            Ok::<_, tower::BoxError>(n)
        }
    }));
    let mut response = tokio_test::task::spawn(service.ready().await.expect("ready").call(1));
    assert_pending!(response.poll());
    assert_eq!(
        std::sync::Arc::strong_count(&held),
        3,
        "the call holds its future"
    );
    drop(response);
    drop(service);
    assert_eq!(
        std::sync::Arc::strong_count(&held),
        1,
        "nothing is left held"
    );
}

#[tokio::test(start_paused = true)]
async fn a_disabled_layer_passes_everything_through() {
    let chaos = chaos(|b| b.enabled(false).error_rate(1.0));
    let (service, mut handle): (Mock, Handle) = mock::pair();
    let mut service = chaos
        .layer()
        .error(|| tower::BoxError::from("no"))
        .layer(service);
    handle.allow(1);
    let response = service.ready().await.expect("ready").call(5);
    let (_, send) = handle.next_request().await.expect("called");
    send.send_response(50);
    assert_eq!(response.await.expect("ok"), 50);
    assert_eq!(chaos.stats().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_through() {
    let chaos = chaos(|b| b.error_rate(1.0));
    let (service, mut handle): (Mock, Handle) = mock::pair();
    let mut service = chaos.layer().layer(service);
    let mut task = tokio_test::task::spawn(());
    handle.allow(0);
    assert!(task.enter(|cx, _| service.poll_ready(cx)).is_pending());
    handle.allow(1);
    assert!(task.enter(|cx, _| service.poll_ready(cx)).is_ready());
}

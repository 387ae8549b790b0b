//! The tower layer: readiness passes through, refusals never reach the inner service,
//! waiting calls reach it at their turn, keys come from the request.

use std::time::Duration;

use hardy_core::{Error, Rejection};
use hardy_rate_limit::{KeyedRateLimiter, RateLimitLayer, RateLimitService, RateLimiter};
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};
use tower_test::mock;

const SEC: Duration = Duration::from_secs(1);

fn limiter(max_wait: Duration) -> RateLimiter {
    RateLimiter::builder("api")
        .per(1, SEC)
        .burst(1)
        .max_wait(max_wait)
        .build()
        .expect("valid limiter")
}

type Mock = mock::Mock<u32, u32>;
type Handle = mock::Handle<u32, u32>;

fn service(limiter: &RateLimiter) -> (RateLimitService<Mock, RateLimiter>, Handle) {
    let (mock, handle) = mock::pair::<u32, u32>();
    (limiter.layer().layer(mock), handle)
}

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services() {
    let (mut service, mut handle) = service(&limiter(Duration::ZERO));
    handle.allow(0);
    let mut ready = task::spawn(std::future::poll_fn(|cx| service.poll_ready(cx)));
    assert_pending!(ready.poll());
    handle.allow(1);
    assert_ready_ok!(ready.poll());
}

#[tokio::test(start_paused = true)]
async fn an_admitted_call_reaches_the_inner_service_at_once() {
    let (mut service, mut handle) = service(&limiter(Duration::ZERO));
    let call = service.ready().await.expect("ready").call(7);
    let (request, respond) = handle.next_request().await.expect("request");
    assert_eq!(request, 7);
    respond.send_response(70);
    assert_eq!(call.await.expect("response"), 70);
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_never_reaches_the_inner_service() {
    let (mut service, mut handle) = service(&limiter(Duration::ZERO));
    let first = service.ready().await.expect("ready").call(1);
    let (_, respond) = handle.next_request().await.expect("first");
    respond.send_response(1);
    first.await.expect("first");
    let refused = service
        .ready()
        .await
        .expect("ready")
        .call(2)
        .await
        .expect_err("over the rate");
    let rejection = refused.downcast::<Rejection>().expect("a rejection");
    assert_eq!(rejection.retry_after(), Some(SEC));
    assert!(matches!(*rejection, Rejection::RateLimited { .. }));
    assert!(
        task::spawn(handle.next_request()).poll().is_pending(),
        "the inner service saw nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_call_reaches_the_inner_service_at_its_turn() {
    let (mut service, mut handle) = service(&limiter(Duration::from_secs(5)));
    let first = service.ready().await.expect("ready").call(1);
    let (_, respond) = handle.next_request().await.expect("first");
    respond.send_response(1);
    first.await.expect("first");

    let mut second = task::spawn(service.ready().await.expect("ready").call(2));
    assert_pending!(second.poll());
    let mut next = task::spawn(handle.next_request());
    assert_pending!(next.poll(), "not before its turn");
    advance(SEC).await;
    assert_pending!(second.poll(), "its turn: calls the inner service");
    let (request, respond) = assert_ready!(next.poll()).expect("second");
    assert_eq!(request, 2);
    respond.send_response(20);
    assert_eq!(assert_ready!(second.poll()).expect("response"), 20);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_call_dropped_never_reaches_the_inner_service() {
    let limiter = limiter(Duration::from_secs(5));
    let (mut service, mut handle) = service(&limiter);
    let first = service.ready().await.expect("ready").call(1);
    let (_, respond) = handle.next_request().await.expect("first");
    respond.send_response(1);
    first.await.expect("first");
    let mut second = task::spawn(service.ready().await.expect("ready").call(2));
    assert_pending!(second.poll());
    drop(second);
    assert_eq!(limiter.time_to_ready(), SEC, "its turn was given back");
    advance(2 * SEC).await;
    assert!(task::spawn(handle.next_request()).poll().is_pending());
}

#[tokio::test(start_paused = true)]
async fn services_from_one_layer_share_the_rate() {
    let layer = RateLimitLayer::new(limiter(Duration::ZERO));
    let echo = tower::service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
    let mut a = layer.layer(echo);
    let mut b = layer.layer(echo);
    assert_eq!(a.ready().await.expect("ready").call(1).await.expect("a"), 1);
    assert!(b.ready().await.expect("ready").call(2).await.is_err());
    assert_eq!(a.limit().name().as_ref(), "api");
    assert_eq!(layer.limit().config().limit, 1);
}

#[tokio::test(start_paused = true)]
async fn a_keyed_layer_reads_the_key_from_each_request() {
    let per_plant = KeyedRateLimiter::builder("waterings")
        .per(1, Duration::from_secs(3600))
        .build_keyed::<u32>()
        .expect("valid");
    // Requests are (plant, millilitres).
    let mut pump = ServiceBuilder::new()
        .layer(per_plant.layer(|(plant, _): &(u32, u32)| *plant))
        .service_fn(|(_, ml): (u32, u32)| async move { Ok::<_, Error<std::io::Error>>(ml) });
    assert_eq!(
        pump.ready()
            .await
            .expect("ready")
            .call((1, 250))
            .await
            .expect("1"),
        250
    );
    assert_eq!(
        pump.ready()
            .await
            .expect("ready")
            .call((2, 100))
            .await
            .expect("2"),
        100
    );
    let refused = pump.ready().await.expect("ready").call((1, 250)).await;
    assert!(matches!(
        refused,
        Err(Error::Rejected(Rejection::RateLimited { .. }))
    ));
    assert_eq!(per_plant.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_service_gives_access_to_its_inner_service() {
    let echo = tower::service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
    let mut service = limiter(Duration::ZERO).layer().layer(echo);
    let _: &_ = service.get_ref();
    let _: &mut _ = service.get_mut();
    let mut inner = service.into_inner();
    assert_eq!(
        inner
            .ready()
            .await
            .expect("ready")
            .call(3)
            .await
            .expect("echo"),
        3
    );
}

//! The tower contract: readiness passes through, responses and errors keep their types.

use std::time::Duration;

use hardy_core::{Error, Rejection};
use hardy_timeout::{Timeout, TimeoutLayer, TimeoutService};
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower::BoxError;
use tower_test::mock;

fn timeout() -> Timeout {
    Timeout::new("svc", Duration::from_secs(2)).expect("valid timeout")
}

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(TimeoutLayer::new(timeout()));

    handle.allow(0);
    assert_pending!(service.poll_ready());
    handle.allow(1);
    assert!(service.is_woken());
    assert_ready_ok!(service.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn a_prompt_response_passes_through() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(TimeoutLayer::new(timeout()));
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());

    let mut response = task::spawn(service.call(4));
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(request, 4);
    advance(Duration::from_secs(1)).await;
    send.send_response(40);
    assert_eq!(assert_ready_ok!(response.poll()), 40);
}

#[tokio::test(start_paused = true)]
async fn a_slow_response_becomes_a_timeout_rejection() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(TimeoutLayer::new(timeout()));
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());

    let mut response = task::spawn(service.call(4));
    let (_, send) = handle.next_request().await.unwrap();
    assert_pending!(response.poll());
    advance(Duration::from_secs(2)).await;
    let error: BoxError = assert_ready_err!(response.poll());
    let rejection = error.downcast_ref::<Rejection>().unwrap();
    assert!(
        matches!(rejection, Rejection::Timeout { elapsed, .. } if *elapsed == Duration::from_secs(2))
    );
    // Answering after the timeout reaches no one.
    send.send_response(1);
    drop(response);
}

#[tokio::test(start_paused = true)]
async fn inner_errors_keep_their_type() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(TimeoutLayer::new(timeout()));
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call(1));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::other("bus error"));
    let error = assert_ready_err!(response.poll());
    assert!(error.downcast_ref::<Rejection>().is_none());
    assert_eq!(error.to_string(), "bus error");
}

/// A service whose error type is `hardy_core::Error<E>`, as a user's own stack might be.
#[derive(Clone)]
struct Slow;

impl tower::Service<()> for Slow {
    type Response = ();
    type Error = Error<std::io::Error>;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_hardy_error_type_receives_the_rejection() {
    let mut service = mock::Spawn::new(TimeoutService::new(Slow, timeout()));
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call(()));
    assert_pending!(response.poll());
    advance(Duration::from_secs(2)).await;
    let error = assert_ready!(response.poll()).unwrap_err();
    assert!(error.rejection().is_some_and(Rejection::is_timeout));
}

#[test]
fn the_service_gives_access_to_its_inner_service() {
    let timeout = Timeout::new("svc", Duration::from_secs(1)).unwrap();
    let mut service = TimeoutService::new(5_u8, timeout);
    assert_eq!(*service.get_ref(), 5);
    *service.get_mut() = 6;
    assert_eq!(service.timeout().name(), "svc");
    assert_eq!(service.into_inner(), 6);
}

//! The tower contract: readiness passes through, the breaker decides in `call`.

use std::time::Duration;

use hardy_breaker::{BreakerLayer, BreakerService, BreakerState, CircuitBreaker, Window};
use hardy_core::{Outcome, Rejection};
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok, task};
use tower::BoxError;
use tower_test::mock;

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder("svc")
        .consecutive_failures(2)
        .window(Window::Off)
        .open_for(Duration::from_secs(10))
        .build()
        .expect("valid breaker")
}

/// One request through `service` to the mock, which answers `answer`.
async fn exchange<S>(
    service: &mut mock::Spawn<S>,
    handle: &mut mock::Handle<u8, u8>,
    answer: Result<u8, &'static str>,
) -> Result<u8, BoxError>
where
    S: tower::Service<u8, Response = u8, Error = BoxError>,
{
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call(1));
    let (_, send) = handle
        .next_request()
        .await
        .expect("request reaches the service");
    match answer {
        Ok(value) => send.send_response(value),
        Err(message) => send.send_error(std::io::Error::other(message)),
    }
    match response.poll() {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => panic!("the answer was sent, the response must be ready"),
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(breaker().layer());
    handle.allow(0);
    assert_pending!(service.poll_ready());
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn failures_open_it_and_an_open_breaker_never_calls_the_inner_service() {
    let breaker = breaker();
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(breaker.layer());
    for _ in 0..2 {
        let error = exchange(&mut service, &mut handle, Err("down"))
            .await
            .unwrap_err();
        assert!(error.downcast_ref::<Rejection>().is_none());
    }
    assert_eq!(breaker.state(), BreakerState::Open);

    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call(1));
    let error: BoxError = assert_ready_err!(response.poll());
    assert!(
        error
            .downcast_ref::<Rejection>()
            .is_some_and(Rejection::is_circuit_open)
    );
    assert_pending!(
        task::spawn(handle.next_request()).poll(),
        "the inner service saw nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_layer_classifier_sees_the_services_own_types() {
    let breaker = breaker();
    let layer =
        BreakerLayer::new(breaker.clone()).classify(|result: &Result<u8, BoxError>| match result {
            Ok(code) if *code >= 50 => Outcome::RETRYABLE_FAILURE,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::RETRYABLE_FAILURE,
        });
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(layer);
    for _ in 0..2 {
        assert_eq!(
            exchange(&mut service, &mut handle, Ok(53)).await.unwrap(),
            53
        );
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn the_service_gives_access_to_its_inner_service() {
    let mut service = BreakerService::new(5_u8, breaker());
    assert_eq!(*service.get_ref(), 5);
    *service.get_mut() = 6;
    assert_eq!(service.breaker().name(), "svc");
    assert_eq!(service.into_inner(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_service_records_into_the_count_window_in_call_order() {
    use tower::{Service, ServiceExt};
    let breaker = CircuitBreaker::builder("svc")
        .consecutive_failures(0)
        .count_window(64)
        .minimum_calls(32)
        .failure_ratio(0.5)
        .build()
        .expect("valid breaker");
    let mut service = tower::ServiceBuilder::new()
        .layer(breaker.layer())
        .service_fn(|fail: bool| async move {
            if fail {
                Err::<(), BoxError>("down".into())
            } else {
                Ok(())
            }
        });
    for _ in 0..20 {
        service.ready().await.unwrap().call(false).await.unwrap();
    }
    for failures in 1..=20 {
        let _ = service.ready().await.unwrap().call(true).await;
        assert_opens_at(&breaker, failures as u32, 20, "failures");
    }
}

/// The breaker is closed after fewer than `opens_at` of the calls counted by `after`
/// (named `what`), and open from the `opens_at`-th on.
#[track_caller]
fn assert_opens_at(breaker: &CircuitBreaker, after: u32, opens_at: u32, what: &str) {
    let expected = if after < opens_at {
        BreakerState::Closed
    } else {
        BreakerState::Open
    };
    assert_eq!(breaker.state(), expected, "after {after} {what}");
}

fn failing_ratio_breaker(size: u32) -> CircuitBreaker {
    CircuitBreaker::builder("svc")
        .consecutive_failures(0)
        .count_window(size)
        .minimum_calls(size)
        .failure_ratio(0.6)
        .build()
        .expect("valid breaker")
}

fn always_failing(
    breaker: &CircuitBreaker,
) -> impl tower::Service<(), Response = (), Error = BoxError, Future: Send> + Clone {
    tower::ServiceBuilder::new()
        .layer(breaker.layer())
        .service_fn(|()| async { Err::<(), BoxError>("down".into()) })
}

#[tokio::test(start_paused = true)]
async fn a_service_cloned_for_every_call_fills_the_window_exactly() {
    // Retries, routers and servers clone the service for each call: every clone's
    // first call must take exactly one place in the window.
    use tower::ServiceExt;
    let breaker = failing_ratio_breaker(100);
    let service = always_failing(&breaker);
    for call in 1..=100 {
        let _ = service.clone().oneshot(()).await;
        assert_opens_at(&breaker, call as u32, 100, "failed calls");
    }
}

#[tokio::test(start_paused = true)]
async fn many_services_taking_turns_fill_the_window_exactly() {
    // A server keeps a service per connection; calls from many of them interleave.
    use tower::{Service, ServiceExt};
    let breaker = failing_ratio_breaker(100);
    let mut services: Vec<_> = (0..40).map(|_| always_failing(&breaker)).collect();
    for call in 1..=100 {
        let service = &mut services[call % 40];
        let _ = service.ready().await.unwrap().call(()).await;
        assert_opens_at(&breaker, call as u32, 100, "failed calls");
    }
}

/// What a call through [`answering`] does.
#[derive(Clone, Copy)]
enum Answer {
    Succeed,
    Fail,
    /// An inner Hardy layer refuses the call: ignored by the default classifier.
    Refuse,
}

fn answering(
    breaker: &CircuitBreaker,
) -> impl tower::Service<Answer, Response = (), Error = BoxError, Future: Send> + Clone {
    tower::ServiceBuilder::new()
        .layer(breaker.layer())
        .service_fn(|answer| async move {
            match answer {
                Answer::Succeed => Ok(()),
                Answer::Fail => Err::<(), BoxError>("down".into()),
                Answer::Refuse => Err(Rejection::RateLimited {
                    name: "inner".into(),
                    retry_after: Duration::from_secs(1),
                }
                .into()),
            }
        })
}

/// A window of 10 calls that opens at half of them failed.
fn half_of_ten() -> CircuitBreaker {
    CircuitBreaker::builder("svc")
        .consecutive_failures(0)
        .count_window(10)
        .minimum_calls(10)
        .failure_ratio(0.5)
        .build()
        .expect("valid breaker")
}

/// One call through `service`, awaited to its end, whatever it answers.
async fn call<S>(service: &mut S, answer: Answer)
where
    S: tower::Service<Answer, Response = (), Error = BoxError>,
{
    use tower::ServiceExt;
    let _ = service
        .ready()
        .await
        .expect("the service is ready")
        .call(answer)
        .await;
}

/// Four failures, then six successes: four of the ten failed, below the half.
async fn four_of_ten_failed<S>(service: &mut S)
where
    S: tower::Service<Answer, Response = (), Error = BoxError>,
{
    for _ in 0..4 {
        call(service, Answer::Fail).await;
    }
    for _ in 0..6 {
        call(service, Answer::Succeed).await;
    }
}

#[tokio::test(start_paused = true)]
async fn ignored_calls_take_no_place_in_the_window() {
    let breaker = half_of_ten();
    let mut service = answering(&breaker);
    four_of_ten_failed(&mut service).await;
    for _ in 0..4 {
        call(&mut service, Answer::Refuse).await;
    }
    // Each new failure pushes an old one out of the last ten calls that count, until
    // the six successes start leaving: the fifth new failure makes five of ten. Had the
    // refused calls taken places, the four old failures would have stayed in them and
    // the first new failure would have made five.
    for failures in 1..=5 {
        call(&mut service, Answer::Fail).await;
        assert_opens_at(&breaker, failures, 5, "new failures");
    }
}

#[tokio::test(start_paused = true)]
async fn cancelled_calls_take_no_place_in_the_window() {
    use tower::{Service, ServiceExt};
    let breaker = half_of_ten();
    let mut service = answering(&breaker);
    four_of_ten_failed(&mut service).await;
    for _ in 0..4 {
        drop(service.ready().await.unwrap().call(Answer::Fail));
    }
    for failures in 1..=5 {
        call(&mut service, Answer::Fail).await;
        assert_opens_at(&breaker, failures, 5, "new failures");
    }
}

#[tokio::test(start_paused = true)]
async fn a_response_polled_again_after_it_answered_is_recorded_once() {
    use tower::{Service, ServiceBuilder, ServiceExt};
    let breaker = breaker();
    // An inner future that answers with a failure however often it is polled.
    let mut service = ServiceBuilder::new()
        .layer(breaker.layer())
        .service_fn(|()| {
            std::future::poll_fn(|_| std::task::Poll::Ready(Err::<(), BoxError>("down".into())))
        });
    let mut response = task::spawn(service.ready().await.expect("ready").call(()));
    assert_ready_err!(response.poll());
    assert_ready_err!(response.poll());
    assert_eq!(breaker.state(), BreakerState::Closed, "one failure of two");
    drop(response);
    let second = service.ready().await.expect("ready").call(()).await;
    assert!(second.is_err());
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "the second failure opens it"
    );
}

//! How Hardy layers compose with each other and with tower's own: one flat error type,
//! and a per-attempt timeout inside a retry versus a total timeout outside it.

use std::future::{Future, Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardy::prelude::*;
use tokio::time::Instant;
use tower::retry::Policy;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

/// Retries a request whose attempt timed out, up to `left` more times.
#[derive(Clone)]
struct RetryTimeouts {
    left: usize,
}

impl<Req: Clone, Res> Policy<Req, Res, BoxError> for RetryTimeouts {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, BoxError>) -> Option<Self::Future> {
        let timed_out =
            matches!(result, Err(error) if error.as_rejection().is_some_and(Rejection::is_timeout));
        if timed_out && self.left > 0 {
            self.left -= 1;
            Some(ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// A sensor that stalls on its first `stalls` reads and then answers in 100 ms.
fn flaky_sensor(
    stalls: usize,
) -> (
    impl Service<
        u8,
        Response = u8,
        Error = BoxError,
        Future = impl Future<Output = Result<u8, BoxError>> + Send,
    > + Clone,
    Arc<AtomicUsize>,
) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let service = service_fn(move |sensor: u8| {
        let attempt = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt < stalls {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, BoxError>(sensor)
        }
    });
    (service, attempts)
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_inside_retry_lets_the_next_attempt_succeed() {
    let per_attempt = Timeout::new("soil-read.attempt", Duration::from_secs(1)).unwrap();
    let (sensor, attempts) = flaky_sensor(2);
    let mut stack = ServiceBuilder::new()
        .retry(RetryTimeouts { left: 3 })
        .hardy_timeout(&per_attempt)
        .service(sensor);

    let start = Instant::now();
    let reading = stack.ready().await.unwrap().call(4).await.unwrap();
    assert_eq!(reading, 4);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    // Two abandoned attempts of 1 s each, then a 100 ms answer.
    assert_eq!(start.elapsed(), Duration::from_millis(2_100));
}

#[tokio::test(start_paused = true)]
async fn a_total_timeout_outside_retry_caps_all_attempts() {
    let total = Timeout::new("soil-read.total", Duration::from_millis(1_500)).unwrap();
    let per_attempt = Timeout::new("soil-read.attempt", Duration::from_secs(1)).unwrap();
    let (sensor, attempts) = flaky_sensor(5);
    let mut stack = ServiceBuilder::new()
        .hardy_timeout(&total)
        .retry(RetryTimeouts { left: 10 })
        .hardy_timeout(&per_attempt)
        .service(sensor);

    let start = Instant::now();
    let error = stack.ready().await.unwrap().call(4).await.unwrap_err();
    // One flat error type: the outer timeout's rejection, not a nest of wrappers.
    let rejection = error.as_rejection().unwrap();
    assert_eq!(rejection.name(), "soil-read.total");
    assert_eq!(start.elapsed(), Duration::from_millis(1_500));
    // The first attempt was abandoned at 1 s; the second was cut off by the total.
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn an_outer_deadline_caps_the_inner_timeouts() {
    let per_attempt = Timeout::new("soil-read.attempt", Duration::from_secs(1)).unwrap();
    let layer =
        TimeoutLayer::new(per_attempt).deadline_from(|request: &(u8, Deadline)| Some(request.1));
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let mut stack = ServiceBuilder::new()
        .retry(RetryTimeouts { left: 10 })
        .layer(layer)
        .service(service_fn(move |(sensor, _): (u8, Deadline)| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(sensor)
            }
        }));

    // A 2.5 s budget: two full 1 s attempts, a third cut to 0.5 s, then the fourth is
    // refused without running because the budget is spent.
    let start = Instant::now();
    let budget = Deadline::after(Duration::from_millis(2_500));
    let error = stack
        .ready()
        .await
        .unwrap()
        .call((1, budget))
        .await
        .unwrap_err();
    assert!(error.as_rejection().is_some_and(Rejection::is_timeout));
    assert_eq!(start.elapsed(), Duration::from_millis(2_500));
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn timeouts_inside_a_breaker_open_it_and_then_it_refuses_at_once() {
    let per_attempt = Timeout::new("soil-read.attempt", Duration::from_secs(1)).unwrap();
    let breaker = CircuitBreaker::builder("soil-read")
        .consecutive_failures(3)
        .window(hardy::breaker::Window::Off)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let (sensor, attempts) = flaky_sensor(usize::MAX);
    let mut stack = ServiceBuilder::new()
        .hardy_breaker(&breaker)
        .hardy_timeout(&per_attempt)
        .service(sensor);

    // Three stalled reads time out; each timeout is a failure to the breaker.
    for _ in 0..3 {
        let error = stack.ready().await.unwrap().call(1).await.unwrap_err();
        assert!(error.as_rejection().is_some_and(Rejection::is_timeout));
    }
    assert_eq!(breaker.state(), BreakerState::Open);

    // Now the breaker answers at once, without touching the sensor.
    let start = Instant::now();
    let error = stack.ready().await.unwrap().call(1).await.unwrap_err();
    let rejection = error.as_rejection().unwrap();
    assert!(rejection.is_circuit_open());
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_inside_a_retry_stops_the_retries() {
    let breaker = CircuitBreaker::builder("soil-read").build().unwrap();
    breaker.force_open();
    let (sensor, attempts) = flaky_sensor(0);
    // The retry policy retries timeouts only: a CircuitOpen refusal ends the call.
    let mut stack = ServiceBuilder::new()
        .retry(RetryTimeouts { left: 5 })
        .hardy_breaker(&breaker)
        .service(sensor);
    let error = stack.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(error.as_rejection().is_some_and(Rejection::is_circuit_open));
    assert_eq!(attempts.load(Ordering::SeqCst), 0);
}

/// A sensor that fails its first `failures` calls and then answers.
fn failing_sensor(
    failures: usize,
) -> (
    impl Service<
        u8,
        Response = u8,
        Error = BoxError,
        Future = impl Future<Output = Result<u8, BoxError>> + Send,
    > + Clone,
    Arc<AtomicUsize>,
) {
    scripted_sensor(move |call| call < failures)
}

/// A sensor whose `call`-th call (from 0) fails when `fails(call)`; counts its calls.
fn scripted_sensor(
    fails: impl Fn(usize) -> bool + Clone + Send + 'static,
) -> (
    impl Service<
        u8,
        Response = u8,
        Error = BoxError,
        Future = impl Future<Output = Result<u8, BoxError>> + Send,
    > + Clone,
    Arc<AtomicUsize>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let service = service_fn(move |sensor: u8| {
        let failed = fails(counted.fetch_add(1, Ordering::SeqCst));
        async move {
            if failed {
                Err::<u8, BoxError>("no ack".into())
            } else {
                Ok(sensor)
            }
        }
    });
    (service, calls)
}

fn every_second(attempts: u32) -> Retry {
    Retry::builder("soil-read")
        .max_attempts(attempts)
        .backoff(Backoff::Constant {
            delay: Duration::from_secs(1),
        })
        .jitter(Jitter::None)
        .max_delay(Duration::from_secs(60))
        .build()
        .expect("valid retry")
}

#[tokio::test(start_paused = true)]
async fn hardy_retry_around_a_breaker_and_a_per_attempt_timeout_reads_through_stalls() {
    let breaker = CircuitBreaker::builder("soil-sensor").build().unwrap();
    let per_attempt = Timeout::new("soil-read.attempt", Duration::from_secs(1)).unwrap();
    let (sensor, attempts) = flaky_sensor(2);
    let mut stack = ServiceBuilder::new()
        .hardy_retry(&every_second(3))
        .hardy_breaker(&breaker)
        .hardy_timeout(&per_attempt)
        .service(sensor);
    let start = Instant::now();
    let value = stack.ready().await.unwrap().call(4).await.unwrap();
    assert_eq!(value, 4);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    // Two timed-out attempts of 1 s, two delays of 1 s, and a 100 ms answer.
    assert_eq!(start.elapsed(), Duration::from_millis(4_100));
    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn hardy_retry_stops_when_the_breaker_inside_opens() {
    let breaker = CircuitBreaker::builder("soil-sensor")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let (sensor, attempts) = failing_sensor(usize::MAX);
    let mut stack = ServiceBuilder::new()
        .hardy_retry(&every_second(5))
        .hardy_breaker(&breaker)
        .service(sensor);
    let error = stack.ready().await.unwrap().call(4).await.unwrap_err();
    // Two attempts opened the breaker; the third was refused, and the refusal ended
    // the call instead of three more tries against an open breaker.
    assert!(error.as_rejection().is_some_and(Rejection::is_circuit_open));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn hardy_retry_can_wait_for_the_breaker_to_half_open() {
    let breaker = CircuitBreaker::builder("soil-sensor")
        .consecutive_failures(2)
        .half_open_calls(1)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let retry = Retry::builder("soil-read")
        .max_attempts(4)
        .backoff(Backoff::Constant {
            delay: Duration::from_secs(1),
        })
        .jitter(Jitter::None)
        .max_delay(Duration::from_secs(60))
        .wait_for_retry_after(true)
        .build()
        .unwrap();
    let (sensor, attempts) = failing_sensor(2);
    let mut stack = ServiceBuilder::new()
        .hardy_retry(&retry)
        .hardy_breaker(&breaker)
        .service(sensor);
    let start = Instant::now();
    let value = stack.ready().await.unwrap().call(4).await.unwrap();
    assert_eq!(value, 4, "the half-open probe succeeded");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    // 1 s between the two failures, then the 30 s the breaker said to wait.
    assert_eq!(start.elapsed(), Duration::from_secs(31));
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_inside_a_breaker_refuses_without_opening_it() {
    let breaker = CircuitBreaker::builder("pump-1")
        .consecutive_failures(2)
        .build()
        .expect("valid breaker");
    let actuators = Bulkhead::builder("actuators")
        .max_concurrent(1)
        .build()
        .expect("valid bulkhead");
    let (pump, calls) = failing_sensor(0);
    let mut stack = ServiceBuilder::new()
        .hardy_breaker(&breaker)
        .hardy_bulkhead(&actuators)
        .service(pump);
    let busy = actuators.try_acquire().expect("free");
    for _ in 0..5 {
        let error = stack.ready().await.unwrap().call(1).await.unwrap_err();
        assert!(
            error
                .as_rejection()
                .is_some_and(Rejection::is_bulkhead_full)
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "refusals are not failures"
    );
    drop(busy);
    assert_eq!(stack.ready().await.unwrap().call(2).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn hardy_retry_can_wait_out_a_rate_limit_inside_it() {
    // The dependency takes one call every 2 s; a retry that waits for the limiter's
    // retry-after gets through instead of failing.
    let limiter = RateLimiter::builder("weather-api")
        .per(1, Duration::from_secs(2))
        .build()
        .expect("valid limiter");
    let retry = Retry::builder("forecast")
        .max_attempts(3)
        .backoff(Backoff::Constant {
            delay: Duration::from_millis(100),
        })
        .jitter(Jitter::None)
        .max_delay(Duration::from_secs(10))
        .wait_for_retry_after(true)
        .build()
        .expect("valid retry");
    let (api, calls) = failing_sensor(0);
    let mut stack = ServiceBuilder::new()
        .hardy_retry(&retry)
        .hardy_rate_limit(&limiter)
        .service(api);
    let start = Instant::now();
    assert_eq!(stack.ready().await.unwrap().call(1).await.unwrap(), 1);
    assert_eq!(stack.ready().await.unwrap().call(2).await.unwrap(), 2);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "waited its retry-after"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "refusals never reached the api"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_call_is_not_retried_blindly() {
    let limiter = RateLimiter::builder("pump-1")
        .per(1, Duration::from_secs(3600))
        .build()
        .expect("valid limiter");
    let retry = Retry::builder("pump-1")
        .max_attempts(5)
        .build()
        .expect("valid retry");
    let (pump, calls) = failing_sensor(0);
    let mut stack = ServiceBuilder::new()
        .hardy_retry(&retry)
        .hardy_rate_limit(&limiter)
        .service(pump);
    stack.ready().await.unwrap().call(1).await.unwrap();
    let start = Instant::now();
    let error = stack.ready().await.unwrap().call(1).await.unwrap_err();
    let rejection = error.as_rejection().expect("a rejection");
    assert!(rejection.is_rate_limited());
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "refused at once, no retries"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_outside_an_open_breaker_serves_the_last_good_reading() {
    let breaker = CircuitBreaker::builder("soil-sensor")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(60))
        .build()
        .expect("valid breaker");
    let last_good = LastKnownGood::builder("soil")
        .max_staleness(Duration::from_secs(600))
        .build::<u8, u8>()
        .expect("valid store");
    let (sensor, calls) = scripted_sensor(|call| call >= 1);
    let mut read = ServiceBuilder::new()
        .layer(last_good.layer(|sensor: &u8| *sensor))
        .hardy_breaker(&breaker)
        .service(sensor);
    assert_eq!(
        read.ready().await.unwrap().call(3).await.unwrap(),
        3,
        "a good read"
    );
    for _ in 0..5 {
        // Failures, then an open breaker: every read is answered with the good one.
        assert_eq!(read.ready().await.unwrap().call(3).await.unwrap(), 3);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the open breaker spared the sensor"
    );
}

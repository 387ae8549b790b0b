//! The cancellation sweep: a call through the full stack is dropped at every point of
//! its life (waiting for a slot, in its timer, in a retry's backoff, inside the
//! dependency), and its inner service panics; afterwards every slot, permit and
//! in-flight count is back to its exact value.

use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::chaos::{Chaos, Latency};
use hardy::prelude::*;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

type Svc = BoxCloneSyncService<u64, u64, BoxError>;

struct Stack {
    shedder: LoadShedder,
    breaker: CircuitBreaker,
    bulkhead: Bulkhead,
    service: Svc,
}

/// Load shed → retry → breaker → bulkhead (one slot, a queue) → timeout → chaos →
/// a dependency that takes 300 ms, or panics for request 13.
fn stack(seed: u64) -> Stack {
    let shedder = LoadShedder::builder("sweep").build().expect("valid");
    let retry = Retry::builder("sweep")
        .max_attempts(3)
        .backoff(Backoff::Constant {
            delay: Duration::from_millis(200),
        })
        .build()
        .expect("valid");
    // Trips on nothing here: only an in-flight count left behind would show.
    let breaker = CircuitBreaker::builder("sweep")
        .window(hardy::breaker::Window::Off)
        .consecutive_failures(1000)
        .build()
        .expect("valid");
    let bulkhead = Bulkhead::builder("sweep")
        .max_concurrent(1)
        .max_waiting(16)
        .max_wait(Duration::from_secs(10))
        .build()
        .expect("valid");
    let timeout = Timeout::new("sweep", Duration::from_millis(400)).expect("valid");
    let chaos = Chaos::builder("sweep")
        .seed(seed)
        .error_rate(0.3)
        .latency(
            0.5,
            Latency::Fixed {
                delay: Duration::from_millis(250),
            },
        )
        .build()
        .expect("valid");
    let service = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .hardy_load_shed(&shedder)
            .hardy_retry(&retry)
            .hardy_breaker(&breaker)
            .hardy_bulkhead(&bulkhead)
            .hardy_timeout(&timeout)
            .layer(chaos.layer().error(|| BoxError::from("injected")))
            .service_fn(|n: u64| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_ne!(n, 13, "the dependency panics on 13");
                Ok::<_, BoxError>(n)
            }),
    );
    Stack {
        shedder,
        breaker,
        bulkhead,
        service,
    }
}

/// The stack answers `n` (with its value or an error) within ten simulated seconds:
/// nothing left behind blocks it.
async fn answers(stack: &Stack, n: u64) {
    let mut service = stack.service.clone();
    let call = async move { service.ready().await?.call(n).await };
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(Ok(value)) => assert_eq!(value, n),
        // Chaos may fail every attempt: an answer all the same.
        Ok(Err(_)) => {}
        Err(_) => panic!("the stack hangs on {n}"),
    }
}

fn assert_all_released(stack: &Stack, at: &str) {
    let bulkhead = stack.bulkhead.stats();
    assert_eq!(
        (bulkhead.in_flight, bulkhead.waiting),
        (0, 0),
        "bulkhead, {at}"
    );
    let shed = stack.shedder.stats();
    assert_eq!((shed.in_flight, shed.waiting), (0, 0), "load shedder, {at}");
    assert_eq!(stack.breaker.state(), BreakerState::Closed, "breaker, {at}");
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_at_any_moment_gives_everything_back() {
    for seed in 1..=4 {
        let stack = stack(seed);
        // Dropped every 25 ms from the start to past the longest call (three attempts
        // of up to 400 ms and two backoffs of 200 ms), with a second call queued
        // behind the first for the bulkhead's one slot.
        for drop_after in (0..=1700).step_by(25) {
            let mut first = stack.service.clone();
            let mut second = stack.service.clone();
            let a = tokio::spawn(async move { first.ready().await?.call(1).await });
            let b = tokio::spawn(async move { second.ready().await?.call(2).await });
            tokio::time::sleep(Duration::from_millis(drop_after)).await;
            a.abort();
            b.abort();
            let _ = a.await;
            let _ = b.await;
            assert_all_released(
                &stack,
                &format!("seed {seed}, dropped after {drop_after} ms"),
            );
        }
        // And the stack still serves.
        answers(&stack, 5).await;
        assert_all_released(&stack, &format!("seed {seed}, after the sweep"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_dependency_gives_everything_back() {
    let stack = stack(9);
    for _ in 0..5 {
        let mut service = stack.service.clone();
        let task = tokio::spawn(async move { service.ready().await?.call(13).await });
        let joined = task.await;
        // Either the panic unwound the task, or chaos failed every attempt first.
        if let Err(error) = joined {
            assert!(error.is_panic());
        }
        assert_all_released(&stack, "after a panic");
    }
    answers(&stack, 3).await;
    assert_all_released(&stack, "after the panics");
}

//! A full stack — rate limit, retry, circuit breaker, bulkhead, timeout — on the success
//! path: Hardy's, the closest stack of tower's own layers with tower-resilience's
//! breaker (tower has none), and the same five patterns from tower-resilience, beside
//! the bare service, on one thread and on two threads sharing one stack.
//!
//! No limit is ever reached and no call fails: what is measured is what the layers
//! cost a call that they all let through. `hardy` reads Tokio's clock for the rate
//! limit (the default, which follows paused time); `hardy_fast_clock` the processor's
//! cycle counter, as governor does.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hardy::ServiceBuilderExt;
use hardy_benches::{Echo, NeverRetry, runtime, time_calls, time_calls_on_two_threads};
use tower::ServiceBuilder;

const RATE: u32 = 1_000_000_000;
const CONCURRENT: u32 = 100;
const TIMEOUT: Duration = Duration::from_secs(30);

struct HardyHandles {
    fast_limit: hardy_rate_limit::RateLimiter,
    limit: hardy_rate_limit::RateLimiter,
    retry: hardy_retry::Retry,
    breaker: hardy_breaker::CircuitBreaker,
    bulkhead: hardy_bulkhead::Bulkhead,
    timeout: hardy_timeout::Timeout,
}

fn hardy_handles() -> HardyHandles {
    HardyHandles {
        fast_limit: hardy_rate_limit::RateLimiter::builder("stack")
            .per(RATE, Duration::from_secs(1))
            .clock(hardy_rate_limit::Clock::Fast)
            .build()
            .expect("valid rate limit"),
        limit: hardy_rate_limit::RateLimiter::builder("stack")
            .per(RATE, Duration::from_secs(1))
            .build()
            .expect("valid rate limit"),
        retry: hardy_retry::Retry::builder("stack")
            .max_attempts(3)
            .build()
            .expect("valid retry"),
        breaker: hardy_breaker::CircuitBreaker::builder("stack")
            .build()
            .expect("valid breaker"),
        bulkhead: hardy_bulkhead::Bulkhead::builder("stack")
            .max_concurrent(CONCURRENT)
            .build()
            .expect("valid bulkhead"),
        timeout: hardy_timeout::Timeout::new("stack", TIMEOUT).expect("valid timeout"),
    }
}

macro_rules! hardy_stack {
    ($h:expr) => {
        hardy_stack!($h, limit)
    };
    ($h:expr, $limit:ident) => {
        ServiceBuilder::new()
            .hardy_rate_limit(&$h.$limit)
            .hardy_retry(&$h.retry)
            .hardy_breaker(&$h.breaker)
            .hardy_bulkhead(&$h.bulkhead)
            .hardy_timeout(&$h.timeout)
            .service(Echo)
    };
}

/// The same five patterns as one [`hardy::Pipeline`], whose calls hold one reference for
/// all five (in the pipeline's order: the rate limit inside the retry and the breaker,
/// as in a policy file's stacks; on this path, where nothing is refused or retried, the
/// order changes no work).
macro_rules! hardy_pipeline {
    ($h:expr, $limit:ident) => {
        ServiceBuilder::new()
            .hardy_pipeline(
                &hardy::Pipeline::new()
                    .retry(&$h.retry)
                    .breaker(&$h.breaker)
                    .rate_limit(&$h.$limit)
                    .bulkhead(&$h.bulkhead)
                    .timeout(&$h.timeout),
            )
            .service(Echo)
    };
}

/// tower's own layers, with tower-resilience's breaker where tower has none.
macro_rules! tower_stack {
    () => {
        ServiceBuilder::new()
            .rate_limit(u64::from(RATE), Duration::from_secs(1))
            .layer(tower::retry::RetryLayer::new(NeverRetry))
            .layer(breaker())
            .concurrency_limit(CONCURRENT as usize)
            .timeout(TIMEOUT)
            .service(Echo)
    };
}

fn breaker() -> tower_resilience_circuitbreaker::CircuitBreakerLayer {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .expect("valid tower-resilience breaker")
}

/// The five patterns from tower-resilience, outermost first as in the Hardy stack.
macro_rules! resilience_stack {
    () => {{
        let limit = tower_resilience_ratelimiter::RateLimiterLayer::builder()
            .limit_for_period(RATE as usize)
            .refresh_period(Duration::from_secs(1))
            .timeout_duration(Duration::ZERO)
            .build()
            .expect("valid tower-resilience rate limiter");
        let bulkhead = tower_resilience_bulkhead::BulkheadLayer::builder()
            .max_concurrent_calls(CONCURRENT as usize)
            .build()
            .expect("valid tower-resilience bulkhead");
        let timeout = tower_resilience_timelimiter::TimeLimiterLayer::builder()
            .timeout_duration(TIMEOUT)
            .build();
        let inner = ServiceBuilder::new()
            .layer(breaker())
            .layer(bulkhead)
            .layer(timeout)
            .service(Echo);
        let retry = tower_resilience_retry::RetryLayer::<u64, u64, _>::builder()
            .max_attempts(3)
            .build();
        ServiceBuilder::new()
            .layer(limit)
            .layer(retry)
            .service(inner)
    }};
}

fn stack(c: &mut Criterion) {
    let rt = runtime();
    let handles = rt.block_on(async { hardy_handles() });

    let mut group = c.benchmark_group("stack/one_thread");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = hardy_stack!(handles);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_fast_clock", |b| {
        let mut service = hardy_stack!(handles, fast_limit);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_pipeline", |b| {
        let mut service = hardy_pipeline!(handles, limit);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_pipeline_fast_clock", |b| {
        let mut service = hardy_pipeline!(handles, fast_limit);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower", |b| {
        let mut service = rt.block_on(async { tower_stack!() });
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let mut service = rt.block_on(async { resilience_stack!() });
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("stack/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy", |b| {
        let service = hardy_stack!(handles);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("hardy_pipeline", |b| {
        let service = hardy_pipeline!(handles, limit);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let service = rt.block_on(async { resilience_stack!() });
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.finish();
}

criterion_group!(benches, stack);
criterion_main!(benches);

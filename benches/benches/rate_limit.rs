//! Rate limit, a call within the rate: the check alone beside governor's `check` (one
//! rate, and one rate per key), the tower layer beside the bare service and tower's own
//! `RateLimit`, and the check from two threads sharing one limiter, in one run.

use std::hint::black_box;
use std::time::{Duration, Instant};

mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::{RATE, hardy_keyed_limiter, hardy_limiter, quota};
use governor::clock::MonotonicClock;
use hardy_benches::{Echo, on_two_threads, runtime, time_calls};
use hardy_rate_limit::{Clock, RateLimiter};
use tower::{Layer, ServiceBuilder};

/// Keys the keyed benchmarks cycle through.
const KEYS: u64 = 1_000;

fn hardy() -> RateLimiter {
    hardy_limiter(Clock::Tokio)
}

/// Times `iterations` runs of `check` one after another.
fn time_checks(iterations: u64, mut check: impl FnMut(u64) -> bool) -> Duration {
    let start = Instant::now();
    for i in 0..iterations {
        assert!(check(black_box(i)), "admitted");
    }
    start.elapsed()
}

/// Times `iterations` runs of `check` on each of two threads at once (wall time).
fn time_checks_on_two_threads<C>(iterations: u64, check: C) -> Duration
where
    C: Fn(u64) -> bool + Clone + Send + 'static,
{
    on_two_threads(move || {
        let check = check.clone();
        move || time_checks(iterations, check)
    })
}

fn rate_limit(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();

    // Each limiter with each kind of clock: the cycle counter (hardy's `Clock::Fast`,
    // governor's default quanta clock) and the system's monotonic clock (what Tokio's
    // clock reads, hardy's default; governor's `MonotonicClock`).
    let mut group = c.benchmark_group("rate_limit/check");
    group.bench_function("hardy_fast_clock", |b| {
        let limiter = hardy_limiter(Clock::Fast);
        b.iter_custom(|n| time_checks(n, |_| limiter.check().is_ok()));
    });
    group.bench_function("governor", |b| {
        let limiter = governor::RateLimiter::direct(quota());
        b.iter_custom(|n| time_checks(n, |_| limiter.check().is_ok()));
    });
    group.bench_function("hardy_tokio_clock", |b| {
        let limiter = hardy_limiter(Clock::Tokio);
        b.iter_custom(|n| time_checks(n, |_| limiter.check().is_ok()));
    });
    group.bench_function("governor_monotonic_clock", |b| {
        let limiter = governor::RateLimiter::direct_with_clock(quota(), MonotonicClock);
        b.iter_custom(|n| time_checks(n, |_| limiter.check().is_ok()));
    });
    group.finish();

    let mut group = c.benchmark_group("rate_limit/check_key");
    group.bench_function("hardy_fast_clock", |b| {
        let limiter = hardy_keyed_limiter(Clock::Fast);
        b.iter_custom(|n| time_checks(n, |i| limiter.check_key(&(i % KEYS)).is_ok()));
    });
    group.bench_function("governor", |b| {
        let limiter = governor::RateLimiter::keyed(quota());
        b.iter_custom(|n| time_checks(n, |i| limiter.check_key(&(i % KEYS)).is_ok()));
    });
    group.bench_function("hardy_tokio_clock", |b| {
        let limiter = hardy_keyed_limiter(Clock::Tokio);
        b.iter_custom(|n| time_checks(n, |i| limiter.check_key(&(i % KEYS)).is_ok()));
    });
    group.bench_function("governor_monotonic_clock", |b| {
        let limiter = governor::RateLimiter::dashmap_with_clock(quota(), MonotonicClock);
        b.iter_custom(|n| time_checks(n, |i| limiter.check_key(&(i % KEYS)).is_ok()));
    });
    group.finish();

    let mut group = c.benchmark_group("rate_limit/layer");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_fast_clock", |b| {
        let limiter = hardy_limiter(Clock::Fast);
        let mut service = ServiceBuilder::new().layer(limiter.layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_tokio_clock", |b| {
        let mut service = ServiceBuilder::new().layer(hardy().layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_rate_limit", |b| {
        let mut service =
            tower::limit::RateLimitLayer::new(u64::from(RATE), Duration::from_secs(1)).layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("rate_limit/two_threads");
    group.bench_function("hardy_fast_clock", |b| {
        let limiter = hardy_limiter(Clock::Fast);
        b.iter_custom(|n| {
            let limiter = limiter.clone();
            time_checks_on_two_threads(n, move |_| limiter.check().is_ok())
        });
    });
    group.bench_function("governor", |b| {
        let limiter = std::sync::Arc::new(governor::RateLimiter::direct(quota()));
        b.iter_custom(|n| {
            let limiter = limiter.clone();
            time_checks_on_two_threads(n, move |_| limiter.check().is_ok())
        });
    });
    group.bench_function("hardy_keyed_fast_clock", |b| {
        let limiter = hardy_keyed_limiter(Clock::Fast);
        b.iter_custom(|n| {
            let limiter = limiter.clone();
            time_checks_on_two_threads(n, move |i| limiter.check_key(&(i % KEYS)).is_ok())
        });
    });
    group.bench_function("governor_keyed", |b| {
        let limiter = std::sync::Arc::new(governor::RateLimiter::keyed(quota()));
        b.iter_custom(|n| {
            let limiter = limiter.clone();
            time_checks_on_two_threads(n, move |i| limiter.check_key(&(i % KEYS)).is_ok())
        });
    });
    group.finish();
}

criterion_group!(benches, rate_limit);
criterion_main!(benches);

//! Fallback: the bare service, Hardy's fallback and tower-resilience's, on the success
//! path (the fallback stands by) and the failure path (every call fails and a value
//! answers it), in one run; and the success path on two threads sharing one fallback.

use std::future::{Ready, ready};
use std::task::{Context, Poll};

use criterion::{Criterion, criterion_group, criterion_main};
use hardy_benches::{Echo, runtime, time_calls, time_calls_on_two_threads};
use tower::{BoxError, Layer, Service, ServiceBuilder};

/// A dependency that is down: every call fails at once. Its error is zero-sized, so
/// boxing it does not allocate and the failure path measures the layers, not `malloc`.
#[derive(Debug, Clone, Copy)]
struct Down;

#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unavailable")
    }
}

impl std::error::Error for Unavailable {}

impl Service<u64> for Down {
    type Response = u64;
    type Error = BoxError;
    type Future = Ready<Result<u64, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u64) -> Self::Future {
        ready(Err(BoxError::from(Unavailable)))
    }
}

fn fallback(c: &mut Criterion) {
    let rt = runtime();
    let hardy = hardy_fallback::Fallback::builder("bench")
        .value(0u64)
        .build();
    let resilience = || tower_resilience_fallback::FallbackLayer::<u64, u64, BoxError>::value(0);

    let mut group = c.benchmark_group("fallback/success");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new().layer(hardy.layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let mut service = resilience().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("fallback/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy", |b| {
        let service = ServiceBuilder::new().layer(hardy.layer()).service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let service = resilience().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("fallback/failure");
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new().layer(hardy.layer()).service(Down);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let mut service = resilience().layer(Down);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();
}

criterion_group!(benches, fallback);
criterion_main!(benches);

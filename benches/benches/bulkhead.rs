//! Bulkhead, a free slot (admit and release): the bare service, Hardy's bulkhead,
//! tower's `ConcurrencyLimit` and tower-resilience's bulkhead, on one thread and with
//! two threads sharing one bulkhead, in one run.

mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::{CONCURRENCY, hardy_bulkhead, tower_resilience_bulkhead};
use hardy_benches::{Echo, runtime, time_calls, time_calls_on_two_threads};
use tower::{Layer, ServiceBuilder};

fn bulkhead(c: &mut Criterion) {
    let rt = runtime();

    let mut group = c.benchmark_group("bulkhead/free");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new()
            .layer(hardy_bulkhead().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_concurrency_limit", |b| {
        let mut service =
            tower::limit::ConcurrencyLimitLayer::new(CONCURRENCY as usize).layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let mut service = tower_resilience_bulkhead().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("bulkhead/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy", |b| {
        let service = ServiceBuilder::new()
            .layer(hardy_bulkhead().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_concurrency_limit", |b| {
        let service = tower::limit::ConcurrencyLimitLayer::new(CONCURRENCY as usize).layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let service = tower_resilience_bulkhead().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.finish();
}

criterion_group!(benches, bulkhead);
criterion_main!(benches);

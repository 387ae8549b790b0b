//! Bulkhead, a free slot (admit and release): the bare service, Hardy's bulkhead,
//! tower's `ConcurrencyLimit` and tower-resilience's bulkhead, on one thread and with
//! two threads sharing one bulkhead, in one run.

use criterion::{Criterion, criterion_group, criterion_main};
use hardy_benches::{Echo, runtime, time_calls, time_calls_on_two_threads};
use hardy_bulkhead::Bulkhead;
use tower::{Layer, ServiceBuilder};

const LIMIT: u32 = 100;

fn hardy() -> Bulkhead {
    Bulkhead::builder("bench")
        .max_concurrent(LIMIT)
        .build()
        .expect("valid bulkhead")
}

fn tower_limit() -> tower::limit::ConcurrencyLimitLayer {
    tower::limit::ConcurrencyLimitLayer::new(LIMIT as usize)
}

fn tower_resilience() -> tower_resilience_bulkhead::BulkheadLayer {
    tower_resilience_bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(LIMIT as usize)
        .build()
        .expect("valid tower-resilience bulkhead")
}

fn bulkhead(c: &mut Criterion) {
    let rt = runtime();

    let mut group = c.benchmark_group("bulkhead/free");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new().layer(hardy().layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_concurrency_limit", |b| {
        let mut service = tower_limit().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let mut service = tower_resilience().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("bulkhead/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy", |b| {
        let service = ServiceBuilder::new().layer(hardy().layer()).service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_concurrency_limit", |b| {
        let service = tower_limit().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let service = tower_resilience().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.finish();
}

criterion_group!(benches, bulkhead);
criterion_main!(benches);

//! Retry, success at the first attempt: the bare service, Hardy's retry layer (without
//! and with a retry budget), tower's `Retry` with a policy that never retries (and with
//! its `TpsBudget`), and as a direct call, Hardy's `Retry::call` beside backon.
//!
//! `retry/first_try` wraps `Echo`, which is zero-sized, so tower's retry, which clones
//! the service for every call, clones nothing. `retry/over_a_client` wraps a service
//! holding a reference to shared state, as real clients do, so that cloning it costs
//! what cloning a client costs. `retry/first_try_zst_error` wraps `ZstEcho`, whose
//! error type is zero-sized, where `Echo`'s is `BoxError`.

use backon::Retryable;
mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::{hardy_budgeted, tower_budgeted};
use hardy_benches::{
    Echo, NeverRetry, SharedEcho, ZstEcho, runtime, time_calls, time_calls_on_two_threads,
    time_direct_calls,
};
use hardy_retry::Retry;
use tower::{Layer, ServiceBuilder};

fn hardy() -> Retry {
    Retry::builder("bench").build().expect("valid retry")
}

fn retry(c: &mut Criterion) {
    let rt = runtime();

    let mut group = c.benchmark_group("retry/first_try");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new().layer(hardy().layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_budget", |b| {
        let mut service = ServiceBuilder::new()
            .layer(hardy_budgeted().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_never_retry", |b| {
        let mut service = tower::retry::RetryLayer::new(NeverRetry).layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_budget", |b| {
        let mut service = tower::retry::RetryLayer::new(tower_budgeted()).layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    // The same with a zero-size error: the `Result` each layer moves is a word smaller.
    let mut group = c.benchmark_group("retry/first_try_zst_error");
    group.bench_function("bare", |b| {
        let mut service = ZstEcho;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new()
            .layer(hardy().layer())
            .service(ZstEcho);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_never_retry", |b| {
        let mut service = tower::retry::RetryLayer::new(NeverRetry).layer(ZstEcho);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("retry/over_a_client");
    group.bench_function("bare", |b| {
        let mut service = SharedEcho::default();
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new()
            .layer(hardy().layer())
            .service(SharedEcho::default());
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_never_retry", |b| {
        let mut service = tower::retry::RetryLayer::new(NeverRetry).layer(SharedEcho::default());
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("retry/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy_budget", |b| {
        let service = ServiceBuilder::new()
            .layer(hardy_budgeted().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_budget", |b| {
        let service = tower::retry::RetryLayer::new(tower_budgeted()).layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("retry/direct");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| async move { Ok::<u64, std::io::Error>(i) })
        });
    });
    group.bench_function("hardy", |b| {
        let retry = hardy();
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| {
                retry.call(move || async move { Ok::<u64, std::io::Error>(i) })
            })
        });
    });
    group.bench_function("backon", |b| {
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| {
                (move || async move { Ok::<u64, std::io::Error>(i) })
                    .retry(backon::ExponentialBuilder::default())
            })
        });
    });
    group.finish();
}

criterion_group!(benches, retry);
criterion_main!(benches);

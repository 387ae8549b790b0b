//! Timeout: the bare service, Hardy's timeout (ready and pending paths), and tower's
//! `Timeout`, in one run.
//!
//! The ready path is a response available at the first poll; the pending path is one
//! that is pending once, so a timer must be started. The ready path also runs on two
//! threads sharing one timeout, and with a zero-size error type (`ZstEcho`) beside
//! `Echo`'s `BoxError`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hardy_benches::{Echo, YieldOnce, ZstEcho, runtime, time_calls, time_calls_on_two_threads};
use tower::ServiceBuilder;

const LIMIT: Duration = Duration::from_secs(30);

fn timeout(c: &mut Criterion) {
    let rt = runtime();
    let hardy =
        rt.block_on(async { hardy_timeout::Timeout::new("bench", LIMIT).expect("valid timeout") });

    let mut group = c.benchmark_group("timeout/ready");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new().layer(hardy.layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower", |b| {
        let mut service = ServiceBuilder::new().timeout(LIMIT).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    // The same with a zero-size error: tower's `Timeout` boxes the inner error into
    // `BoxError`, which costs more the bigger the inner error's type is.
    let mut group = c.benchmark_group("timeout/ready_zst_error");
    group.bench_function("bare", |b| {
        let mut service = ZstEcho;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new().layer(hardy.layer()).service(ZstEcho);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower", |b| {
        let mut service = ServiceBuilder::new().timeout(LIMIT).service(ZstEcho);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("timeout/pending");
    group.bench_function("bare", |b| {
        let mut service = YieldOnce;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new()
            .layer(hardy.layer())
            .service(YieldOnce);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower", |b| {
        let mut service = ServiceBuilder::new().timeout(LIMIT).service(YieldOnce);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("timeout/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy", |b| {
        let service = ServiceBuilder::new().layer(hardy.layer()).service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower", |b| {
        let service = ServiceBuilder::new().timeout(LIMIT).service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.finish();
}

criterion_group!(benches, timeout);
criterion_main!(benches);

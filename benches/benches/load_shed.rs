//! Load shedding, the admit path under the limit (admit, call, release): the bare
//! service, Hardy's shedder with a fixed limit (what tower offers) and with the
//! adaptive gradient limit, and tower's `LoadShed` over `ConcurrencyLimit`, on one
//! thread and with two threads sharing one shedder, in one run.

mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::{hardy_fixed, hardy_gradient, tower_load_shed};
use hardy_benches::{Echo, runtime, time_calls, time_calls_on_two_threads};
use tower::Layer;

fn load_shed(c: &mut Criterion) {
    let rt = runtime();

    let mut group = c.benchmark_group("load_shed/admit");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_fixed", |b| {
        let mut service = hardy_fixed().layer().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_gradient", |b| {
        let mut service = hardy_gradient().layer().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_load_shed_concurrency_limit", |b| {
        let mut service = tower_load_shed();
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("load_shed/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy_fixed", |b| {
        let service = hardy_fixed().layer().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("hardy_gradient", |b| {
        let service = hardy_gradient().layer().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_load_shed_concurrency_limit", |b| {
        let service = tower_load_shed();
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.finish();
}

criterion_group!(benches, load_shed);
criterion_main!(benches);

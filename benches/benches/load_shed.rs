//! Load shedding, the admit path under the limit (admit, call, release): the bare
//! service, Hardy's shedder with a fixed limit (what tower offers) and with the
//! adaptive gradient limit, and tower's `LoadShed` over `ConcurrencyLimit`, on one
//! thread and with two threads sharing one shedder, in one run.

use criterion::{Criterion, criterion_group, criterion_main};
use hardy_benches::{Echo, runtime, time_calls, time_calls_on_two_threads};
use hardy_load_shed::{GradientConfig, LoadShedder};
use tower::{Layer, ServiceBuilder};

const LIMIT: u32 = 100;

fn fixed() -> LoadShedder {
    LoadShedder::builder("bench")
        .fixed_limit(LIMIT)
        .build()
        .expect("valid shedder")
}

/// The gradient limit, never reached: its bounds are pinned at the limit, so the bench
/// measures the sampling on every call, not a limit that moves.
fn gradient() -> LoadShedder {
    LoadShedder::builder("bench")
        .gradient(GradientConfig {
            initial_limit: LIMIT,
            min_limit: LIMIT,
            max_limit: LIMIT,
            ..GradientConfig::default()
        })
        .build()
        .expect("valid shedder")
}

type TowerLoadShed = tower::load_shed::LoadShed<tower::limit::ConcurrencyLimit<Echo>>;

fn tower_load_shed() -> TowerLoadShed {
    ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(LIMIT as usize)
        .service(Echo)
}

fn load_shed(c: &mut Criterion) {
    let rt = runtime();

    let mut group = c.benchmark_group("load_shed/admit");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_fixed", |b| {
        let mut service = fixed().layer().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_gradient", |b| {
        let mut service = gradient().layer().layer(Echo);
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
        let service = fixed().layer().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("hardy_gradient", |b| {
        let service = gradient().layer().layer(Echo);
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

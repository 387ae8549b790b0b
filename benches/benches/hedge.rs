//! Hedged requests, the path of a call that needs no hedge: the bare service, Hardy's
//! hedge with a fixed delay and with a percentile delay (which records every first
//! attempt's latency), and tower's `Hedge` (percentile, recording every response), as
//! tower services, in one run.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hardy::hedge::Hedge;
use hardy_benches::{Echo, runtime, time_calls};
use tower::ServiceBuilder;

/// tower's hedge policy: every request may be copied and hedged.
#[derive(Clone)]
struct Always;

impl tower::hedge::Policy<u64> for Always {
    fn clone_request(&self, request: &u64) -> Option<u64> {
        Some(*request)
    }

    fn can_retry(&self, _: &u64) -> bool {
        true
    }
}

fn hedge(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("hedge/no_hedge");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_fixed", |b| {
        let hedge = Hedge::builder("bench")
            .fixed_delay(Duration::from_millis(10))
            .build()
            .expect("valid");
        let mut service = ServiceBuilder::new().layer(hedge.layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_percentile", |b| {
        let hedge = Hedge::builder("bench")
            .percentile(95.0)
            .build()
            .expect("valid");
        let mut service = ServiceBuilder::new().layer(hedge.layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower", |b| {
        let mut service =
            tower::hedge::Hedge::new::<u64>(Echo, Always, 20, 0.95, Duration::from_secs(10));
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();
}

criterion_group!(benches, hedge);
criterion_main!(benches);

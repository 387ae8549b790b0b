//! What the `tracing` feature costs when its events are filtered out. The same paths
//! run without a subscriber, then with a global subscriber at `info` (so the debug
//! and trace events of these paths are filtered out): a breaker's success and its
//! rejection, a retry's success, a shed call, a full-bulkhead refusal and the
//! five-pattern pipeline. Run once without the feature and once with
//! `--features tracing`; the ratios of the two runs' medians are the feature's cost.

use std::hint::black_box;
use std::sync::Once;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hardy::Pipeline;
use hardy::breaker::CircuitBreaker;
use hardy::bulkhead::Bulkhead;
use hardy::load_shed::{CallInfo, LoadShedder};
use hardy::prelude::*;
use hardy::rate_limit::RateLimiter;
use hardy_benches::{Echo, runtime, time_calls, time_direct_calls};
use tower::ServiceBuilder;

fn paths(c: &mut Criterion, group: &str) {
    let rt = runtime();
    let mut group = c.benchmark_group(group);

    let breaker = CircuitBreaker::builder("bench").build().expect("valid");
    group.bench_function("breaker_success", |b| {
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| {
                breaker.call(move || async move { Ok::<_, std::io::Error>(i) })
            })
        });
    });

    let open = CircuitBreaker::builder("bench-open")
        .build()
        .expect("valid");
    open.force_open();
    group.bench_function("breaker_rejected", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..n {
                    let refused = open
                        .call(move || async move { Ok::<_, std::io::Error>(i) })
                        .await;
                    black_box(refused.is_err());
                }
                start.elapsed()
            })
        });
    });

    let retry = Retry::builder("bench").build().expect("valid");
    group.bench_function("retry_success", |b| {
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| {
                retry.call(move || async move { Ok::<_, std::io::Error>(i) })
            })
        });
    });

    let shedder = LoadShedder::builder("bench")
        .fixed_limit(1)
        .build()
        .expect("valid");
    let _held = shedder.try_acquire(CallInfo::new()).expect("a slot");
    group.bench_function("load_shed_shed", |b| {
        b.iter(|| black_box(shedder.try_acquire(CallInfo::new()).is_err()));
    });

    let bulkhead = Bulkhead::builder("bench")
        .max_concurrent(1)
        .build()
        .expect("valid");
    let _slot = bulkhead.try_acquire().expect("a slot");
    group.bench_function("bulkhead_full", |b| {
        b.iter(|| black_box(bulkhead.try_acquire().is_err()));
    });

    let pipeline = Pipeline::new()
        .retry(&Retry::builder("bench").build().expect("valid"))
        .breaker(&CircuitBreaker::builder("bench").build().expect("valid"))
        .rate_limit(
            &RateLimiter::builder("bench")
                .per(1_000_000_000, Duration::from_secs(1))
                .build()
                .expect("valid"),
        )
        .bulkhead(
            &Bulkhead::builder("bench")
                .max_concurrent(1_000)
                .build()
                .expect("valid"),
        )
        .timeout(&Timeout::new("bench", Duration::from_secs(1)).expect("valid"));
    group.bench_function("pipeline_success", |b| {
        let mut service = ServiceBuilder::new().layer(pipeline.layer()).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();
}

fn without_subscriber(c: &mut Criterion) {
    paths(c, "tracing/no_subscriber");
}

fn with_subscriber_at_info(c: &mut Criterion) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
    paths(c, "tracing/info_subscriber");
}

criterion_group!(benches, without_subscriber, with_subscriber_at_info);
criterion_main!(benches);

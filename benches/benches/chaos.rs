//! Chaos and policy stacks: the bare service, a disabled and an enabled (all rates
//! zero) chaos layer, and an operation's stack from a policy file beside the same
//! layers composed by hand, in one run.

use criterion::{Criterion, criterion_group, criterion_main};
use hardy::ServiceBuilderExt;
use hardy_benches::{Echo, runtime, time_calls};
use tower::ServiceBuilder;

const POLICIES: &str = r#"
[timeout]
default = "30s"

[retry.default]
max_attempts = 3

[breaker.default]
consecutive_failures = 5

[bulkhead.default]
max_concurrent = 1000
"#;

fn chaos(c: &mut Criterion) {
    let rt = runtime();
    let (off, on) = rt.block_on(async {
        let off = hardy::chaos::Chaos::builder("off")
            .enabled(false)
            .error_rate(0.5)
            .build()
            .expect("valid");
        let on = hardy::chaos::Chaos::builder("on")
            .seed(1)
            .build()
            .expect("valid");
        (off, on)
    });

    let mut group = c.benchmark_group("chaos");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_disabled", |b| {
        let mut service = ServiceBuilder::new().hardy_chaos(&off).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_enabled_no_fault", |b| {
        let mut service = ServiceBuilder::new().hardy_chaos(&on).service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let policies = rt.block_on(async { hardy::Policies::from_toml(POLICIES).expect("valid") });
    let mut group = c.benchmark_group("policies/stack");
    group.bench_function("hardy_by_hand", |b| {
        let retry = policies.get::<hardy::retry::Retry>("op").expect("default");
        let breaker = policies
            .get::<hardy::breaker::CircuitBreaker>("op")
            .expect("default");
        let bulkhead = policies
            .get::<hardy::bulkhead::Bulkhead>("op")
            .expect("default");
        let timeout = policies.timeout("op").expect("table");
        let mut service = ServiceBuilder::new()
            .hardy_retry(&retry)
            .hardy_breaker(&breaker)
            .hardy_bulkhead(&bulkhead)
            .hardy_timeout(&timeout)
            .service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_from_file", |b| {
        let mut service = ServiceBuilder::new()
            .hardy_policies(&policies, "op")
            .service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();
}

criterion_group!(benches, chaos);
criterion_main!(benches);

//! `[hedge]` in policy files: the hedge's place in an operation's stack (between the
//! retry and the breaker), its breaker rule, and its settings read, checked and
//! written back.
#![cfg(all(feature = "config", feature = "hedge"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy::Policies;
use hardy::breaker::CircuitBreaker;
use hardy::hedge::Hedge;
use tokio::time::{Instant, sleep};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const MS: Duration = Duration::from_millis(1);

const POLICIES: &str = r#"
    [timeout]
    default = "10s"

    [breaker.default]
    consecutive_failures = 100

    [hedge.default]
    delay = { kind = "fixed", delay = "20ms" }
    budget = { retry_ratio = 1.0, min_retries_per_second = 0.0, max_balance = 10 }

    [retry.default]
    max_attempts = 2

    [operations.read]
    service = "replicas"
"#;

/// A replica whose first call is stuck; the others answer in 3 ms. Counts its calls.
fn replicas(
    calls: Arc<AtomicU32>,
) -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
    tower::service_fn(move |key: u32| {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            sleep(if call == 1 { 5_000 * MS } else { 3 * MS }).await;
            Ok::<_, BoxError>(key + call)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn an_operation_hedges_between_its_retry_and_its_breaker() {
    let policies = Policies::from_toml(POLICIES).expect("valid policies");
    let plan = policies.plan("read");
    assert_eq!(plan.hedge.as_deref(), Some("replicas"));
    assert_eq!(plan.breaker.as_deref(), Some("replicas"));
    assert_eq!(plan.retry.as_deref(), Some("replicas"));

    let calls = Arc::new(AtomicU32::new(0));
    let mut read = ServiceBuilder::new()
        .layer(policies.stack("read"))
        .service(replicas(calls.clone()));
    let started = Instant::now();
    let answer = read.ready().await.expect("ready").call(10).await;
    assert_eq!(answer.expect("the hedge answered"), 12);
    assert_eq!(started.elapsed(), 23 * MS);
    let hedge = policies.get::<Hedge>("replicas").expect("built");
    assert_eq!((hedge.stats().hedges, hedge.stats().hedge_wins), (1, 1));
    // The breaker below the hedge recorded both attempts' outcomes as they ended: the
    // winner; the loser was dropped unrecorded.
    let breaker = policies.get::<CircuitBreaker>("replicas").expect("built");
    assert_eq!(breaker.stats().successes, 1);

    // While the breaker is not closed (here: recording only), no extra attempt.
    breaker.metrics_only();
    calls.store(0, Ordering::SeqCst);
    let started = Instant::now();
    let answer = read.ready().await.expect("ready").call(10).await;
    assert_eq!(answer.expect("the stuck call, waited for"), 11);
    assert_eq!(started.elapsed(), 5_000 * MS);
    assert_eq!(hedge.stats().skipped_breaker, 1);
}

#[test]
fn hedge_settings_are_checked_and_written_back() {
    let errors =
        Policies::from_toml("[hedge.default]\nmax_hedges = 0\n").expect_err("zero extra attempts");
    assert!(
        errors
            .to_string()
            .contains("max_hedges = 0: must be greater than zero"),
        "{errors}"
    );
    let policies = Policies::from_toml(POLICIES).expect("valid policies");
    let written = policies.document().to_toml().expect("writes");
    assert!(written.contains("[hedge.default]"), "{written}");
    let back = Policies::from_toml(&written).expect("reads back");
    assert_eq!(back.document(), policies.document());
}

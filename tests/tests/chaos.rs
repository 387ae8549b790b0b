//! Chaos scenarios on paused time: a dependency dies and comes back, a bulkhead and a
//! pool fill up, a pool's database returns, a load-shed limit backs off and grows
//! back, many tasks share one stack. Faults come from hardy-chaos; every scenario
//! asserts figures (answers, calls that reached the dependency, rejections, simulated
//! time to recover).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::chaos::{Chaos, Latency};
use hardy::prelude::*;
use hardy::{RejectionKind, find_rejection};
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

type Svc = BoxCloneSyncService<u64, u64, BoxError>;

/// A dependency that answers `n * 10`, behind `chaos` (which can kill it).
fn dependency(chaos: &Chaos, calls: &Arc<AtomicU64>) -> Svc {
    let calls = calls.clone();
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(chaos.layer().error(|| BoxError::from("dependency down")))
            .service_fn(move |n: u64| {
                calls.fetch_add(1, Ordering::Relaxed);
                async move { Ok::<_, BoxError>(n * 10) }
            }),
    )
}

struct Stack {
    breaker: CircuitBreaker,
    bulkhead: Bulkhead,
    service: Svc,
}

/// Fallback (answer 0) → retry (3 attempts) → breaker (opens after 5 failures in a row,
/// for 30 s) → bulkhead → timeout (1 s) → `inner`.
fn stack(name: &str, inner: Svc) -> Stack {
    let fallback = Fallback::builder(name).value(0u64).build();
    let retry = Retry::builder(name)
        .max_attempts(3)
        .backoff(Backoff::Constant {
            delay: Duration::from_millis(100),
        })
        .build()
        .expect("valid");
    let breaker = CircuitBreaker::builder(name)
        .consecutive_failures(5)
        .open_for(Duration::from_secs(30))
        .half_open_calls(1)
        .build()
        .expect("valid");
    let bulkhead = Bulkhead::builder(name)
        .max_concurrent(4)
        .max_waiting(512)
        .max_wait(Duration::from_secs(600))
        .build()
        .expect("valid");
    let timeout = Timeout::new(name, Duration::from_secs(1)).expect("valid");
    let service = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .hardy_fallback(&fallback)
            .hardy_retry(&retry)
            .hardy_breaker(&breaker)
            .hardy_bulkhead(&bulkhead)
            .hardy_timeout(&timeout)
            .service(inner),
    );
    Stack {
        breaker,
        bulkhead,
        service,
    }
}

async fn call(service: &mut Svc, n: u64) -> u64 {
    service
        .ready()
        .await
        .expect("ready")
        .call(n)
        .await
        .expect("the fallback answers")
}

#[tokio::test(start_paused = true)]
async fn a_dead_dependency_opens_the_breaker_stops_retries_and_recovers() {
    let chaos = Chaos::builder("ec2").seed(1).build().expect("valid");
    let reached = Arc::new(AtomicU64::new(0));
    let mut ec2 = stack("ec2", dependency(&chaos, &reached));
    // Another dependency on its own partition, healthy throughout.
    let s3_chaos = Chaos::builder("s3").seed(2).build().expect("valid");
    let s3_reached = Arc::new(AtomicU64::new(0));
    let mut s3 = stack("s3", dependency(&s3_chaos, &s3_reached));

    // Healthy: every answer is the dependency's.
    for n in 1..=20 {
        assert_eq!(call(&mut ec2.service, n).await, n * 10);
    }
    assert_eq!(reached.load(Ordering::Relaxed), 20);

    // The dependency dies.
    chaos.set_error_rate(1.0).expect("valid");
    let died = Instant::now();
    let mut fallbacks = 0;
    for n in 1..=50 {
        if call(&mut ec2.service, n).await == 0 {
            fallbacks += 1;
        }
        assert_eq!(
            call(&mut s3.service, n).await,
            n * 10,
            "the other partition serves"
        );
    }
    assert_eq!(fallbacks, 50, "every caller got the fallback's answer");
    assert_eq!(ec2.breaker.state(), BreakerState::Open);
    // Two calls of three attempts found it failing (5 failures open the breaker); after
    // that nothing reached it: retries stopped.
    assert_eq!(chaos.stats().errors, 5);
    let opened_after = died.elapsed();
    assert!(opened_after < Duration::from_secs(1), "{opened_after:?}");
    assert_eq!(ec2.bulkhead.stats().in_flight, 0);

    // It comes back; after the open period one probe closes the breaker.
    chaos.set_error_rate(0.0).expect("valid");
    let back = Instant::now();
    let mut recovered_at = None;
    for _ in 0..40 {
        tokio::time::advance(Duration::from_secs(1)).await;
        if call(&mut ec2.service, 7).await == 70 {
            recovered_at = Some(back.elapsed());
            break;
        }
    }
    let recovered_at = recovered_at.expect("recovered");
    assert!(
        recovered_at <= Duration::from_secs(31) && recovered_at >= Duration::from_secs(29),
        "recovered after {recovered_at:?}"
    );
    assert_eq!(ec2.breaker.state(), BreakerState::Closed);
    assert_eq!(call(&mut ec2.service, 8).await, 80);
}

#[tokio::test(start_paused = true)]
async fn a_saturated_bulkhead_refuses_at_once_and_nothing_deadlocks() {
    // A dependency that hangs for a minute on every call.
    let chaos = Chaos::builder("slow")
        .seed(3)
        .latency(
            1.0,
            Latency::Fixed {
                delay: Duration::from_secs(60),
            },
        )
        .build()
        .expect("valid");
    let reached = Arc::new(AtomicU64::new(0));
    let bulkhead = Bulkhead::builder("slow")
        .max_concurrent(2)
        .max_waiting(0)
        .build()
        .expect("valid");
    let service = ServiceBuilder::new()
        .hardy_bulkhead(&bulkhead)
        .service(dependency(&chaos, &reached));
    let mut held = Vec::new();
    for n in 0..2 {
        let mut service = service.clone();
        held.push(tokio::spawn(async move {
            service.ready().await.expect("ready").call(n).await
        }));
    }
    tokio::task::yield_now().await;
    assert_eq!(bulkhead.stats().in_flight, 2);
    let started = Instant::now();
    let mut refused = 0;
    for n in 0..10 {
        let mut service = service.clone();
        let error = service
            .ready()
            .await
            .expect("ready")
            .call(n)
            .await
            .expect_err("full");
        assert_eq!(
            find_rejection(&*error).map(|r| r.kind()),
            Some(RejectionKind::BulkheadFull)
        );
        refused += 1;
    }
    assert_eq!(refused, 10);
    assert_eq!(started.elapsed(), Duration::ZERO, "refusals are immediate");
    for task in held {
        assert!(task.await.expect("joined").is_ok());
    }
    assert_eq!(bulkhead.stats().in_flight, 0, "the slots came back");
    assert_eq!(reached.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn many_tasks_through_one_stack_balance_every_count() {
    let chaos = Chaos::builder("api")
        .seed(4)
        .error_rate(0.2)
        .latency(
            0.5,
            Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(1500),
            },
        )
        .build()
        .expect("valid");
    let reached = Arc::new(AtomicU64::new(0));
    let api = stack("api", dependency(&chaos, &reached));
    let answered = Arc::new(AtomicU64::new(0));
    let real = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (1..=200u64)
        .map(|n| {
            let mut service = api.service.clone();
            let (answered, real) = (answered.clone(), real.clone());
            tokio::spawn(async move {
                let answer = service
                    .ready()
                    .await
                    .expect("ready")
                    .call(n)
                    .await
                    .expect("answered");
                answered.fetch_add(1, Ordering::Relaxed);
                if answer == n * 10 {
                    real.fetch_add(1, Ordering::Relaxed);
                } else {
                    assert_eq!(answer, 0, "only the fallback answers otherwise");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no task panicked");
    }
    assert_eq!(answered.load(Ordering::Relaxed), 200);
    let stats = chaos.stats();
    // Every attempt drew once from chaos and either failed there or reached the
    // dependency (a delayed one reaches it at once and is polled after its delay).
    assert_eq!(stats.calls, stats.errors + reached.load(Ordering::Relaxed));
    assert!(
        stats.calls > 200,
        "failed and timed-out attempts were retried"
    );
    assert!(stats.calls <= 600, "at most three attempts a call");
    assert!(
        real.load(Ordering::Relaxed) >= 100,
        "most calls got a real answer: {}",
        real.load(Ordering::Relaxed)
    );
    assert_eq!(api.bulkhead.stats().in_flight, 0, "every slot came back");
}

/// A manager whose database can be down: creates fail while `down` is set.
#[derive(Clone, Default)]
struct Database {
    down: Arc<std::sync::atomic::AtomicBool>,
    made: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Refused {}

impl hardy::pool::Manager for Database {
    type Object = u64;
    type Error = Refused;

    async fn create(&self) -> Result<u64, Refused> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Refused);
        }
        Ok(self.made.fetch_add(1, Ordering::SeqCst))
    }
}

#[tokio::test(start_paused = true)]
async fn a_saturated_pool_times_out_on_time_and_refills_when_its_database_returns() {
    let database = Database::default();
    database.down.store(true, Ordering::SeqCst);
    let pool = hardy::pool::Pool::builder("db", database.clone())
        .max_size(2)
        .min_idle(2)
        .acquire_timeout(Duration::from_secs(1))
        .build()
        .expect("valid");

    // The database is down: a caller waits out its timeout, no longer, and learns why.
    let started = Instant::now();
    let error = pool.get().await.expect_err("nothing can be made");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(error.to_string().contains("db"), "{error}");
    assert_eq!(pool.stats().size, 0);

    // It comes back: maintenance refills the pool to min_idle without any caller.
    database.down.store(false, Ordering::SeqCst);
    let back = Instant::now();
    while pool.stats().idle < 2 {
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "refilled: {:?}",
            pool.stats()
        );
    }
    let refilled_in = back.elapsed();
    assert!(
        refilled_in <= Duration::from_secs(31),
        "refilled in {refilled_in:?}"
    );

    // Saturated: both objects held; the next caller times out after exactly 1 s.
    let first = pool.get().await.expect("idle");
    let second = pool.get().await.expect("idle");
    assert_eq!(pool.stats().in_use, 2);
    let started = Instant::now();
    assert!(pool.get().await.is_err());
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    drop(first);
    let started = Instant::now();
    let third = pool.get().await.expect("one came back");
    assert_eq!(started.elapsed(), Duration::ZERO, "handed over at once");
    drop((second, third));
    assert_eq!(pool.stats().in_use, 0);
    assert_eq!(
        database.made.load(Ordering::SeqCst),
        2,
        "no object was lost or remade"
    );
}

#[tokio::test(start_paused = true)]
async fn a_load_shed_limit_backs_off_under_slow_calls_and_grows_back() {
    use hardy::load_shed::{AimdConfig, LimitConfig, LoadShedConfig};
    let shedder = LoadShedder::new(
        "api",
        LoadShedConfig {
            limit: LimitConfig::Aimd(AimdConfig {
                initial_limit: 20,
                min_limit: 2,
                max_limit: 40,
                latency_threshold: Some(Duration::from_millis(100)),
                window: Duration::from_secs(1),
                ..AimdConfig::default()
            }),
            ..LoadShedConfig::default()
        },
    )
    .expect("valid");
    let slow = Chaos::builder("api")
        .seed(5)
        .latency(
            1.0,
            Latency::Fixed {
                delay: Duration::from_millis(400),
            },
        )
        .build()
        .expect("valid");
    let service = ServiceBuilder::new()
        .hardy_load_shed(&shedder)
        .hardy_chaos(&slow)
        .service_fn(|n: u64| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, BoxError>(n)
        });
    // Sixteen callers, each calling again as soon as it is answered (or shed).
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move {
                loop {
                    if let Ok(ready) = service.ready().await {
                        let _ = ready.call(1).await;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(20)).await;
    let backed_off = shedder.stats().limit;
    assert!(
        backed_off < 20,
        "slow calls back the limit off: {backed_off}"
    );

    // The dependency is fast again: the limit grows back while it is used.
    slow.set_enabled(false);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let grown = shedder.stats().limit;
    assert!(
        grown > backed_off,
        "the limit grew back: {backed_off} -> {grown}"
    );
    assert!(grown >= 16, "back to the callers' concurrency: {grown}");
    for caller in callers {
        caller.abort();
        let _ = caller.await;
    }
    assert_eq!(shedder.stats().in_flight, 0);
}

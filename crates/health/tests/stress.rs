//! Two threads using one registry at once: forced runs, probes and registrations.
//! Runs of one check never overlap, none is lost or doubled, and the judgement follows
//! the runs in the order they happened.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_health::{CheckConfig, CheckResult, HealthCheck, HealthRegistry, Status};

const RUNS_PER_THREAD: u32 = 2_000;
const EXTRAS: u32 = 50;

/// Fails its runs 0, 3, 6, …, counting runs and the most that were ever in flight.
#[derive(Clone, Default)]
struct Flaky {
    runs: Arc<AtomicU32>,
    in_flight: Arc<AtomicU32>,
    most_in_flight: Arc<AtomicU32>,
}

impl HealthCheck for Flaky {
    async fn check(&self) -> CheckResult {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        // Let the other thread in while this run is under way.
        tokio::task::yield_now().await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if run.is_multiple_of(3) {
            CheckResult::from(Status::Unhealthy)
        } else {
            CheckResult::from(Status::Healthy)
        }
    }
}

/// Counts its runs.
#[derive(Clone, Default)]
struct Counted(Arc<AtomicU32>);

impl HealthCheck for Counted {
    async fn check(&self) -> CheckResult {
        self.0.fetch_add(1, Ordering::SeqCst);
        CheckResult::from(Status::Healthy)
    }
}

fn config() -> CheckConfig {
    CheckConfig {
        // Never stale while the test runs: only forced runs and first runs happen.
        interval: Duration::from_secs(3_600),
        jitter: 0.0,
        failure_threshold: 2,
        success_threshold: 2,
        ..CheckConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_threads_force_runs_probe_and_register_without_losing_a_run() {
    let flaky = Flaky::default();
    let registry = HealthRegistry::builder("app")
        .check("flaky", flaky.clone(), config())
        .build()
        .expect("valid registry");
    let extras: Vec<Counted> = (0..EXTRAS).map(|_| Counted::default()).collect();

    let forcing = {
        let registry = registry.clone();
        tokio::spawn(async move {
            for _ in 0..RUNS_PER_THREAD {
                registry.run_now("flaky").await.expect("registered");
            }
        })
    };
    let registering = {
        let registry = registry.clone();
        let extras = extras.clone();
        tokio::spawn(async move {
            for i in 0..RUNS_PER_THREAD {
                registry.run_now("flaky").await.expect("registered");
                if i % (RUNS_PER_THREAD / EXTRAS) == 0 {
                    let n = i / (RUNS_PER_THREAD / EXTRAS);
                    registry
                        .register(
                            format!("extra-{n}"),
                            extras[n as usize].clone(),
                            CheckConfig {
                                success_threshold: 1,
                                ..config()
                            },
                        )
                        .expect("a new name");
                    // Runs the new check (never run) and nothing else (all fresh).
                    let report = registry.check_health().await;
                    assert_eq!(report.checks.len(), n as usize + 2);
                }
            }
        })
    };
    forcing.await.expect("forcing thread");
    registering.await.expect("registering thread");

    assert_eq!(flaky.runs.load(Ordering::SeqCst), 2 * RUNS_PER_THREAD);
    assert_eq!(
        flaky.most_in_flight.load(Ordering::SeqCst),
        1,
        "runs of one check never overlap"
    );
    for (n, extra) in extras.iter().enumerate() {
        assert_eq!(extra.0.load(Ordering::SeqCst), 1, "extra-{n} ran once");
        assert_eq!(
            registry.status(&format!("extra-{n}")),
            Some(Status::Healthy)
        );
    }
    let report = registry.report();
    assert_eq!(report.checks.len(), EXTRAS as usize + 1);
    let last = 2 * RUNS_PER_THREAD - 1;
    let flaky_report = &report.checks["flaky"];
    // Failures never come two in a row, so the check is healthy; the last run failed
    // if its number is a multiple of 3.
    assert_eq!(flaky_report.status, Status::Healthy);
    assert_eq!(
        flaky_report.consecutive_failures,
        u32::from(last.is_multiple_of(3)),
        "the judgement saw the runs in order"
    );
    assert_eq!(report.status, Status::Healthy);
}

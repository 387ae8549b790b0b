//! Thresholds, caching, single runs, timeouts, panics, probes and aggregation, on
//! paused time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::Name;
use hardy_health::{
    CheckConfig, CheckResult, HealthCheck, HealthEvent, HealthRegistry, Probe, Probes, Status,
    check_fn,
};
use tokio::time::{Instant, advance, sleep};

const SEC: Duration = Duration::from_secs(1);

/// A check that answers from a script (then healthy), counting its runs, each taking
/// `takes`.
#[derive(Clone)]
struct Scripted {
    answers: Arc<Mutex<VecDeque<Status>>>,
    runs: Arc<AtomicU32>,
    takes: Duration,
}

impl Scripted {
    fn new(answers: &[Status]) -> Self {
        Scripted {
            answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
            runs: Arc::new(AtomicU32::new(0)),
            takes: Duration::ZERO,
        }
    }

    fn taking(mut self, takes: Duration) -> Self {
        self.takes = takes;
        self
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }
}

impl HealthCheck for Scripted {
    async fn check(&self) -> CheckResult {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if !self.takes.is_zero() {
            sleep(self.takes).await;
        }
        let answer = self
            .answers
            .lock()
            .expect("answers")
            .pop_front()
            .unwrap_or(Status::Healthy);
        CheckResult {
            status: answer,
            message: (answer != Status::Healthy).then(|| answer.to_string()),
        }
    }
}

fn config(interval: Duration) -> CheckConfig {
    CheckConfig {
        interval,
        jitter: 0.0,
        failure_threshold: 2,
        success_threshold: 2,
        ..CheckConfig::default()
    }
}

fn registry(check: Scripted, config: CheckConfig) -> HealthRegistry {
    HealthRegistry::builder("app")
        .check("db", check, config)
        .build()
        .expect("valid registry")
}

use Status::{Degraded, Healthy, Unhealthy, Unknown};

#[tokio::test(start_paused = true)]
async fn thresholds_judge_runs_in_a_row() {
    let check = Scripted::new(&[
        Unhealthy, Healthy, Healthy, Unhealthy, Unhealthy, Healthy, Degraded,
    ]);
    let health = registry(check.clone(), config(SEC));
    assert_eq!(health.status("db"), Some(Unknown), "never checked");
    let mut seen = Vec::new();
    for _ in 0..7 {
        health.run_now("db").await.expect("a check");
        seen.push(health.status("db").expect("a check"));
    }
    assert_eq!(
        seen,
        [
            Unknown, Unknown, Healthy, Healthy, Unhealthy, Unhealthy, Degraded
        ]
    );
    assert_eq!(check.runs(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_fresh_result_is_served_from_the_cache() {
    let check = Scripted::new(&[]);
    let health = registry(check.clone(), config(Duration::from_secs(10)));
    for _ in 0..5 {
        assert_eq!(
            health.check_health().await.status,
            Unknown,
            "one success of two"
        );
    }
    assert_eq!(check.runs(), 1, "probes within the interval read the cache");
    advance(Duration::from_secs(10)).await;
    assert_eq!(health.check_health().await.status, Healthy);
    assert_eq!(check.runs(), 2);
    let report = health.report();
    assert_eq!(report.checks["db"].age_ms, Some(0.0));
    advance(SEC).await;
    assert_eq!(health.report().checks["db"].age_ms, Some(1_000.0));
}

#[tokio::test(start_paused = true)]
async fn probes_that_come_during_a_run_share_it() {
    let check = Scripted::new(&[]).taking(SEC);
    let health = registry(check.clone(), config(Duration::from_secs(10)));
    let probes: Vec<_> = (0..10)
        .map(|_| {
            let health = health.clone();
            tokio::spawn(async move { health.check_probe(Probe::Readiness).await })
        })
        .collect();
    for probe in probes {
        probe.await.expect("probe");
    }
    assert_eq!(check.runs(), 1, "ten probes, one run");
    assert_eq!(health.report().checks["db"].duration_ms, Some(1_000.0));
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_is_a_failure() {
    let check = Scripted::new(&[]).taking(Duration::from_secs(10));
    let health = registry(
        check,
        CheckConfig {
            timeout: SEC,
            failure_threshold: 1,
            ..config(SEC)
        },
    );
    let start = Instant::now();
    let report = health.run_now("db").await.expect("a check");
    assert_eq!(start.elapsed(), SEC);
    assert_eq!(report.status, Unhealthy);
    assert_eq!(report.message.as_deref(), Some("no answer within 1s"));
}

#[tokio::test(start_paused = true)]
async fn a_check_that_panics_is_a_failure() {
    let health = HealthRegistry::builder("app")
        .check(
            "flaky",
            check_fn(|| async {
                panic!("sensor driver bug");
                #[allow(unreachable_code)]
                Healthy
            }),
            CheckConfig {
                failure_threshold: 1,
                ..config(SEC)
            },
        )
        .build()
        .expect("valid");
    let report = health.run_now("flaky").await.expect("a check");
    assert_eq!(report.status, Unhealthy);
    assert_eq!(report.message.as_deref(), Some("the check panicked"));
    assert_eq!(report.consecutive_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dependency_down_makes_the_program_unready_never_dead() {
    let health = HealthRegistry::builder("app")
        .check(
            "event-loop",
            check_fn(|| async { Healthy }),
            CheckConfig {
                probes: Probes::LIVENESS,
                ..CheckConfig::default()
            },
        )
        .check(
            "weather-api",
            check_fn(|| async { Err::<(), _>("connection refused") }),
            CheckConfig {
                failure_threshold: 1,
                ..CheckConfig::default()
            },
        )
        .check(
            "migrations",
            check_fn(|| async { Healthy }),
            CheckConfig {
                probes: Probes::STARTUP,
                ..CheckConfig::default()
            },
        )
        .build()
        .expect("valid");
    let live = health.check_probe(Probe::Liveness).await;
    assert_eq!(live.status, Healthy);
    assert_eq!(live.checks.keys().collect::<Vec<_>>(), ["event-loop"]);
    let ready = health.check_probe(Probe::Readiness).await;
    assert_eq!(ready.status, Unhealthy);
    assert_eq!(
        ready.checks["weather-api"].message.as_deref(),
        Some("connection refused")
    );
    assert_eq!(health.check_probe(Probe::Startup).await.status, Healthy);
    assert_eq!(health.check_health().await.status, Unhealthy);
}

#[tokio::test(start_paused = true)]
async fn the_aggregate_is_the_worst_status() {
    let with = |statuses: &[Status]| {
        let mut builder = HealthRegistry::builder("app");
        for (i, status) in statuses.iter().enumerate() {
            let status = *status;
            builder = builder.check(
                format!("c{i}"),
                check_fn(move || async move { status }),
                CheckConfig {
                    failure_threshold: 1,
                    ..CheckConfig::default()
                },
            );
        }
        builder.build().expect("valid")
    };
    assert_eq!(with(&[]).check_health().await.status, Healthy);
    assert_eq!(
        with(&[Healthy, Healthy]).check_health().await.status,
        Healthy
    );
    assert_eq!(
        with(&[Healthy, Degraded]).check_health().await.status,
        Degraded
    );
    assert_eq!(
        with(&[Degraded, Unhealthy, Healthy])
            .check_health()
            .await
            .status,
        Unhealthy
    );
    // Unknown (a status a check reports) counts as no answer: a failure.
    assert_eq!(with(&[Unknown]).check_health().await.status, Unhealthy);
}

#[tokio::test(start_paused = true)]
async fn the_background_checker_runs_every_interval_and_stops_gracefully() {
    let check = Scripted::new(&[]).taking(Duration::from_millis(500));
    let health = registry(check.clone(), config(Duration::from_secs(10)));
    let checker = health.start();
    sleep(Duration::from_millis(1)).await;
    assert_eq!(check.runs(), 1, "at once");
    // Each run takes 500 ms; the next starts an interval after one ends.
    sleep(Duration::from_millis(10_600)).await;
    assert_eq!(check.runs(), 2, "at 10.5 s");
    sleep(Duration::from_millis(10_500)).await;
    assert_eq!(check.runs(), 3, "at 21 s, under way");
    assert_eq!(health.status("db"), Some(Healthy));
    // Stop while a run is under way: it finishes first.
    let start = Instant::now();
    checker.stop().await;
    assert_eq!(start.elapsed(), Duration::from_millis(399));
    assert_eq!(health.report().checks["db"].age_ms, Some(0.0));
    sleep(Duration::from_secs(60)).await;
    assert_eq!(check.runs(), 3, "no run after stop");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_background_checker_stops_it() {
    let check = Scripted::new(&[]);
    let health = registry(check.clone(), config(SEC));
    let checker = health.start();
    sleep(Duration::from_millis(1)).await;
    drop(checker);
    sleep(Duration::from_secs(10)).await;
    assert_eq!(check.runs(), 1);
}

#[tokio::test(start_paused = true)]
async fn jitter_moves_each_run_within_its_bounds() {
    let check = Scripted::new(&[]);
    let health = HealthRegistry::builder("app")
        .check(
            "db",
            check.clone(),
            CheckConfig {
                interval: Duration::from_secs(10),
                jitter: 0.2,
                ..CheckConfig::default()
            },
        )
        .seed(7)
        .build()
        .expect("valid");
    let _checker = health.start();
    let mut at = Vec::new();
    let start = Instant::now();
    let mut last = 0;
    while at.len() < 20 {
        sleep(Duration::from_millis(10)).await;
        if check.runs() != last {
            last = check.runs();
            at.push(start.elapsed());
        }
    }
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    for gap in &gaps {
        assert!(
            (Duration::from_millis(7_990)..=Duration::from_millis(12_010)).contains(gap),
            "{gap:?} outside 10 s ± 20 %"
        );
    }
    assert!(
        gaps.iter().any(|gap| *gap != gaps[0]),
        "jitter moved the runs: {gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn status_changes_and_failures_reach_the_listener() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let check = Scripted::new(&[Healthy, Healthy, Unhealthy, Unhealthy]);
    let health = HealthRegistry::builder("app")
        .check("db", check, config(SEC))
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid");
    for _ in 0..4 {
        health.run_now("db").await;
    }
    let db = Name::from("db");
    assert_eq!(
        *events.lock().expect("events"),
        [
            HealthEvent::StatusChanged {
                check: db.clone(),
                from: Unknown,
                to: Healthy
            },
            HealthEvent::CheckFailed {
                check: db.clone(),
                message: "unhealthy".into(),
                consecutive_failures: 1
            },
            HealthEvent::CheckFailed {
                check: db.clone(),
                message: "unhealthy".into(),
                consecutive_failures: 2
            },
            HealthEvent::StatusChanged {
                check: db,
                from: Healthy,
                to: Unhealthy
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn bad_configs_and_duplicate_names_are_refused() {
    let error = HealthRegistry::builder("app")
        .check(
            "db",
            check_fn(|| async { Healthy }),
            CheckConfig {
                failure_threshold: 0,
                ..CheckConfig::default()
            },
        )
        .build()
        .expect_err("threshold 0");
    assert_eq!(
        error.to_string(),
        "health check \"db\": failure_threshold = 0: must be greater than zero"
    );
    let health = registry(Scripted::new(&[]), config(SEC));
    let error = health
        .register("db", check_fn(|| async { Healthy }), CheckConfig::default())
        .expect_err("twice");
    assert_eq!(
        error.to_string(),
        "health check \"db\": name = \"db\": is registered already"
    );
    health
        .register(
            "cache",
            check_fn(|| async { Healthy }),
            CheckConfig::default(),
        )
        .expect("a new name");
    assert_eq!(health.check_health().await.checks.len(), 2);
    assert!(health.run_now("nope").await.is_none());
}

#[tokio::test(start_paused = true)]
async fn stats_total_runs_failures_timeouts_and_changes_without_a_recorder() {
    let check = Scripted::new(&[Unhealthy, Unhealthy, Healthy, Healthy, Degraded]);
    let health = registry(check.clone(), config(SEC));
    for _ in 0..5 {
        health.run_now("db").await.expect("a check");
    }
    let slow = HealthRegistry::builder("slow")
        .check(
            "hangs",
            Scripted::new(&[]).taking(60 * SEC),
            CheckConfig {
                timeout: SEC,
                ..config(SEC)
            },
        )
        .build()
        .expect("valid registry");
    slow.run_now("hangs").await.expect("a check");
    let stats = health.stats();
    assert_eq!(stats.name, "app");
    assert_eq!(
        (stats.runs, stats.failed_runs, stats.timed_out),
        (5, 3, 0),
        "{stats:?}"
    );
    // Unknown → Unhealthy after two failures, → Healthy after two successes, →
    // Degraded at once (a degraded check still serves).
    assert_eq!(stats.status_changes, 3, "{stats:?}");
    let slow = slow.stats();
    assert_eq!((slow.runs, slow.failed_runs, slow.timed_out), (1, 1, 1));
}

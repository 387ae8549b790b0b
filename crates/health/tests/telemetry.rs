//! The status gauge and the run counters; the public types' bounds.

use hardy_health::{
    CheckConfig, CheckReport, CheckResult, HealthBuilder, HealthEvent, HealthRegistry,
    HealthReport, HealthTask, METRIC_RUNS, METRIC_STATUS, Probes, Status, TcpCheck, check_fn,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(start_paused = true)]
async fn the_gauge_follows_the_status_and_runs_are_counted_by_result() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let health = metrics::with_local_recorder(&recorder, || {
        HealthRegistry::builder("app")
            .check(
                "db",
                check_fn(|| async { Err::<(), _>("down") }),
                CheckConfig {
                    failure_threshold: 2,
                    ..CheckConfig::default()
                },
            )
            .build()
            .expect("valid")
    });
    health.run_now("db").await;
    health.run_now("db").await;
    let mut seen: Vec<(String, String, String)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .filter(|l| l.key() == "result")
                .map(|l| l.value().to_string())
                .collect();
            let value = match value {
                DebugValue::Counter(0) => return None,
                DebugValue::Counter(n) => n.to_string(),
                DebugValue::Gauge(g) => g.into_inner().to_string(),
                DebugValue::Histogram(_) => return None,
            };
            Some((key.key().name().to_string(), labels.join(","), value))
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                METRIC_RUNS.to_string(),
                "unhealthy".to_string(),
                "2".to_string()
            ),
            (METRIC_STATUS.to_string(), String::new(), "3".to_string()),
        ]
    );
}

fn send_sync<T: Send + Sync>() {}

#[test]
fn bounds() {
    send_sync::<HealthRegistry>();
    send_sync::<HealthBuilder>();
    send_sync::<HealthReport>();
    send_sync::<CheckReport>();
    send_sync::<CheckResult>();
    send_sync::<CheckConfig>();
    send_sync::<HealthEvent>();
    send_sync::<HealthTask>();
    send_sync::<Probes>();
    send_sync::<Status>();
    send_sync::<TcpCheck>();
}

//! Events to the listener and the limiter's metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::Name;
use hardy_rate_limit::{KeyedRateLimiter, METRIC_CALLS, METRIC_KEYS, RateLimitEvent, RateLimiter};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::time::advance;
use tokio_test::{assert_pending, task};

const SEC: Duration = Duration::from_secs(1);

/// Every metric as (name, labels other than `name`, value), sorted.
fn metrics(snapshotter: &Snapshotter) -> Vec<(String, String, String)> {
    let mut seen: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .filter(|label| label.key() != "name")
                .map(|label| label.value().to_string())
                .collect();
            let value = match value {
                DebugValue::Counter(n) => n.to_string(),
                DebugValue::Gauge(g) => g.into_inner().to_string(),
                DebugValue::Histogram(_) => "histogram".to_string(),
            };
            (key.key().name().to_string(), labels.join(","), value)
        })
        .collect();
    seen.sort();
    seen
}

fn row(metric: &str, label: &str, value: &str) -> (String, String, String) {
    (metric.to_string(), label.to_string(), value.to_string())
}

#[tokio::test(start_paused = true)]
async fn the_listener_hears_waits_and_refusals() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let limiter = RateLimiter::builder("pump")
        .per(1, SEC)
        .burst(1)
        .max_wait(SEC)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid");
    limiter.check().expect("admitted: not reported");
    let mut waiting = task::spawn(limiter.acquire());
    assert_pending!(waiting.poll());
    assert!(limiter.acquire().await.is_err());
    let name = Name::from("pump");
    assert_eq!(
        *events.lock().expect("events"),
        [
            RateLimitEvent::Waiting {
                name: name.clone(),
                wait: SEC
            },
            RateLimitEvent::Rejected {
                name,
                retry_after: 2 * SEC
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_count_calls_by_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let limiter = metrics::with_local_recorder(&recorder, || {
        RateLimiter::builder("pump")
            .per(1, SEC)
            .burst(2)
            .max_wait(SEC)
            .build()
            .expect("valid")
    });
    limiter.check().expect("1");
    limiter.acquire().await.expect("2");
    limiter.acquire().await.expect("3, after a wait");
    assert!(limiter.check().is_err());
    assert_eq!(
        metrics(&snapshotter),
        [
            row(METRIC_CALLS, "admitted", "2"),
            row(METRIC_CALLS, "rejected", "1"),
            row(METRIC_CALLS, "waited", "1"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_keys_gauge_follows_the_table() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let limiter = metrics::with_local_recorder(&recorder, || {
        KeyedRateLimiter::builder("plants")
            .per(1, SEC)
            .burst(1)
            .max_keys(3)
            .build_keyed::<u32>()
            .expect("valid")
    });
    // A snapshot drains what it reads: the gauge is the sum of what was read so far.
    let total = std::cell::Cell::new(0.0);
    let keys = || {
        let read: f64 = metrics(&snapshotter)
            .into_iter()
            .find(|(metric, _, _)| metric == METRIC_KEYS)
            .map_or(0.0, |(_, _, value)| value.parse().expect("a number"));
        total.set(total.get() + read);
        Some(total.get().to_string())
    };
    for plant in 0..3 {
        limiter.check_key(&plant).expect("new key");
    }
    assert_eq!(keys().as_deref(), Some("3"));
    advance(SEC).await;
    limiter.check_key(&9).expect("evicts the idle keys");
    assert_eq!(keys().as_deref(), Some("1"));
    assert_eq!(limiter.len(), 1);
    advance(SEC).await;
    assert_eq!(limiter.retain_recent(), 1);
    assert_eq!(keys().as_deref(), Some("0"));
}

#[tokio::test(start_paused = true)]
async fn stats_total_waits_and_refusals_without_a_recorder() {
    let limiter = RateLimiter::builder("api")
        .per(1, Duration::from_secs(1))
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    assert!(limiter.check().is_ok());
    assert!(limiter.check().is_err(), "over the rate");
    let waited = limiter.call(|| async { Ok::<_, std::io::Error>(()) }).await;
    assert!(waited.is_ok(), "its turn came within max_wait");
    let stats = limiter.stats();
    assert_eq!(stats.name, "api");
    assert_eq!(
        (stats.waited, stats.rejected, stats.store_failures),
        (1, 1, 0)
    );
    assert_eq!(
        stats.admitted, 1,
        "the first check; the wait is counted apart"
    );

    let keyed: KeyedRateLimiter<&str> = RateLimiter::builder("per-user")
        .per(1, Duration::from_secs(60))
        .build_keyed()
        .unwrap();
    assert!(keyed.check_key(&"ana").is_ok());
    assert!(keyed.check_key(&"bo").is_ok());
    assert!(keyed.check_key(&"ana").is_err());
    let stats = keyed.stats();
    assert_eq!(
        (stats.admitted, stats.waited, stats.rejected),
        (2, 0, 1),
        "{stats:?}"
    );
}

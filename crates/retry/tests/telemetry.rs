//! Events to the listener and the retry's metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::{Name, Outcome};
use hardy_retry::{
    Backoff, GiveUpReason, Jitter, METRIC_ATTEMPTS_PER_CALL, METRIC_BUDGET_REFUSALS, METRIC_CALLS,
    METRIC_GAVE_UP, METRIC_RETRIES, Retry, RetryBudget, RetryBudgetConfig, RetryEvent,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

type Io = std::io::Error;
const DELAY: Duration = Duration::from_millis(50);

#[tokio::test(start_paused = true)]
async fn the_listener_hears_every_attempt() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let retry = Retry::builder("soil-1")
        .max_attempts(3)
        .backoff(Backoff::Constant { delay: DELAY })
        .jitter(Jitter::None)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid");
    let mut n = 0;
    let _ = retry
        .call(|| {
            n += 1;
            let ok = n == 2;
            async move { if ok { Ok(()) } else { Err(Io::other("x")) } }
        })
        .await;
    let _ = retry.call(|| async { Err::<(), _>(Io::other("x")) }).await;

    let name = Name::from("soil-1");
    let retrying = |attempt| RetryEvent::Retrying {
        name: name.clone(),
        attempt,
        outcome: Outcome::RETRYABLE_FAILURE,
        delay: DELAY,
    };
    assert_eq!(
        *events.lock().expect("events"),
        [
            retrying(1),
            RetryEvent::Succeeded {
                name: name.clone(),
                attempt: 2
            },
            retrying(1),
            retrying(2),
            RetryEvent::GaveUp {
                name: name.clone(),
                attempt: 3,
                outcome: Outcome::RETRYABLE_FAILURE,
                reason: GiveUpReason::MaxAttempts,
            },
        ]
    );
    assert!(
        events
            .lock()
            .expect("events")
            .iter()
            .all(|e| e.name() == &name)
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_count_calls_attempts_retries_and_refusals() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let budget = RetryBudget::new(
        "b",
        RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries_per_second: 0.0,
            max_balance: 2,
        },
    )
    .expect("valid");
    let retry = metrics::with_local_recorder(&recorder, || {
        Retry::builder("soil-1")
            .max_attempts(3)
            .backoff(Backoff::Constant { delay: DELAY })
            .shared_budget(budget)
            .build()
            .expect("valid")
    });
    let _ = retry.call(|| async { Ok::<(), Io>(()) }).await;
    // Two retries from the two tokens, then a refusal at the second call's first retry.
    let _ = retry.call(|| async { Err::<(), _>(Io::other("x")) }).await;
    let _ = retry.call(|| async { Err::<(), _>(Io::other("x")) }).await;

    let mut seen: Vec<(String, String, String)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .filter(|label| label.key() != "name")
                .map(|label| label.value().to_string())
                .collect();
            let value = match value {
                DebugValue::Counter(0) => return None,
                DebugValue::Counter(n) => n.to_string(),
                DebugValue::Gauge(g) => g.into_inner().to_string(),
                DebugValue::Histogram(samples) => {
                    let samples: Vec<String> =
                        samples.iter().map(|s| s.into_inner().to_string()).collect();
                    samples.join(" ")
                }
            };
            Some((key.key().name().to_string(), labels.join(","), value))
        })
        .collect();
    seen.sort();
    let row = |metric: &str, label: &str, value: &str| {
        (metric.to_string(), label.to_string(), value.to_string())
    };
    assert_eq!(
        seen,
        [
            row(METRIC_ATTEMPTS_PER_CALL, "", "1 3 1"),
            row(METRIC_BUDGET_REFUSALS, "", "1"),
            row(METRIC_CALLS, "failure", "2"),
            row(METRIC_CALLS, "success", "1"),
            row(METRIC_GAVE_UP, "budget_exhausted", "1"),
            row(METRIC_GAVE_UP, "max_attempts", "1"),
            row(METRIC_RETRIES, "", "2"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn stats_total_retries_and_why_calls_were_given_up_without_a_recorder() {
    let retry = hardy_retry::Retry::builder("stats")
        .max_attempts(3)
        .backoff(hardy_retry::Backoff::Constant {
            delay: std::time::Duration::from_millis(10),
        })
        .build()
        .expect("valid");
    let mut failures_left = 1;
    let _ = retry
        .call(|| {
            let fail = failures_left > 0;
            failures_left -= 1;
            async move {
                if fail {
                    Err(std::io::Error::other("once"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
    let _ = retry
        .call(|| async { Err::<(), _>(std::io::Error::other("always")) })
        .await;
    let _ = retry.call(|| async { Ok::<_, std::io::Error>(()) }).await;
    let stats = retry.stats();
    assert_eq!(stats.name, "stats");
    assert_eq!(stats.retries, 1 + 2, "{stats:?}");
    assert_eq!(stats.succeeded_after_retry, 1);
    assert_eq!(stats.succeeded, 2);
    assert_eq!(stats.gave_up.max_attempts, 1);
    assert_eq!(stats.gave_up.total(), 1);
    assert_eq!(stats.gave_up.get(hardy_retry::GiveUpReason::MaxAttempts), 1);
}

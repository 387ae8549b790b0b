//! Events to the listener and the breaker's metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_breaker::{
    BreakerEvent, BreakerState, CircuitBreaker, METRIC_CALLS, METRIC_STATE, METRIC_TRANSITIONS,
    TransitionReason, Window,
};
use hardy_core::{Name, Outcome};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tokio::time::advance;

type Io = std::io::Error;

#[tokio::test(start_paused = true)]
async fn the_listener_hears_a_whole_cycle() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let breaker = CircuitBreaker::builder("valve")
        .consecutive_failures(1)
        .window(Window::Off)
        .half_open_calls(1)
        .open_for(Duration::from_secs(5))
        .on_event(move |event| sink.lock().unwrap().push(event.clone()))
        .build()
        .unwrap();

    let _ = breaker
        .call(|| async { Err::<(), _>(Io::other("x")) })
        .await;
    let _ = breaker.call(|| async { Ok::<(), Io>(()) }).await;
    advance(Duration::from_secs(5)).await;
    let _ = breaker.call(|| async { Ok::<(), Io>(()) }).await;

    let name = Name::from("valve");
    assert_eq!(
        *events.lock().unwrap(),
        [
            BreakerEvent::StateChanged {
                name: name.clone(),
                from: BreakerState::Closed,
                to: BreakerState::Open,
                reason: TransitionReason::ConsecutiveFailures { count: 1 },
            },
            BreakerEvent::Rejected {
                name: name.clone(),
                state: BreakerState::Open,
                retry_after: Some(Duration::from_secs(5)),
            },
            BreakerEvent::StateChanged {
                name: name.clone(),
                from: BreakerState::Open,
                to: BreakerState::HalfOpen,
                reason: TransitionReason::OpenTimeElapsed,
            },
            BreakerEvent::ProbeResult {
                name: name.clone(),
                outcome: Outcome::Success,
            },
            BreakerEvent::StateChanged {
                name,
                from: BreakerState::HalfOpen,
                to: BreakerState::Closed,
                reason: TransitionReason::ProbesSucceeded,
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn calls_states_and_transitions_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let breaker = metrics::with_local_recorder(&recorder, || {
        CircuitBreaker::builder("valve")
            .consecutive_failures(2)
            .window(Window::Off)
            .build()
            .unwrap()
    });
    let _ = breaker.call(|| async { Ok::<(), Io>(()) }).await;
    for _ in 0..2 {
        let _ = breaker
            .call(|| async { Err::<(), _>(Io::other("x")) })
            .await;
    }
    let _ = breaker.call(|| async { Ok::<(), Io>(()) }).await;

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
                DebugValue::Histogram(_) => return None,
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
            row(METRIC_CALLS, "failure", "2"),
            row(METRIC_CALLS, "rejected", "1"),
            row(METRIC_CALLS, "success", "1"),
            row(METRIC_STATE, "", "1"),
            row(METRIC_TRANSITIONS, "open", "1"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn stats_total_what_the_breaker_decided_without_a_recorder() {
    let breaker = CircuitBreaker::builder("valve")
        .consecutive_failures(2)
        .window(Window::Off)
        .half_open_calls(1)
        .open_for(Duration::from_secs(5))
        .build()
        .unwrap();
    let fail = || async { Err::<(), _>(Io::other("x")) };
    let ok = || async { Ok::<(), Io>(()) };
    let _ = breaker.call(ok).await;
    let _ = breaker.call(fail).await;
    let _ = breaker.call(fail).await;
    let _ = breaker.call(ok).await;
    let _ = breaker.call(ok).await;
    let stats = breaker.stats();
    assert_eq!(stats.name, "valve");
    assert_eq!(stats.state, BreakerState::Open);
    assert_eq!(
        (stats.failures, stats.rejected, stats.opened),
        (2, 2, 1),
        "{stats:?}"
    );
    assert_eq!((stats.half_opened, stats.closed), (0, 0));
    assert_eq!(stats.successes, 1, "the rejected calls never ran");

    advance(Duration::from_secs(5)).await;
    let _ = breaker.call(ok).await;
    let stats = breaker.stats();
    assert_eq!(stats.state, BreakerState::Closed);
    assert_eq!((stats.opened, stats.half_opened, stats.closed), (1, 1, 1));
    assert_eq!((stats.failures, stats.rejected, stats.ignored), (2, 2, 0));
    assert_eq!(stats.slow_calls, 0);
    assert_eq!(stats.successes, 2, "and the probe");
}

//! Events to the listener and the `hardy_timeout_timeouts_total` counter.

use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::Name;
use hardy_timeout::{Deadline, METRIC_TIMEOUTS, Timeout, TimeoutEvent};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tokio::time::advance;

#[tokio::test(start_paused = true)]
async fn the_listener_hears_each_timeout_and_expired_deadline() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let timeout = Timeout::builder("valve")
        .timeout(Duration::from_secs(3))
        .on_event(move |event| sink.lock().unwrap().push(event.clone()))
        .build()
        .unwrap();

    let _ = timeout.call(|| async { Ok::<_, ()>(()) }).await;
    assert!(events.lock().unwrap().is_empty(), "a success emits nothing");

    let _ = timeout.call(pending::<Result<(), ()>>).await;
    let budget = Deadline::after(Duration::from_secs(1));
    let _ = timeout.call_until(budget, pending::<Result<(), ()>>).await;
    let _ = timeout.call_until(budget, pending::<Result<(), ()>>).await;

    let name = Name::from("valve");
    assert_eq!(
        *events.lock().unwrap(),
        [
            TimeoutEvent::TimedOut {
                name: name.clone(),
                elapsed: Duration::from_secs(3),
                limit: Duration::from_secs(3),
                by_deadline: false,
            },
            TimeoutEvent::TimedOut {
                name: name.clone(),
                elapsed: Duration::from_secs(1),
                limit: Duration::from_secs(1),
                by_deadline: true,
            },
            TimeoutEvent::DeadlineExpired { name },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_counted_by_cause() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // Metric handles are registered at build, with the recorder in force then.
    let timeout = metrics::with_local_recorder(&recorder, || {
        Timeout::new("valve", Duration::from_secs(3)).unwrap()
    });

    let _ = timeout.call(pending::<Result<(), ()>>).await;
    let _ = timeout.call(pending::<Result<(), ()>>).await;
    let spent = Deadline::after(Duration::ZERO);
    advance(Duration::from_millis(1)).await;
    let _ = timeout.call_until(spent, pending::<Result<(), ()>>).await;
    let _ = timeout.call(|| async { Ok::<_, ()>(()) }).await;

    let mut counts: Vec<(String, String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == METRIC_TIMEOUTS)
        .map(|(key, _, _, value)| {
            let label = |wanted: &str| {
                key.key()
                    .labels()
                    .find(|label| label.key() == wanted)
                    .map(|label| label.value().to_string())
                    .unwrap_or_default()
            };
            let DebugValue::Counter(count) = value else {
                panic!("{METRIC_TIMEOUTS} must be a counter")
            };
            (label("name"), label("cause"), count)
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("valve".into(), "deadline".into(), 1),
            ("valve".into(), "limit".into(), 2)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn stats_total_abandoned_and_refused_calls_without_a_recorder() {
    let timeout = Timeout::new("read", Duration::from_secs(1)).unwrap();
    let in_time = timeout.call(|| async { Ok::<_, std::io::Error>(1) }).await;
    assert!(in_time.is_ok());
    let hung = timeout.call(pending::<Result<(), std::io::Error>>).await;
    assert!(hung.is_err());
    let tight = Deadline::after(Duration::from_millis(300));
    let cut = timeout
        .call_until(tight, pending::<Result<(), std::io::Error>>)
        .await;
    assert!(cut.is_err());
    advance(Duration::from_secs(1)).await;
    let late = timeout
        .call_until(tight, || async { Ok::<_, std::io::Error>(2) })
        .await;
    assert!(late.is_err());
    let stats = timeout.stats();
    assert_eq!(stats.name, "read");
    assert_eq!(
        (
            stats.timed_out,
            stats.timed_out_by_deadline,
            stats.refused_expired
        ),
        (1, 1, 1),
        "{stats:?}"
    );
}

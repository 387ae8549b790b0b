//! Events to the listener, the metrics, and the bounds of public types.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_chaos::{
    Chaos, ChaosBuilder, ChaosConfig, ChaosEvent, ChaosLayer, ChaosService, ChaosStats,
    InjectedRejection, Latency, METRIC_CALLS, METRIC_DELAY, METRIC_INJECTED, NoCorrupt, NoError,
    future::ResponseFuture,
};
use hardy_core::Name;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(start_paused = true)]
async fn the_listener_hears_every_injection_and_change() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let chaos = Chaos::builder("db")
        .seed(1)
        .rejection(1.0, InjectedRejection::Shed)
        .latency(
            1.0,
            Latency::Fixed {
                delay: Duration::from_millis(3),
            },
        )
        .on_event(move |event| sink.lock().expect("lock").push(event.clone()))
        .build()
        .expect("valid");
    let _ = chaos.call(|| async { Ok::<_, ()>(()) }).await;
    chaos
        .update(|config| {
            config.rejection_rate = 0.0;
            config.error_rate = 1.0;
            config.latency_rate = 0.0;
        })
        .expect("valid");
    let _ = chaos
        .call_with(|| (), NoCorrupt, || async { Ok::<_, ()>(()) })
        .await;
    chaos
        .update(|config| {
            config.error_rate = 0.0;
            config.corrupt_rate = 1.0;
        })
        .expect("valid");
    let _ = chaos
        .call_with(NoError, |x: u8| x + 1, || async { Ok::<_, ()>(1u8) })
        .await;
    chaos.set_enabled(false);

    let name = Name::from("db");
    assert_eq!(
        *events.lock().expect("lock"),
        [
            ChaosEvent::Delayed {
                name: name.clone(),
                delay: Duration::from_millis(3)
            },
            ChaosEvent::Rejected {
                name: name.clone(),
                rejection: InjectedRejection::Shed
            },
            ChaosEvent::Reconfigured {
                name: name.clone(),
                enabled: true
            },
            ChaosEvent::ErrorInjected { name: name.clone() },
            ChaosEvent::Reconfigured {
                name: name.clone(),
                enabled: true
            },
            ChaosEvent::Corrupted { name: name.clone() },
            ChaosEvent::Reconfigured {
                name,
                enabled: false
            },
        ]
    );
    let stats = chaos.stats();
    assert_eq!(
        (stats.calls, stats.delayed, stats.total_delay),
        (3, 1, Duration::from_millis(3))
    );
    assert_eq!((stats.errors, stats.rejections, stats.corrupted), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn injections_are_counted_by_fault() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let chaos = metrics::with_local_recorder(&recorder, || {
        Chaos::builder("db")
            .seed(1)
            .rejection(1.0, InjectedRejection::Timeout)
            .latency(
                1.0,
                Latency::Fixed {
                    delay: Duration::from_millis(2),
                },
            )
            .build()
            .expect("valid")
    });
    for _ in 0..3 {
        let _ = chaos.call(|| async { Ok::<_, ()>(()) }).await;
    }
    let mut counters = Vec::new();
    let mut delays = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let label = |wanted: &str| {
            key.key()
                .labels()
                .find(|label| label.key() == wanted)
                .map(|label| label.value().to_string())
                .unwrap_or_default()
        };
        match (key.key().name(), value) {
            (METRIC_CALLS, DebugValue::Counter(n)) => counters.push(("calls".to_string(), n)),
            (METRIC_INJECTED, DebugValue::Counter(n)) => counters.push((label("fault"), n)),
            (METRIC_DELAY, DebugValue::Histogram(values)) => {
                delays.extend(values.into_iter().map(|v| v.into_inner()));
            }
            (name, value) => panic!("unexpected metric {name}: {value:?}"),
        }
        assert_eq!(label("name"), "db");
    }
    counters.sort();
    assert_eq!(
        counters,
        [
            ("calls".to_string(), 3),
            ("corrupt".to_string(), 0),
            ("error".to_string(), 0),
            ("latency".to_string(), 3),
            ("rejection".to_string(), 3),
        ]
    );
    assert_eq!(delays, [0.002; 3]);
}

fn send_sync<T: Send + Sync>() {}

#[test]
fn bounds() {
    send_sync::<Chaos>();
    send_sync::<ChaosBuilder>();
    send_sync::<ChaosConfig>();
    send_sync::<ChaosEvent>();
    send_sync::<ChaosStats>();
    send_sync::<ChaosLayer>();
    send_sync::<ChaosService<()>>();
    send_sync::<ResponseFuture<std::future::Ready<Result<(), ()>>, (), NoCorrupt>>();
}

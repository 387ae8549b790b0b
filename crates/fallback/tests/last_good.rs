//! The last known good response: remembered, served stale within `max_staleness`,
//! marked, answering from a TTL, bounded, classified; metrics and events.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::{Error, Name, Outcome, Rejection, Retryability};
use hardy_fallback::{Cause, FallbackEvent, LastKnownGood, LastKnownGoodConfig, METRIC_CACHE};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tokio::time::advance;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

type Io = std::io::Error;
const MIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
struct Reading {
    moisture: f64,
    quality: f64,
}

fn reading(moisture: f64) -> Reading {
    Reading {
        moisture,
        quality: 1.0,
    }
}

fn store() -> LastKnownGood<u32, Reading> {
    LastKnownGood::builder("soil")
        .max_staleness(10 * MIN)
        .mark_stale(|r: Reading, age| Reading {
            quality: if age > 5 * MIN { 0.25 } else { 0.5 },
            ..r
        })
        .build()
        .expect("valid store")
}

async fn ok(store: &LastKnownGood<u32, Reading>, key: u32, value: f64) -> Reading {
    store
        .call(key, || async move { Ok::<_, Io>(reading(value)) })
        .await
        .expect("ok")
}

async fn failing(store: &LastKnownGood<u32, Reading>, key: u32) -> Result<Reading, Error<Io>> {
    store
        .call(key, || async { Err::<Reading, _>(Io::other("no ack")) })
        .await
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_answered_with_the_last_good_response_marked_stale() {
    let store = store();
    ok(&store, 1, 0.41).await;
    ok(&store, 1, 0.40).await;
    advance(2 * MIN).await;
    assert_eq!(
        failing(&store, 1).await.expect("served stale"),
        Reading {
            moisture: 0.40,
            quality: 0.5
        }
    );
    advance(4 * MIN).await;
    assert_eq!(
        failing(&store, 1).await.expect("stale").quality,
        0.25,
        "older, lower"
    );
    assert!(failing(&store, 2).await.is_err(), "nothing for key 2");
}

#[tokio::test(start_paused = true)]
async fn beyond_max_staleness_the_failure_stands() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let store = LastKnownGood::builder("soil")
        .max_staleness(10 * MIN)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build::<u32, Reading>()
        .expect("valid");
    ok(&store, 1, 0.41).await;
    advance(10 * MIN).await;
    assert!(
        failing(&store, 1).await.is_ok(),
        "exactly max_staleness old: served"
    );
    advance(Duration::from_millis(1)).await;
    let failed = failing(&store, 1).await.expect_err("too old");
    assert_eq!(failed.into_inner().expect("inner").to_string(), "no ack");
    let name = Name::from("soil");
    assert_eq!(
        *events.lock().expect("events"),
        [
            FallbackEvent::ServedStale {
                name: name.clone(),
                cause: Cause::Failure,
                age: 10 * MIN
            },
            FallbackEvent::NoneFresh {
                name,
                cause: Cause::Failure,
                age: Some(10 * MIN + Duration::from_millis(1))
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_rejection_is_answered_too() {
    let store = store();
    ok(&store, 1, 0.41).await;
    let refused = store
        .call(1, || async {
            Err::<Reading, Error<Io>>(Error::Rejected(Rejection::CircuitOpen {
                name: Name::from("soil-1"),
                retry_after: None,
            }))
        })
        .await;
    assert_eq!(refused.expect("served").moisture, 0.41);
}

#[tokio::test(start_paused = true)]
async fn a_fresh_response_answers_without_calling_within_the_ttl() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = metrics::with_local_recorder(&recorder, || {
        LastKnownGood::builder("weather")
            .ttl(MIN)
            .build::<&'static str, u32>()
            .expect("valid")
    });
    let calls = Arc::new(AtomicU32::new(0));
    let fetch = |calls: Arc<AtomicU32>| {
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Io>(21)
        }
    };
    for _ in 0..3 {
        store.call("oslo", fetch(calls.clone())).await.expect("ok");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "two answered from the store"
    );
    advance(MIN).await;
    store.call("oslo", fetch(calls.clone())).await.expect("ok");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the TTL passed");
    let _ = store
        .call("oslo", || async { Err::<u32, _>(Io::other("x")) })
        .await;
    let mut seen: Vec<(String, String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let DebugValue::Counter(n) = value else {
                return None;
            };
            (n > 0).then(|| {
                let labels: Vec<String> = key
                    .key()
                    .labels()
                    .filter(|l| l.key() != "name")
                    .map(|l| l.value().to_string())
                    .collect();
                (key.key().name().to_string(), labels.join(","), n)
            })
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (METRIC_CACHE.to_string(), "hit".to_string(), 3),
            (METRIC_CACHE.to_string(), "miss".to_string(), 2),
        ],
        "the failed call was answered from the fresh response without calling"
    );
}

#[tokio::test(start_paused = true)]
async fn keys_are_bounded_and_the_oldest_goes() {
    let store = LastKnownGood::builder("soil")
        .config(LastKnownGoodConfig {
            max_keys: 2,
            ..LastKnownGoodConfig::default()
        })
        .build::<u32, Reading>()
        .expect("valid");
    ok(&store, 1, 0.1).await;
    advance(MIN).await;
    ok(&store, 2, 0.2).await;
    advance(MIN).await;
    ok(&store, 1, 0.11).await; // key 1 is now the newest
    ok(&store, 3, 0.3).await;
    assert_eq!(store.len(), 2);
    assert!(store.get(&2).is_none(), "the oldest went");
    assert_eq!(store.get(&1).expect("kept").0.moisture, 0.11);
    assert_eq!(store.get(&3).expect("added").1, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_classifier_keeps_bad_readings_out_and_answers_them() {
    let store = store();
    let by_quality = |result: &Result<Reading, Io>| match result {
        Ok(r) if r.quality < 0.3 => Outcome::Failure(Retryability::Permanent),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::RETRYABLE_FAILURE,
    };
    ok(&store, 1, 0.41).await;
    let poor = store
        .call_with(1, by_quality, || async {
            Ok::<_, Io>(Reading {
                moisture: 0.0,
                quality: 0.1,
            })
        })
        .await
        .expect("answered");
    assert_eq!(poor.moisture, 0.41, "the poor reading was not served");
    assert_eq!(
        store.get(&1).expect("kept").0.moisture,
        0.41,
        "nor remembered"
    );
}

#[tokio::test(start_paused = true)]
async fn the_layer_reads_the_key_from_the_request() {
    let store = LastKnownGood::builder("soil")
        .build::<u8, f64>()
        .expect("valid");
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sensor_up = up.clone();
    let mut read = ServiceBuilder::new()
        .layer(store.layer(|sensor: &u8| *sensor))
        .service_fn(move |sensor: u8| {
            let up = sensor_up.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok::<_, BoxError>(f64::from(sensor) / 10.0)
                } else {
                    Err("no ack".into())
                }
            }
        });
    for sensor in [1, 2] {
        read.ready()
            .await
            .expect("ready")
            .call(sensor)
            .await
            .expect("ok");
    }
    up.store(false, Ordering::SeqCst);
    assert_eq!(
        read.ready()
            .await
            .expect("ready")
            .call(2)
            .await
            .expect("stale"),
        0.2
    );
    assert!(read.ready().await.expect("ready").call(3).await.is_err());
    assert_eq!(store.len(), 2);
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<LastKnownGood<String, Reading>>();
    send_sync::<hardy_fallback::Fallback<hardy_fallback::Value<f64>>>();
    send_sync::<FallbackEvent>();
    send_sync::<LastKnownGoodConfig>();
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_never_overwrites_a_newer_answer() {
    let store = LastKnownGood::builder("soil")
        .build::<u32, u32>()
        .expect("valid");
    let mut slow = tokio_test::task::spawn(store.call(1, || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, Io>(10)
    }));
    tokio_test::assert_pending!(slow.poll());
    advance(Duration::from_secs(1)).await;
    store
        .call(1, || async { Ok::<_, Io>(20) })
        .await
        .expect("fresh");
    advance(Duration::from_secs(5)).await;
    assert_eq!(
        slow.await.expect("slow"),
        10,
        "its caller gets its own answer"
    );
    assert_eq!(store.get(&1).expect("kept").0, 20, "the newer answer stays");
}

#[tokio::test(start_paused = true)]
async fn invalidate_and_clear_forget_responses() {
    let store = hardy_fallback::LastKnownGood::builder("forget")
        .build::<u32, &'static str>()
        .expect("valid");
    store.put(1, "one");
    store.put(2, "two");
    store.invalidate(&1);
    assert!(store.get(&1).is_none());
    assert_eq!(store.get(&2).map(|(value, _)| value), Some("two"));
    assert!(!store.is_shared());
    store.clear();
    assert!(store.is_empty());
}

#[tokio::test(start_paused = true)]
async fn stats_total_stale_answers_and_misses_without_a_recorder() {
    let store = store();
    ok(&store, 1, 0.41).await;
    ok(&store, 2, 0.30).await;
    assert!(failing(&store, 1).await.is_ok());
    assert!(failing(&store, 3).await.is_err(), "nothing for key 3");
    advance(11 * MIN).await;
    assert!(failing(&store, 2).await.is_err(), "too old");
    let stats = store.stats();
    assert_eq!(stats.name, "soil");
    assert_eq!(stats.served_stale.failure, 1);
    assert_eq!(stats.none_fresh.failure, 2);
    assert_eq!(
        (stats.served_stale.refused, stats.none_fresh.refused),
        (0, 0)
    );
    assert_eq!(stats.entries, 2);
}

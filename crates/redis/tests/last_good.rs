//! The shared level of last known good values, against a real `redis-server`: a fresh
//! instance answers a failed call with what another instance saw; staleness,
//! invalidation and clearing hold across the fleet; without Redis, memory alone.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_fallback::{FallbackEvent, LastKnownGood};
use hardy_redis::Redis;
use serde::{Deserialize, Serialize};
use support::Server;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    moisture: f64,
    quality: f64,
    sensor: String,
}

fn reading() -> Reading {
    Reading {
        moisture: 0.41,
        quality: 1.0,
        sensor: "soil-7".into(),
    }
}

fn redis(url: String) -> Redis {
    Redis::builder("fleet")
        .url(url)
        .timeout(Duration::from_millis(500))
        .build()
        .expect("valid redis config")
}

type Events = Arc<Mutex<Vec<FallbackEvent>>>;

fn store(url: String, max_staleness: Duration, events: &Events) -> LastKnownGood<String, Reading> {
    let sink = events.clone();
    LastKnownGood::builder("readings")
        .max_staleness(max_staleness)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .mark_stale(|reading: Reading, _| Reading {
            quality: reading.quality / 2.0,
            ..reading
        })
        .build_shared(Arc::new(redis(url)))
        .expect("valid config")
}

async fn good(store: &LastKnownGood<String, Reading>, key: &str) -> Reading {
    store
        .call(key.to_owned(), || async {
            Ok::<_, std::io::Error>(reading())
        })
        .await
        .expect("a good call")
}

async fn failing(store: &LastKnownGood<String, Reading>, key: &str) -> Result<Reading, String> {
    store
        .call(key.to_owned(), || async {
            Err::<Reading, _>(std::io::Error::other("sensor unplugged"))
        })
        .await
        .map_err(|error| error.to_string())
}

/// Waits until `server` answers `args` with `expected`, for at most 10 s.
async fn until(server: &Server, args: &[&str], expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.query(args).expect("query") != expected {
        assert!(Instant::now() < deadline, "{args:?} never gave {expected}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const HASH: &str = "hardy:{lkg:readings}:values";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_instance_answers_with_what_another_saw() {
    let server = Server::start();
    let seen = store(server.url(), Duration::from_secs(600), &Events::default());
    good(&seen, "basil").await;
    until(&server, &["HEXISTS", HASH, "basil"], "1").await;

    let events = Events::default();
    let fresh = store(server.url(), Duration::from_secs(600), &events);
    assert!(
        fresh.get(&"basil".to_owned()).is_none(),
        "nothing in memory yet"
    );
    let served = failing(&fresh, "basil").await.expect("served from Redis");
    assert_eq!(
        served,
        Reading {
            quality: 0.5,
            ..reading()
        },
        "the stale reading, marked"
    );
    assert!(
        fresh.get(&"basil".to_owned()).is_some(),
        "and now in memory"
    );
    let events = events.lock().expect("events").clone();
    assert!(matches!(
        events.as_slice(),
        [FallbackEvent::ServedStale { .. }]
    ));
    // Nothing saved for another key: the failure stands.
    assert!(failing(&fresh, "fern").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_too_old_is_not_served() {
    let server = Server::start();
    let seen = store(server.url(), Duration::from_millis(300), &Events::default());
    good(&seen, "basil").await;
    until(&server, &["HEXISTS", HASH, "basil"], "1").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = Events::default();
    let fresh = store(server.url(), Duration::from_millis(300), &events);
    let failed = failing(&fresh, "basil").await.unwrap_err();
    assert!(failed.contains("sensor unplugged"), "{failed}");
    let events = events.lock().expect("events").clone();
    assert!(matches!(
        events.as_slice(),
        [FallbackEvent::NoneFresh { .. }]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_and_clear_reach_the_fleet() {
    let server = Server::start();
    let seen = store(server.url(), Duration::from_secs(600), &Events::default());
    good(&seen, "basil").await;
    good(&seen, "fern").await;
    until(&server, &["HLEN", HASH], "2").await;

    seen.invalidate(&"basil".to_owned());
    assert!(seen.get(&"basil".to_owned()).is_none());
    until(&server, &["HEXISTS", HASH, "basil"], "0").await;
    let fresh = store(server.url(), Duration::from_secs(600), &Events::default());
    assert!(failing(&fresh, "basil").await.is_err());
    assert!(failing(&fresh, "fern").await.is_ok());

    seen.clear();
    assert!(seen.is_empty());
    until(&server, &["EXISTS", HASH], "0").await;
    let another = store(server.url(), Duration::from_secs(600), &Events::default());
    assert!(failing(&another, "fern").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_memory_alone_answers() {
    let store = LastKnownGood::builder("alone")
        .build_shared::<String, Reading>(Arc::new(
            Redis::builder("absent")
                .url(support::unused_url())
                .timeout(Duration::from_millis(50))
                .build()
                .expect("valid"),
        ))
        .expect("valid config");
    let limit = Duration::from_millis(300);
    let failed = tokio::time::timeout(limit, failing(&store, "basil")).await;
    assert!(failed.expect("bounded by the Redis timeout").is_err());
    tokio::time::timeout(limit, good(&store, "basil"))
        .await
        .expect("bounded by the Redis timeout");
    let served = tokio::time::timeout(limit, failing(&store, "basil"))
        .await
        .expect("answered from memory");
    assert_eq!(served.expect("from memory"), reading());
}

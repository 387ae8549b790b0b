//! When Redis itself fails: killed, absent, stalled. Shared limiters degrade per their
//! setting with no caller waiting past the Redis timeout, report it once, count each
//! call once, and return to Redis by themselves.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_breaker::{BreakerEvent, BreakerState};
use hardy_core::Rejection;
use hardy_rate_limit::{Degrade, METRIC_CALLS, RateLimitEvent, RateLimiter};
use hardy_redis::Redis;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::Server;

/// The Redis timeout of these tests.
const TIMEOUT: Duration = Duration::from_millis(50);
/// What a busy test machine may add to it before a call is said to have waited too
/// long: scheduling, not Redis.
const SLACK: Duration = Duration::from_millis(250);
/// How long Redis may take to be found again once it is back: the guard's open time
/// (1 s, doubling while Redis stays down) and a reconnection.
const RECOVERY: Duration = Duration::from_secs(30);

fn redis(url: String) -> Redis {
    Redis::builder("guarded")
        .url(url)
        .timeout(TIMEOUT)
        .build()
        .expect("valid redis config")
}

type Events = Arc<Mutex<Vec<RateLimitEvent>>>;

fn limiter(store: Redis, degrade: Degrade, events: &Events) -> RateLimiter {
    let sink = events.clone();
    RateLimiter::builder("api")
        .per(1000, Duration::from_secs(1))
        .fleet_size(2)
        .degrade(degrade)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build_shared(Arc::new(store))
        .expect("valid config")
}

/// One call, which must end within the Redis timeout (and the machine's slack).
async fn call(limiter: &RateLimiter) -> Result<(), Rejection> {
    tokio::time::timeout(TIMEOUT + SLACK, limiter.acquire())
        .await
        .expect("a caller waited past the Redis timeout")
}

fn store_events(events: &Events) -> (usize, usize) {
    let events = events.lock().expect("events");
    let failed = events
        .iter()
        .filter(|event| matches!(event, RateLimitEvent::StoreFailed { .. }))
        .count();
    let recovered = events
        .iter()
        .filter(|event| matches!(event, RateLimitEvent::StoreRecovered { .. }))
        .count();
    (failed, recovered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_degrades_then_returns_by_itself() {
    let mut server = Server::start();
    let events = Events::default();
    let limiter = limiter(redis(server.url()), Degrade::Local, &events);
    call(&limiter).await.expect("admitted by Redis");
    assert_eq!(limiter.is_degraded(), Some(false));

    server.kill();
    let mut admitted = 0;
    for _ in 0..50 {
        if call(&limiter).await.is_ok() {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(limiter.is_degraded(), Some(true));
    assert!(
        admitted > 0,
        "the local share of the rate admits calls meanwhile"
    );
    assert_eq!(store_events(&events), (1, 0), "one failure, reported once");

    // Back, empty: no state, no script loaded.
    server.restart();
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while limiter.is_degraded() != Some(false) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the limiter never went back to Redis"
        );
        let _ = call(&limiter).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store_events(&events), (1, 1));
    assert!(server.knows_rate_script(), "the new server runs the script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_redis_each_mode_decides_as_it_says() {
    let events = Events::default();
    let refuse = limiter(redis(support::unused_url()), Degrade::Refuse, &events);
    assert!(matches!(
        call(&refuse).await,
        Err(Rejection::RateLimited { .. })
    ));
    let allow = limiter(redis(support::unused_url()), Degrade::Allow, &events);
    for _ in 0..20 {
        call(&allow).await.expect("allow admits everything");
    }
    assert_eq!(refuse.is_degraded(), Some(true));
    assert_eq!(allow.is_degraded(), Some(true));
    let failed = events
        .lock()
        .expect("events")
        .iter()
        .find_map(|event| match event {
            RateLimitEvent::StoreFailed { degrade, error, .. } => Some((*degrade, error.clone())),
            _ => None,
        });
    let (degrade, error) = failed.expect("the failure was reported");
    assert_eq!(degrade, Degrade::Refuse);
    assert!(error.contains("redis"), "the reason names Redis: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_share_counts_each_call_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let events = Events::default();
    // 10 a second for a fleet of 2: 5 a second here, 2 at once, while Redis is away.
    let limiter = metrics::with_local_recorder(&recorder, || {
        let sink = events.clone();
        RateLimiter::builder("counted")
            .per(10, Duration::from_secs(1))
            .burst(4)
            .fleet_size(2)
            .on_event(move |event| sink.lock().expect("events").push(event.clone()))
            .build_shared(Arc::new(redis(support::unused_url())))
            .expect("valid config")
    });
    let mut outcomes = (0_u64, 0_u64);
    for _ in 0..12 {
        match call(&limiter).await {
            Ok(()) => outcomes.0 += 1,
            Err(_) => outcomes.1 += 1,
        }
    }
    assert!(
        outcomes.0 >= 2,
        "the local share admits its burst: {outcomes:?}"
    );
    let mut counted = (0, 0);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let outcome = key.key().labels().find(|label| label.key() == "outcome");
        if key.key().name() != METRIC_CALLS {
            continue;
        }
        let DebugValue::Counter(count) = value else {
            continue;
        };
        match outcome.map(|label| label.value().to_owned()).as_deref() {
            Some("admitted") => counted.0 += count,
            Some("rejected") => counted.1 += count,
            _ => {}
        }
    }
    assert_eq!(counted, outcomes, "every call counted once, as it ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_opens_the_guard() {
    let server = Server::start();
    let guard_events = Arc::new(Mutex::new(Vec::new()));
    let sink = guard_events.clone();
    let store = Redis::builder("guarded")
        .url(server.url())
        .timeout(TIMEOUT)
        .on_guard_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid redis config");
    let events = Events::default();
    let limiter = limiter(store.clone(), Degrade::Local, &events);
    call(&limiter).await.expect("admitted by Redis");
    server.stall(3.0);
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while !store.is_guard_open() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the guard never opened on a stalled Redis"
        );
        let _ = call(&limiter).await;
    }
    assert_eq!(limiter.is_degraded(), Some(true));
    let opened = guard_events.lock().expect("events").iter().any(|event| {
        matches!(
            event,
            BreakerEvent::StateChanged {
                to: BreakerState::Open,
                ..
            }
        )
    });
    assert!(opened, "the guard says so");
    let before = store.stats();
    assert_eq!(before.name, "guarded");
    assert!(before.ok >= 1, "the first call: {before:?}");
    assert!(
        before.refused >= 1,
        "the stalled calls, cut by the guard's timeout: {before:?}"
    );
    // The guard open, calls do not even try Redis: still answered.
    for _ in 0..10 {
        let _ = call(&limiter).await;
    }
    let after = store.stats();
    assert!(
        after.refused >= before.refused + 10,
        "refused by the open guard: {after:?}"
    );
    assert_eq!(after.ok, before.ok, "none reached Redis");
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while limiter.is_degraded() != Some(false) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the limiter never went back to Redis after the stall"
        );
        let _ = call(&limiter).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Limiters shared through a store, on paused time, against a store kept in memory
//! that can fail on demand: leases, the lease in flight, the fallback modes, and what
//! is reported and counted.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::{Name, Rejection};
use hardy_rate_limit::{
    Degrade, KeyedRateLimiter, RateLimitEvent, RateLimiter, RateStore, StoreError, TakeFuture,
    TakeRequest, Taken,
};

/// A store in memory: a GCRA per key on Tokio's clock, answering after `latency`.
#[derive(Debug, Default)]
struct MemoryStore {
    state: Mutex<std::collections::HashMap<Option<String>, Duration>>,
    failing: AtomicBool,
    round_trips: AtomicU32,
    latency: Duration,
    /// The store's clock starts at its first decision.
    epoch: std::sync::OnceLock<tokio::time::Instant>,
}

impl MemoryStore {
    fn with_latency(latency: Duration) -> Arc<Self> {
        Arc::new(MemoryStore {
            latency,
            ..MemoryStore::default()
        })
    }

    fn decide(&self, request: &TakeRequest) -> Taken {
        let now = self.epoch.get_or_init(tokio::time::Instant::now).elapsed();
        let mut state = self.state.lock().expect("state");
        let tat = state.entry(request.key.clone()).or_insert(now);
        let base = (*tat).max(now);
        let allowed = now + request.interval * request.burst;
        let free = ((allowed.saturating_sub(base)).as_nanos() / request.interval.as_nanos()) as u32;
        if free >= 1 {
            let granted = free.min(request.want);
            *tat = base + request.interval * granted;
            return Taken::Now { granted };
        }
        let wait = base + request.interval - allowed;
        if wait > request.max_wait {
            return Taken::Refused(wait);
        }
        *tat = base + request.interval;
        Taken::After(wait)
    }
}

/// A shared limiter's handle on the store.
#[derive(Debug)]
struct Handle(Arc<MemoryStore>);

impl RateStore for Handle {
    fn take(&self, request: TakeRequest) -> TakeFuture {
        let store = self.0.clone();
        Box::pin(async move {
            store.round_trips.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(store.latency).await;
            if store.failing.load(Ordering::Relaxed) {
                return Err(StoreError::new("store unreachable"));
            }
            Ok(store.decide(&request))
        })
    }
}

type Events = Arc<Mutex<Vec<RateLimitEvent>>>;

fn shared(store: &Arc<MemoryStore>, lease: u32, degrade: Degrade, events: &Events) -> RateLimiter {
    let sink = events.clone();
    RateLimiter::builder("api")
        .per(10, Duration::from_secs(1))
        .burst(10)
        .lease(lease)
        .fleet_size(2)
        .degrade(degrade)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build_shared(Arc::new(Handle(store.clone())))
        .expect("valid config")
}

#[tokio::test(start_paused = true)]
async fn every_call_is_one_round_trip_without_leases() {
    let store = MemoryStore::with_latency(Duration::from_millis(1));
    let limiter = shared(&store, 1, Degrade::Local, &Events::default());
    for _ in 0..10 {
        limiter.acquire().await.expect("within the burst");
    }
    assert!(matches!(
        limiter.acquire().await,
        Err(Rejection::RateLimited { .. })
    ));
    assert_eq!(store.round_trips.load(Ordering::Relaxed), 11);
}

#[tokio::test(start_paused = true)]
async fn a_lease_serves_the_next_calls_without_a_round_trip() {
    let store = MemoryStore::with_latency(Duration::from_millis(1));
    let limiter = shared(&store, 5, Degrade::Local, &Events::default());
    for _ in 0..10 {
        limiter.acquire().await.expect("within the burst");
    }
    assert_eq!(
        store.round_trips.load(Ordering::Relaxed),
        2,
        "two leases of 5"
    );
    assert!(limiter.acquire().await.is_err());
}

#[tokio::test(start_paused = true)]
async fn calls_during_a_lease_in_flight_wait_for_its_turns() {
    let store = MemoryStore::with_latency(Duration::from_millis(10));
    let limiter = shared(&store, 4, Degrade::Local, &Events::default());
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire().await })
        })
        .collect();
    for call in calls {
        call.await
            .expect("no panic")
            .expect("admitted from the lease");
    }
    assert_eq!(
        store.round_trips.load(Ordering::Relaxed),
        1,
        "one lease for four calls"
    );
}

#[tokio::test(start_paused = true)]
async fn leased_turns_are_dropped_after_a_period() {
    let store = MemoryStore::with_latency(Duration::ZERO);
    let limiter = shared(&store, 5, Degrade::Local, &Events::default());
    limiter.acquire().await.expect("first turn of a lease");
    tokio::time::advance(Duration::from_millis(1001)).await;
    limiter.acquire().await.expect("a new lease");
    assert_eq!(store.round_trips.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_falls_back_to_the_local_share_and_back() {
    let store = MemoryStore::with_latency(Duration::from_millis(1));
    let events = Events::default();
    let limiter = shared(&store, 1, Degrade::Local, &events);
    limiter.acquire().await.expect("shared");
    store.failing.store(true, Ordering::Relaxed);
    // Half of 10 at once, for a fleet of two.
    let mut admitted = 0;
    for _ in 0..10 {
        if limiter.acquire().await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
    assert_eq!(limiter.is_degraded(), Some(true));
    store.failing.store(false, Ordering::Relaxed);
    tokio::time::advance(Duration::from_secs(2)).await;
    limiter.acquire().await.expect("shared again");
    assert_eq!(limiter.is_degraded(), Some(false));
    let events = events.lock().expect("events").clone();
    let name = Name::from("api");
    assert_eq!(
        events
            .iter()
            .filter(|event| !matches!(event, RateLimitEvent::Rejected { .. }))
            .cloned()
            .collect::<Vec<_>>(),
        vec![
            RateLimitEvent::StoreFailed {
                name: name.clone(),
                degrade: Degrade::Local,
                error: "the shared rate store failed: store unreachable".into(),
            },
            RateLimitEvent::StoreRecovered { name },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn allow_and_refuse_do_as_they_say() {
    let store = MemoryStore::with_latency(Duration::ZERO);
    store.failing.store(true, Ordering::Relaxed);
    let allow = shared(&store, 1, Degrade::Allow, &Events::default());
    let refuse = shared(&store, 1, Degrade::Refuse, &Events::default());
    for _ in 0..50 {
        allow.acquire().await.expect("allowed");
        assert!(matches!(
            refuse.acquire().await,
            Err(Rejection::RateLimited { .. })
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_lease_sends_its_waiters_to_the_fallback_at_once() {
    let store = MemoryStore::with_latency(Duration::from_millis(10));
    store.failing.store(true, Ordering::Relaxed);
    let limiter = shared(&store, 4, Degrade::Allow, &Events::default());
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire().await })
        })
        .collect();
    for call in calls {
        call.await.expect("no panic").expect("allowed");
    }
    assert_eq!(
        store.round_trips.load(Ordering::Relaxed),
        1,
        "waiters did not retry"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_the_store_asks_for_is_kept() {
    let store = MemoryStore::with_latency(Duration::ZERO);
    let limiter = RateLimiter::builder("pump")
        .per(1, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(5))
        .build_shared(Arc::new(Handle(store.clone())))
        .expect("valid");
    let start = tokio::time::Instant::now();
    limiter.acquire().await.expect("first");
    limiter.acquire().await.expect("second, after its turn");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn keys_are_named_by_their_text() {
    let store = MemoryStore::with_latency(Duration::ZERO);
    let limiter: KeyedRateLimiter<u32> = RateLimiter::builder("plants")
        .per(1, Duration::from_secs(60))
        .burst(1)
        .build_keyed_shared(Arc::new(Handle(store.clone())))
        .expect("valid");
    limiter.acquire_key(&7).await.expect("plant 7");
    limiter.acquire_key(&8).await.expect("plant 8");
    assert!(limiter.acquire_key(&7).await.is_err());
    let keys: Vec<_> = store.state.lock().expect("state").keys().cloned().collect();
    assert!(keys.contains(&Some("7".to_owned())) && keys.contains(&Some("8".to_owned())));
}

#[test]
fn lease_and_fleet_size_are_checked() {
    let error = RateLimiter::builder("api")
        .per(10, Duration::from_secs(1))
        .burst(4)
        .lease(5)
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "rate limit \"api\": lease = 5: must be at most burst (4): a lease is taken at once"
    );
    let error = RateLimiter::builder("api")
        .fleet_size(0)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "fleet_size");
}

#[tokio::test(start_paused = true)]
async fn a_lease_is_sized_for_the_calls_left_waiting() {
    let store = MemoryStore::with_latency(Duration::from_millis(10));
    let limiter = shared(&store, 4, Degrade::Local, &Events::default());
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire().await })
        })
        .collect();
    for call in calls {
        call.await.expect("no panic").expect("admitted");
    }
    // A lease of 4 for the first four; the next, sized for the four left, serves them.
    assert_eq!(store.round_trips.load(Ordering::Relaxed), 2);
}

#[test]
fn a_limit_meant_for_a_store_is_not_built_without_one() {
    let config = hardy_rate_limit::RateLimitConfig {
        backend: hardy_core::Backend::Redis,
        ..hardy_rate_limit::RateLimitConfig::default()
    };
    let error = RateLimiter::from_config("api", config.clone()).unwrap_err();
    assert_eq!(error.field(), "backend");
    assert!(error.to_string().contains("build_shared"), "{error}");
    let keyed = KeyedRateLimiter::<u32>::from_config("api", config.clone());
    assert!(keyed.is_err());
    let store = MemoryStore::with_latency(Duration::ZERO);
    let shared = RateLimiter::builder("api")
        .config(config)
        .build_shared(Arc::new(Handle(store)));
    assert!(
        shared.is_ok(),
        "built on a store, it is what the config meant"
    );
}

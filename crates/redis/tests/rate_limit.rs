//! Fleet-wide rate limits against a real `redis-server`: several instances, each on
//! its own connection, share one rate.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hardy_core::Rejection;
use hardy_rate_limit::{KeyedRateLimiter, RateLimitEvent, RateLimiter};
use hardy_redis::Redis;
use support::Server;
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

/// Long enough that a busy test machine never makes a round trip fail: these tests are
/// about the shared rate, not about a slow Redis.
const PATIENT: Duration = Duration::from_millis(500);

fn redis(server: &Server) -> Redis {
    Redis::builder("fleet")
        .url(server.url())
        .timeout(PATIENT)
        .build()
        .expect("valid redis config")
}

/// Counts the events a fleet's limiters report about their store.
#[derive(Default)]
struct StoreEvents {
    failed: AtomicU64,
}

impl StoreEvents {
    fn listener(self: &Arc<Self>) -> impl Fn(&RateLimitEvent) + Send + Sync + 'static {
        let events = self.clone();
        move |event| {
            if let RateLimitEvent::StoreFailed { .. } = event {
                events.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

const LIMIT: u32 = 100;
const BURST: u32 = 10;
const RUN: Duration = Duration::from_secs(10);
const INSTANCES: u32 = 4;
const KEYS: [&str; 3] = ["alice", "bob", "carol"];

/// Runs `INSTANCES` limiters, each on its own connection, calling as fast as every 2 ms
/// for `RUN`; returns the calls admitted per key (one key for a plain limiter).
async fn fleet(server: &Server, keyed: bool, lease: u32) -> Vec<u64> {
    let events = Arc::new(StoreEvents::default());
    let admitted: Arc<Vec<AtomicU64>> = Arc::new(KEYS.iter().map(|_| AtomicU64::new(0)).collect());
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + RUN;
    let mut tasks = Vec::new();
    for _ in 0..INSTANCES {
        let store = Arc::new(redis(server));
        let builder = RateLimiter::builder("api")
            .per(LIMIT, Duration::from_secs(1))
            .burst(BURST)
            .lease(lease)
            .fleet_size(INSTANCES)
            .on_event(events.listener());
        let admitted = admitted.clone();
        if keyed {
            let limiter: KeyedRateLimiter<String> =
                builder.build_keyed_shared(store).expect("valid config");
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(start).await;
                while Instant::now() < end {
                    for (index, key) in KEYS.iter().enumerate() {
                        if limiter.acquire_key(&(*key).to_owned()).await.is_ok() {
                            admitted[index].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }));
        } else {
            let limiter = builder.build_shared(store).expect("valid config");
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(start).await;
                while Instant::now() < end {
                    if limiter.acquire().await.is_ok() {
                        admitted[0].fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("an instance panicked");
    }
    assert_eq!(
        events.failed.load(Ordering::Relaxed),
        0,
        "Redis failed a round trip: the run measured the local fallback, not the fleet"
    );
    let keys = if keyed { KEYS.len() } else { 1 };
    admitted[..keys]
        .iter()
        .map(|count| count.load(Ordering::Relaxed))
        .collect()
}

/// `LIMIT × RUN + BURST`: what the fleet may admit over the run.
fn expected() -> f64 {
    f64::from(LIMIT) * RUN.as_secs_f64() + f64::from(BURST)
}

fn assert_within_one_percent(admitted: &[u64]) {
    eprintln!("admitted {admitted:?} of {}", expected());
    for &count in admitted {
        let error = (count as f64 - expected()).abs() / expected();
        assert!(
            error <= 0.01,
            "admitted {count}, expected {} within 1 % (all: {admitted:?})",
            expected()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_share_one_rate() {
    let server = Server::start();
    assert_within_one_percent(&fleet(&server, false, 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_share_each_key_s_rate() {
    let server = Server::start();
    assert_within_one_percent(&fleet(&server, true, 1).await);
}

/// With leases of `K` turns, the fleet may admit up to `INSTANCES × (K − 1)` more than
/// the rate: turns leased before a window and spent in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_turns_stay_within_their_bound() {
    let server = Server::start();
    let lease = 3;
    let bound = expected() + f64::from(INSTANCES * (lease - 1));
    for admitted in [
        fleet(&server, false, lease).await,
        fleet(&server, true, lease).await,
    ] {
        for &count in &admitted {
            assert!(
                count as f64 <= bound,
                "admitted {count}, above the bound {bound}"
            );
        }
        assert_within_one_percent(&admitted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_says_when_to_come_back() {
    let server = Server::start();
    let limiter = RateLimiter::builder("refusal")
        .per(1, Duration::from_secs(60))
        .burst(2)
        .build_shared(Arc::new(redis(&server)))
        .unwrap();
    limiter.acquire().await.unwrap();
    limiter.acquire().await.unwrap();
    match limiter.acquire().await {
        Err(Rejection::RateLimited { name, retry_after }) => {
            assert_eq!(name.as_str(), "refusal");
            // The next turn is one interval (a minute) after the first, less the time
            // the calls took: never more than an interval, never nothing.
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_the_rate_waits_for_its_reserved_turn() {
    let server = Server::start();
    let waits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = waits.clone();
    let limiter = RateLimiter::builder("waiting")
        .per(1, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(2))
        .on_event(move |event| {
            if let RateLimitEvent::Waiting { wait, .. } = event {
                seen.lock().expect("events").push(*wait);
            }
        })
        .build_shared(Arc::new(redis(&server)))
        .unwrap();
    limiter.acquire().await.unwrap();
    limiter.acquire().await.unwrap();
    let waits = waits.lock().expect("events").clone();
    assert_eq!(waits.len(), 1, "the second call waited: {waits:?}");
    assert!(waits[0] > Duration::ZERO && waits[0] <= Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_is_loaded_again_after_a_flush() {
    let server = Server::start();
    let limiter = RateLimiter::builder("flushed")
        .per(1000, Duration::from_secs(1))
        .build_shared(Arc::new(redis(&server)))
        .unwrap();
    limiter.acquire().await.unwrap();
    assert_eq!(server.query(&["SCRIPT", "FLUSH"]).unwrap(), "OK");
    limiter.acquire().await.unwrap();
    assert_eq!(limiter.is_degraded(), Some(false));
    assert!(server.knows_rate_script(), "the script is loaded again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_state_expires_by_itself() {
    let server = Server::start();
    let limiter = RateLimiter::builder("idle")
        .per(1, Duration::from_secs(1))
        .burst(2)
        .build_shared(Arc::new(redis(&server)))
        .unwrap();
    limiter.acquire().await.unwrap();
    let key = "hardy:{idle}:rl";
    let ttl: i64 = server.query(&["PTTL", key]).unwrap().parse().unwrap();
    assert!(
        ttl > 0 && ttl <= 1_001,
        "the state lives until it is replenished: {ttl} ms"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.query(&["EXISTS", key]).unwrap() != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle state never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_layer_limits_with_a_shared_limiter() -> Result<(), BoxError> {
    let server = Server::start();
    let limiter = RateLimiter::builder("layer")
        .per(1, Duration::from_secs(60))
        .build_shared(Arc::new(redis(&server)))?;
    let mut service = ServiceBuilder::new()
        .layer(limiter.layer())
        .service_fn(|city: &'static str| async move { Ok::<_, BoxError>(city.len()) });
    assert_eq!(service.ready().await?.call("Oslo").await?, 4);
    let refused = service.ready().await?.call("Lima").await.unwrap_err();
    assert!(matches!(
        refused.downcast_ref::<Rejection>(),
        Some(Rejection::RateLimited { .. })
    ));
    Ok(())
}

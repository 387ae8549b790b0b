//! Breakers shared by a fleet through a real `redis-server`: a trip on one instance
//! opens the others, half-open probes are counted for the whole fleet, a dead
//! instance's probe slot is lost, and without Redis each breaker works alone.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_breaker::{BreakerEvent, BreakerState, CircuitBreaker, TransitionReason};
use hardy_redis::Redis;
use support::Server;
use tokio::time::Instant;

/// How long a condition may take to come true on a busy machine.
const WITHIN: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(200);

fn redis(url: String) -> Redis {
    Redis::builder("fleet")
        .url(url)
        .timeout(Duration::from_millis(500))
        .poll_interval(POLL)
        .probe_lease(Duration::from_secs(1))
        .build()
        .expect("valid redis config")
}

type Events = Arc<Mutex<Vec<BreakerEvent>>>;

fn breaker(
    store: Redis,
    half_open_calls: u32,
    open_for: Duration,
    events: &Events,
) -> CircuitBreaker {
    let sink = events.clone();
    CircuitBreaker::builder("payments")
        .consecutive_failures(2)
        .half_open_calls(half_open_calls)
        .open_for(open_for)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build_shared(Arc::new(store))
        .expect("valid breaker config")
}

async fn fail(breaker: &CircuitBreaker) {
    let _ = breaker
        .call(|| async { Err::<(), _>(std::io::Error::other("payment service down")) })
        .await;
}

/// Waits until `condition` holds, for at most [`WITHIN`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !condition() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_on_one_instance_opens_the_others() {
    let server = Server::start();
    let events: Vec<Events> = (0..3).map(|_| Events::default()).collect();
    let fleet: Vec<CircuitBreaker> = events
        .iter()
        .map(|events| breaker(redis(server.url()), 1, Duration::from_secs(30), events))
        .collect();
    fail(&fleet[0]).await;
    fail(&fleet[0]).await;
    assert_eq!(fleet[0].state(), BreakerState::Open);
    eventually("every instance open", || {
        fleet
            .iter()
            .all(|breaker| breaker.state() == BreakerState::Open)
    })
    .await;
    for events in &events[1..] {
        let opened_by_fleet = events.lock().expect("events").iter().any(|event| {
            matches!(
                event,
                BreakerEvent::StateChanged {
                    to: BreakerState::Open,
                    reason: TransitionReason::Fleet,
                    ..
                }
            )
        });
        assert!(opened_by_fleet, "opened on the fleet's word");
    }
    // The state in Redis expires with the open time.
    let ttl: i64 = server
        .query(&["PTTL", "hardy:{brk:payments}:state"])
        .unwrap()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 30_000, "the open state expires: {ttl} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_counted_for_the_whole_fleet() {
    let server = Server::start();
    let fleet: Vec<CircuitBreaker> = (0..3)
        .map(|_| {
            breaker(
                redis(server.url()),
                1,
                Duration::from_millis(500),
                &Events::default(),
            )
        })
        .collect();
    fail(&fleet[0]).await;
    fail(&fleet[0]).await;
    eventually("every instance open", || {
        fleet
            .iter()
            .all(|breaker| breaker.state() == BreakerState::Open)
    })
    .await;
    let probing = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = fleet
        .iter()
        .cloned()
        .map(|breaker| {
            let (probing, most) = (probing.clone(), most.clone());
            tokio::spawn(async move {
                let deadline = Instant::now() + WITHIN;
                while breaker.state() != BreakerState::Closed && Instant::now() < deadline {
                    let _ = breaker
                        .call(|| async {
                            let now = probing.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            probing.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, std::io::Error>(())
                        })
                        .await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("no panic");
    }
    assert!(
        fleet
            .iter()
            .all(|breaker| breaker.state() == BreakerState::Closed),
        "the probe's success closed every instance"
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "one probe in the whole fleet at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_loses_its_probe_slot() {
    let server = Server::start();
    let survivor = breaker(
        redis(server.url()),
        1,
        Duration::from_millis(300),
        &Events::default(),
    );
    let doomed = breaker(
        redis(server.url()),
        1,
        Duration::from_millis(300),
        &Events::default(),
    );
    fail(&doomed).await;
    fail(&doomed).await;
    eventually("the survivor open", || {
        survivor.state() == BreakerState::Open
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    // The doomed instance half-opens (the call finds the open time over, and waits
    // for a probe slot, so it is refused) and takes the fleet's one probe slot...
    let refused = doomed.call(|| async { Ok::<_, std::io::Error>(()) }).await;
    assert!(refused.is_err());
    assert_eq!(doomed.state(), BreakerState::HalfOpen);
    let slots = || {
        server
            .query(&["ZCARD", "hardy:{brk:payments}:probes"])
            .unwrap()
    };
    let deadline = Instant::now() + WITHIN;
    while slots() != "1" {
        assert!(Instant::now() < deadline, "the probe slot was never taken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...and dies holding it, before any probe ends (the slot stays in Redis).
    drop(doomed);

    // The survivor half-opens, finds the slot taken, and gets it once its lease ends.
    let deadline = Instant::now() + WITHIN;
    let mut probed = false;
    while !probed {
        assert!(Instant::now() < deadline, "the survivor never got the slot");
        probed = survivor
            .call(|| async { Ok::<_, std::io::Error>(()) })
            .await
            .is_ok();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(survivor.state(), BreakerState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_shared_breaker_works_alone() {
    let store = Redis::builder("absent")
        .url(support::unused_url())
        .timeout(Duration::from_millis(50))
        .poll_interval(POLL)
        .build()
        .expect("valid redis config");
    let breaker = breaker(store, 1, Duration::from_millis(200), &Events::default());
    fail(&breaker).await;
    fail(&breaker).await;
    assert_eq!(breaker.state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let deadline = Instant::now() + WITHIN;
    while breaker.state() != BreakerState::Closed {
        assert!(
            Instant::now() < deadline,
            "the breaker never closed on its own"
        );
        let _ = breaker.call(|| async { Ok::<_, std::io::Error>(()) }).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

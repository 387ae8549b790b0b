//! Checkout, waiting, timeouts, overflow, recycling, validation, lifetimes,
//! maintenance, leaks, closing and cancellation, on paused time.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::Rejection;
use hardy_pool::{DestroyReason, Manager, Pool, PoolConfig, PoolEvent, Pooled};
use tokio::time::{Instant, advance, sleep};
use tokio_test::{assert_pending, assert_ready, task};

const SEC: Duration = Duration::from_secs(1);

/// A manager of numbered objects whose behaviour tests steer.
#[derive(Clone, Default)]
struct Counter {
    made: Arc<AtomicU64>,
    fail_creates: Arc<AtomicU32>,
    create_takes: Arc<Mutex<Duration>>,
    recycled: Arc<AtomicU32>,
    recycle_takes: Arc<Mutex<Duration>>,
    fail_recycles: Arc<AtomicU32>,
    validated: Arc<AtomicU32>,
    invalid: Arc<AtomicU32>,
    destroyed: Arc<AtomicU32>,
}

/// Takes one from a count of failures still to come; whether one was due.
fn due(failures: &AtomicU32) -> bool {
    failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Sleeps as long as `takes` says (not at all for zero).
async fn take_time(takes: &Mutex<Duration>) {
    let takes = *takes.lock().expect("takes");
    if !takes.is_zero() {
        sleep(takes).await;
    }
}

impl Manager for Counter {
    type Object = u64;
    type Error = std::io::Error;

    async fn create(&self) -> Result<u64, std::io::Error> {
        take_time(&self.create_takes).await;
        if due(&self.fail_creates) {
            return Err(std::io::Error::other("database is starting"));
        }
        Ok(self.made.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn recycle(&self, _: &mut u64) -> Result<(), std::io::Error> {
        self.recycled.fetch_add(1, Ordering::SeqCst);
        take_time(&self.recycle_takes).await;
        if due(&self.fail_recycles) {
            return Err(std::io::Error::other("session broken"));
        }
        Ok(())
    }

    async fn is_valid(&self, _: &mut u64) -> Result<bool, std::io::Error> {
        self.validated.fetch_add(1, Ordering::SeqCst);
        Ok(!due(&self.invalid))
    }

    fn destroy(&self, _: u64) {
        self.destroyed.fetch_add(1, Ordering::SeqCst);
    }
}

fn config(max_size: usize) -> PoolConfig {
    PoolConfig {
        max_size,
        acquire_timeout: 5 * SEC,
        idle_timeout: None,
        max_lifetime: None,
        maintenance_every: SEC,
        ..PoolConfig::default()
    }
}

fn pool(manager: &Counter, config: PoolConfig) -> Pool<Counter> {
    Pool::builder("db", manager.clone())
        .config(config)
        .build()
        .expect("valid pool")
}

#[tokio::test(start_paused = true)]
async fn objects_are_reused_and_counted() {
    let manager = Counter::default();
    let pool = pool(&manager, config(2));
    let a = pool.get().await.expect("a");
    let b = pool.get().await.expect("b");
    assert_eq!((*a, *b), (1, 2));
    let status = pool.status();
    assert_eq!((status.size, status.in_use, status.idle), (2, 2, 0));
    drop(a);
    let again = pool.get().await.expect("again");
    assert_eq!(*again, 1, "the object returned last is handed out first");
    assert_eq!(
        manager.recycled.load(Ordering::SeqCst),
        1,
        "recycled before reuse"
    );
    assert_eq!(pool.status().created, 2);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_order_when_objects_come_back() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let held = pool.get().await.expect("held");
    let mut first = task::spawn(pool.get());
    let mut second = task::spawn(pool.get());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_eq!(pool.status().waiting, 2);
    drop(held);
    assert!(first.is_woken());
    let object = assert_ready!(first.poll()).expect("first in line");
    assert_pending!(second.poll(), "the second still waits");
    drop(object);
    let second = assert_ready!(second.poll()).expect("then the second");
    assert_eq!(*second, 1, "the same object, passed along");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_carries_the_last_creation_error() {
    let manager = Counter::default();
    manager.fail_creates.store(u32::MAX, Ordering::SeqCst);
    let pool = pool(&manager, config(1));
    let start = Instant::now();
    let Err(rejection) = pool.get().await else {
        panic!("creation keeps failing");
    };
    assert_eq!(start.elapsed(), 5 * SEC, "gave up at acquire_timeout");
    match &rejection {
        Rejection::PoolTimeout {
            waited, last_error, ..
        } => {
            assert_eq!(*waited, 5 * SEC);
            assert_eq!(
                last_error.as_ref().expect("the cause").to_string(),
                "database is starting"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        std::error::Error::source(&rejection).map(ToString::to_string),
        Some("database is starting".to_string())
    );
    assert_eq!(pool.status().size, 0, "failed creations hold no place");
    assert_eq!(pool.status().timeouts, 1);
}

#[tokio::test(start_paused = true)]
async fn creation_that_fails_a_few_times_then_recovers_is_retried_within_the_timeout() {
    let manager = Counter::default();
    manager.fail_creates.store(3, Ordering::SeqCst);
    let pool = pool(&manager, config(1));
    let object = pool.get().await.expect("recovered");
    assert_eq!(*object, 1);
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_pool_times_out_waiting() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let _held = pool.get().await.expect("held");
    let start = Instant::now();
    let Err(Rejection::PoolTimeout { last_error, .. }) = pool.get().await else {
        panic!("the only object is held");
    };
    assert_eq!(start.elapsed(), 5 * SEC);
    assert!(last_error.is_none(), "creation never failed");
    assert_eq!(pool.status().waiting, 0, "the waiter left the queue");
}

#[tokio::test(start_paused = true)]
async fn overflow_objects_serve_bursts_and_close_on_return() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            max_overflow: 1,
            ..config(1)
        },
    );
    let a = pool.get().await.expect("a");
    let b = pool.get().await.expect("b, overflow");
    assert_eq!(pool.status().size, 2);
    let mut c = task::spawn(pool.get());
    assert_pending!(c.poll(), "max_size + max_overflow reached");
    drop(c);
    drop(b);
    assert_eq!(pool.status().size, 1, "an overflow object closes on return");
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1);
    drop(a);
    assert_eq!(pool.status().idle, 1, "a regular one goes back");
}

#[tokio::test(start_paused = true)]
async fn a_failed_recycle_closes_the_object_and_another_is_made() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    drop(pool.get().await.expect("first"));
    manager.fail_recycles.store(1, Ordering::SeqCst);
    let object = pool.get().await.expect("a new one");
    assert_eq!(*object, 2);
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1);
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(start_paused = true)]
async fn a_recycle_that_waits_hands_the_object_out_when_it_finishes() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    drop(pool.get().await.expect("first"));
    *manager.recycle_takes.lock().expect("takes") = 2 * SEC;
    let started = Instant::now();
    let object = pool.get().await.expect("the same one, recycled");
    assert_eq!((*object, started.elapsed()), (1, 2 * SEC));
    assert_eq!(manager.recycled.load(Ordering::SeqCst), 1);
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_recycle_past_its_timeout_closes_the_object_and_another_is_made() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            recycle_timeout: SEC,
            ..config(1)
        },
    );
    drop(pool.get().await.expect("first"));
    *manager.recycle_takes.lock().expect("takes") = 10 * SEC;
    let started = Instant::now();
    let object = pool.get().await.expect("a new one");
    assert_eq!((*object, started.elapsed()), (2, SEC));
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1);
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(start_paused = true)]
async fn objects_idle_past_validate_after_idle_are_validated() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            validate_after_idle: Some(SEC),
            ..config(1)
        },
    );
    drop(pool.get().await.expect("first"));
    drop(pool.get().await.expect("at once: not validated"));
    assert_eq!(manager.validated.load(Ordering::SeqCst), 0);
    advance(2 * SEC).await;
    manager.invalid.store(1, Ordering::SeqCst);
    let object = pool
        .get()
        .await
        .expect("validated, found invalid, replaced");
    assert_eq!(*object, 2);
    assert_eq!(manager.validated.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn objects_close_at_their_lifetime_but_never_while_in_use() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            max_lifetime: Some(10 * SEC),
            lifetime_jitter: 0.0,
            ..config(2)
        },
    );
    let held = pool.get().await.expect("held");
    drop(pool.get().await.expect("idle one"));
    sleep(12 * SEC).await; // maintenance runs every second
    assert_eq!(pool.status().size, 1, "the idle one expired and closed");
    assert_eq!(*held, 1, "the one in use is still there");
    drop(held);
    assert_eq!(pool.status().size, 0, "expired, it closes on return");
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn maintenance_keeps_min_idle_and_closes_idle_extras() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            min_idle: 2,
            idle_timeout: Some(10 * SEC),
            ..config(4)
        },
    );
    sleep(SEC / 2).await;
    assert_eq!(pool.status().idle, 2, "min_idle made at start");
    let held: Vec<Pooled<Counter>> = {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(pool.get().await.expect("object"));
        }
        held
    };
    drop(held);
    assert_eq!(pool.status().idle, 4);
    sleep(15 * SEC).await;
    assert_eq!(pool.status().idle, 2, "idle extras closed, min_idle kept");
}

#[tokio::test(start_paused = true)]
async fn keepalive_closes_idle_objects_that_went_bad() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            keepalive: Some(5 * SEC),
            ..config(1)
        },
    );
    drop(pool.get().await.expect("first"));
    manager.invalid.store(1, Ordering::SeqCst);
    sleep(7 * SEC).await;
    assert_eq!(pool.status().size, 0, "found invalid while idle, closed");
    assert!(manager.validated.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(start_paused = true)]
async fn objects_held_too_long_are_reported_as_leaks() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let manager = Counter::default();
    let pool = Pool::builder("db", manager.clone())
        .config(PoolConfig {
            leak_threshold: Some(10 * SEC),
            ..config(1)
        })
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid");
    let held = pool.get().await.expect("held");
    sleep(12 * SEC).await;
    let leaks: Vec<_> = events
        .lock()
        .expect("events")
        .iter()
        .filter(|e| matches!(e, PoolEvent::LeakSuspected { .. }))
        .cloned()
        .collect();
    assert_eq!(leaks.len(), 1, "reported once: {leaks:?}");
    let PoolEvent::LeakSuspected {
        object, held: for_, ..
    } = &leaks[0]
    else {
        unreachable!()
    };
    assert_eq!(*object, Pooled::id(&held));
    assert!(*for_ >= 10 * SEC);
}

#[tokio::test(start_paused = true)]
async fn a_closed_pool_refuses_and_closes_everything() {
    let manager = Counter::default();
    let pool = pool(&manager, config(2));
    let held = pool.get().await.expect("held");
    drop(pool.get().await.expect("idle"));
    pool.close();
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1, "the idle one");
    let Err(Rejection::PoolTimeout { last_error, .. }) = pool.get().await else {
        panic!("closed");
    };
    assert_eq!(last_error.expect("why").to_string(), "the pool is closed");
    drop(held);
    assert_eq!(
        manager.destroyed.load(Ordering::SeqCst),
        2,
        "closed on return"
    );
    let status = pool.status();
    assert!(status.closed);
    assert_eq!(status.size, 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_refused_when_the_pool_closes() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let _held = pool.get().await.expect("held");
    let mut waiter = task::spawn(pool.get());
    assert_pending!(waiter.poll());
    pool.close();
    assert!(assert_ready!(waiter.poll()).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_taken_object_leaves_the_pool() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let object = Pooled::take(pool.get().await.expect("object"));
    assert_eq!(object, 1);
    assert_eq!(pool.status().size, 0);
    assert_eq!(*pool.get().await.expect("another"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_holding_an_object_closes_it() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let cloned = pool.clone();
    let joined = tokio::spawn(async move {
        let _object = cloned.get().await.expect("object");
        panic!("bug while holding a connection");
    })
    .await;
    assert!(joined.expect_err("panicked").is_panic());
    assert_eq!(pool.status().size, 0);
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1);
    assert_eq!(*pool.get().await.expect("a fresh one"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_passes_on_what_it_was_given() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let held = pool.get().await.expect("held");
    let mut first = task::spawn(pool.get());
    let mut second = task::spawn(pool.get());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(held); // handed to the first waiter...
    drop(first); // ...which goes away before it looks
    assert_eq!(*assert_ready!(second.poll()).expect("passed on"), 1);
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_creation_gives_its_place_back() {
    let manager = Counter::default();
    *manager.create_takes.lock().expect("takes") = 10 * SEC;
    let pool = pool(
        &manager,
        PoolConfig {
            create_timeout: 30 * SEC,
            acquire_timeout: 60 * SEC,
            ..config(1)
        },
    );
    let mut creating = task::spawn(pool.get());
    assert_pending!(creating.poll());
    assert_eq!(pool.status().size, 1, "a place reserved for it");
    drop(creating);
    assert_eq!(pool.status().size, 0, "given back");
    *manager.create_takes.lock().expect("takes") = Duration::ZERO;
    assert!(pool.get().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn destroy_reasons_are_reported() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let manager = Counter::default();
    let pool = Pool::builder("db", manager.clone())
        .config(PoolConfig {
            max_overflow: 1,
            ..config(1)
        })
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid");
    let a = pool.get().await.expect("a");
    let b = pool.get().await.expect("b");
    drop(b);
    let _ = Pooled::take(a);
    let reasons: Vec<DestroyReason> = events
        .lock()
        .expect("events")
        .iter()
        .filter_map(|e| match e {
            PoolEvent::Destroyed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [DestroyReason::Overflow, DestroyReason::Taken]);
}

#[test]
fn bad_configs_name_the_field() {
    let manager = Counter::default();
    let error = Pool::builder("db", manager)
        .config(PoolConfig {
            lifetime_jitter: 2.0,
            ..PoolConfig::default()
        })
        .build()
        .expect_err("jitter 2");
    assert_eq!(
        error.to_string(),
        "pool \"db\": lifetime_jitter = 2.0: must be within 0..=1"
    );
    let zero = Duration::ZERO;
    let base = PoolConfig::default;
    for (bad, expected) in [
        (
            PoolConfig {
                max_size: 0,
                ..base()
            },
            "max_size = 0: must be greater than zero",
        ),
        (
            PoolConfig {
                acquire_timeout: zero,
                ..base()
            },
            "acquire_timeout = 0ns: must be greater than zero",
        ),
        (
            PoolConfig {
                create_timeout: zero,
                ..base()
            },
            "create_timeout = 0ns: must be greater than zero",
        ),
        (
            PoolConfig {
                recycle_timeout: zero,
                ..base()
            },
            "recycle_timeout = 0ns: must be greater than zero",
        ),
        (
            PoolConfig {
                idle_timeout: Some(zero),
                ..base()
            },
            "idle_timeout = 0ns: must be greater than zero",
        ),
        (
            PoolConfig {
                max_lifetime: Some(zero),
                ..base()
            },
            "max_lifetime = 0ns: must be greater than zero",
        ),
        (
            PoolConfig {
                keepalive: Some(zero),
                ..base()
            },
            "keepalive = 0ns: must be greater than zero",
        ),
        (
            PoolConfig {
                leak_threshold: Some(zero),
                ..base()
            },
            "leak_threshold = 0ns: must be greater than zero",
        ),
        (
            PoolConfig {
                maintenance_every: zero,
                ..base()
            },
            "maintenance_every = 0ns: must be greater than zero",
        ),
    ] {
        let error = bad.validate("db").expect_err("invalid");
        assert_eq!(
            error.to_string(),
            format!("pool \"db\": {expected}"),
            "{bad:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_get_cancelled_while_recycling_closes_the_object_and_frees_its_place() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            recycle_timeout: 30 * SEC,
            ..config(1)
        },
    );
    drop(pool.get().await.expect("first"));
    *manager.recycle_takes.lock().expect("takes") = 10 * SEC;
    let mut recycling = task::spawn(pool.get());
    assert_pending!(recycling.poll(), "recycling takes 10 s");
    drop(recycling);
    assert_eq!(pool.status().size, 0, "the place is free again");
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1);
    *manager.recycle_takes.lock().expect("takes") = Duration::ZERO;
    assert_eq!(*pool.get().await.expect("a new one"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_closed_pool_makes_no_more_objects_for_min_idle() {
    let manager = Counter::default();
    let pool = pool(
        &manager,
        PoolConfig {
            min_idle: 2,
            ..config(2)
        },
    );
    sleep(SEC / 2).await;
    assert_eq!(manager.made.load(Ordering::SeqCst), 2);
    pool.close();
    sleep(10 * SEC).await;
    assert_eq!(
        manager.made.load(Ordering::SeqCst),
        2,
        "maintenance stopped"
    );
    assert_eq!(pool.status().size, 0);
}

//! An object's life in the pool on paused time: recycling, validation, lifetimes,
//! maintenance, keepalive, leak reports, and the reasons objects are destroyed.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use hardy_pool::{DestroyReason, Pool, PoolConfig, PoolEvent, Pooled};
use tokio::time::{Instant, advance, sleep};

use support::*;

#[tokio::test(start_paused = true)]
async fn a_failed_recycle_closes_the_object_and_another_is_made() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    drop(pool.get().await.expect("first"));
    manager.fail_recycles.store(1, Ordering::SeqCst);
    let object = pool.get().await.expect("a new one");
    assert_eq!(*object, 2);
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1);
    assert_eq!(pool.stats().size, 1);
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
    assert_eq!(pool.stats().size, 1);
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
    assert_eq!(pool.stats().size, 1, "the idle one expired and closed");
    assert_eq!(*held, 1, "the one in use is still there");
    drop(held);
    assert_eq!(pool.stats().size, 0, "expired, it closes on return");
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
    assert_eq!(pool.stats().idle, 2, "min_idle made at start");
    let held: Vec<Pooled<Counter>> = {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(pool.get().await.expect("object"));
        }
        held
    };
    drop(held);
    assert_eq!(pool.stats().idle, 4);
    sleep(15 * SEC).await;
    assert_eq!(pool.stats().idle, 2, "idle extras closed, min_idle kept");
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
    assert_eq!(pool.stats().size, 0, "found invalid while idle, closed");
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

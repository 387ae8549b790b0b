//! Closing and cancellation on paused time: a closed pool, taken objects, panics
//! while holding one, and gets cancelled while waiting, creating or recycling.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use hardy_core::Rejection;
use hardy_pool::{PoolConfig, Pooled};
use tokio::time::sleep;
use tokio_test::{assert_pending, assert_ready, task};

use support::*;

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
    let status = pool.stats();
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
    assert_eq!(pool.stats().size, 0);
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
    assert_eq!(pool.stats().size, 0);
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
    assert_eq!(pool.stats().size, 1);
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
    assert_eq!(pool.stats().size, 1, "a place reserved for it");
    drop(creating);
    assert_eq!(pool.stats().size, 0, "given back");
    *manager.create_takes.lock().expect("takes") = Duration::ZERO;
    assert!(pool.get().await.is_ok());
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
    assert_eq!(pool.stats().size, 0, "the place is free again");
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
    assert_eq!(pool.stats().size, 0);
}

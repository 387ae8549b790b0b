//! Checkout on paused time: reuse, waiters served in order, timeouts and creation
//! errors, overflow, and config validation.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use hardy_core::Rejection;
use hardy_pool::{Pool, PoolConfig};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready, task};

use support::*;

#[tokio::test(start_paused = true)]
async fn objects_are_reused_and_counted() {
    let manager = Counter::default();
    let pool = pool(&manager, config(2));
    let a = pool.get().await.expect("a");
    let b = pool.get().await.expect("b");
    assert_eq!((*a, *b), (1, 2));
    let status = pool.stats();
    assert_eq!((status.size, status.in_use, status.idle), (2, 2, 0));
    drop(a);
    let again = pool.get().await.expect("again");
    assert_eq!(*again, 1, "the object returned last is handed out first");
    assert_eq!(
        manager.recycled.load(Ordering::SeqCst),
        1,
        "recycled before reuse"
    );
    assert_eq!(pool.stats().created, 2);
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
    assert_eq!(pool.stats().waiting, 2);
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
    let stats = pool.stats();
    assert_eq!(stats.size, 0, "failed creations hold no place");
    assert_eq!(stats.timeouts, 1);
    assert_eq!(stats.created, 0);
    let tried = u64::from(u32::MAX - manager.fail_creates.load(Ordering::SeqCst));
    assert!(tried > 1, "creation was tried again within the timeout");
    assert_eq!(
        stats.create_failures, tried,
        "every failed creation counted"
    );
}

#[tokio::test(start_paused = true)]
async fn creation_that_fails_a_few_times_then_recovers_is_retried_within_the_timeout() {
    let manager = Counter::default();
    manager.fail_creates.store(3, Ordering::SeqCst);
    let pool = pool(&manager, config(1));
    let object = pool.get().await.expect("recovered");
    assert_eq!(*object, 1);
    assert_eq!(pool.stats().size, 1);
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
    assert_eq!(pool.stats().waiting, 0, "the waiter left the queue");
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
    assert_eq!(pool.stats().size, 2);
    let mut c = task::spawn(pool.get());
    assert_pending!(c.poll(), "max_size + max_overflow reached");
    drop(c);
    drop(b);
    assert_eq!(pool.stats().size, 1, "an overflow object closes on return");
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 1);
    drop(a);
    assert_eq!(pool.stats().idle, 1, "a regular one goes back");
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
async fn waiters_time_out_each_at_its_own_deadline() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let _held = pool.get().await.expect("held");
    let start = Instant::now();
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { (pool.get().await.is_err(), Instant::now()) }
    });
    tokio::time::sleep(2 * SEC).await;
    let second = tokio::spawn({
        let pool = pool.clone();
        async move { (pool.get().await.is_err(), Instant::now()) }
    });
    tokio::time::sleep(SEC).await;
    assert_eq!(pool.stats().waiting, 2);
    // Bounded: a waiter that no reaper times out would otherwise wait for ever.
    let in_time = |task| tokio::time::timeout(60 * SEC, task);
    let (first_failed, first_at) = in_time(first)
        .await
        .expect("timed out at its deadline, not never")
        .expect("first");
    assert!(first_failed);
    assert_eq!(first_at - start, 5 * SEC, "acquire_timeout after it began");
    assert_eq!(pool.stats().waiting, 1, "the second still waits");
    let (second_failed, second_at) = in_time(second)
        .await
        .expect("timed out at its deadline, not never")
        .expect("second");
    assert!(second_failed);
    assert_eq!(second_at - start, 7 * SEC, "acquire_timeout after it began");
    assert_eq!((pool.stats().waiting, pool.stats().timeouts), (0, 2));
}

/// A current-thread runtime on paused time, for the tests that outlive one runtime.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

#[test]
fn waiters_still_time_out_after_the_runtime_that_timed_out_the_first_is_gone() {
    let manager = Counter::default();
    let first = paused_runtime();
    let (pool, held) = first.block_on(async {
        let pool = pool(&manager, config(1));
        let held = pool.get().await.expect("held");
        assert!(pool.get().await.is_err(), "timed out on the first runtime");
        (pool, held)
    });
    // The task that timed the first waiter out ends with its runtime.
    drop(first);
    let second = paused_runtime();
    second.block_on(async {
        let start = Instant::now();
        let waited = tokio::time::timeout(60 * SEC, pool.get()).await;
        let Ok(Err(Rejection::PoolTimeout { .. })) = waited else {
            panic!("the waiter must time out at acquire_timeout, not hang");
        };
        assert_eq!(start.elapsed(), 5 * SEC);
        assert_eq!(pool.stats().waiting, 0);
    });
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn the_reaper_ends_with_the_pool() {
    let manager = Counter::default();
    let pool = pool(&manager, config(1));
    let held = pool.get().await.expect("held");
    assert!(
        pool.get().await.is_err(),
        "a waiter timed out: the reaper runs"
    );
    let metrics = tokio::runtime::Handle::current().metrics();
    assert!(metrics.num_alive_tasks() >= 1, "reaper and maintenance");
    drop(held);
    drop(pool);
    // The maintenance task notices at its next pass; the reaper at once.
    tokio::time::sleep(2 * SEC).await;
    assert_eq!(metrics.num_alive_tasks(), 0, "no task outlives the pool");
}

#[test]
fn a_reaper_dropped_before_it_ran_lets_the_next_waiter_start_another() {
    let manager = Counter::default();
    let first = paused_runtime();
    let (pool, held) = first.block_on(async {
        let pool = pool(&manager, config(1));
        let held = pool.get().await.expect("held");
        // Queued once, which spawns the reaper, then given up before the runtime ever
        // ran the reaper's task.
        let mut get = task::spawn(pool.get());
        assert_pending!(get.poll());
        drop(get);
        (pool, held)
    });
    drop(first);
    let second = paused_runtime();
    second.block_on(async {
        let start = Instant::now();
        let waited = tokio::time::timeout(60 * SEC, pool.get()).await;
        let Ok(Err(Rejection::PoolTimeout { .. })) = waited else {
            panic!("the waiter must time out at acquire_timeout, not hang");
        };
        assert_eq!(start.elapsed(), 5 * SEC);
    });
    drop(held);
}

#[test]
fn a_wait_outside_a_runtime_panics_and_leaves_the_pool_as_it_was() {
    let manager = Counter::default();
    let runtime = paused_runtime();
    let (pool, held) = runtime.block_on(async {
        let pool = pool(&manager, config(1));
        let held = pool.get().await.expect("held");
        (pool, held)
    });
    // Outside the runtime: waiting needs Tokio's time for its deadline.
    let mut get = task::spawn(pool.get());
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| get.poll()));
    assert!(polled.is_err(), "no runtime: a panic, as a timer would");
    drop(get);
    assert_eq!(pool.stats().waiting, 0, "the waiter left the queue");
    runtime.block_on(async {
        let start = Instant::now();
        let waited = tokio::time::timeout(60 * SEC, pool.get()).await;
        assert!(
            matches!(waited, Ok(Err(Rejection::PoolTimeout { .. }))),
            "a later wait still times out, and does not hang"
        );
        assert_eq!(start.elapsed(), 5 * SEC);
        drop(held);
        let again = pool.get().await.expect("the object, returned");
        assert_eq!(*again, 1);
        assert_eq!((pool.stats().size, pool.stats().created), (1, 1));
    });
}

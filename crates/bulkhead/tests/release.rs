//! Slots come back on every exit path: completion, error, cancellation while running or
//! waiting, panic in the inner call; and limits change at run time.

use std::time::Duration;

use hardy_bulkhead::Bulkhead;
use tokio_test::{assert_pending, task};

type Io = std::io::Error;

fn bulkhead(max_concurrent: u32) -> Bulkhead {
    Bulkhead::builder("b")
        .max_concurrent(max_concurrent)
        .max_waiting(8)
        .max_wait(Duration::from_secs(60))
        .build()
        .expect("valid bulkhead")
}

#[tokio::test(start_paused = true)]
async fn an_error_frees_the_slot() {
    let bulkhead = bulkhead(1);
    let failed = bulkhead
        .call(|| async { Err::<(), _>(Io::other("bus error")) })
        .await;
    assert!(failed.is_err());
    assert_eq!(bulkhead.stats().in_flight, 0);
    assert!(bulkhead.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn dropping_a_running_call_frees_the_slot() {
    let bulkhead = bulkhead(1);
    let mut running = task::spawn(bulkhead.call(std::future::pending::<Result<(), Io>>));
    assert_pending!(running.poll());
    assert_eq!(bulkhead.stats().in_flight, 1);
    drop(running);
    assert_eq!(bulkhead.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiting_call_leaves_the_queue_and_loses_no_slot() {
    let bulkhead = bulkhead(1);
    let held = bulkhead.try_acquire().expect("free");
    let mut first = task::spawn(bulkhead.call(|| async { Ok::<_, Io>(1) }));
    let mut second = task::spawn(bulkhead.call(|| async { Ok::<_, Io>(2) }));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_eq!(bulkhead.stats().waiting, 2);
    drop(first);
    assert_eq!(bulkhead.stats().waiting, 1);
    drop(held);
    assert_eq!(second.await.expect("admitted"), 2);
    let stats = bulkhead.stats();
    assert_eq!((stats.in_flight, stats.waiting), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_being_granted_passes_the_slot_on() {
    let bulkhead = bulkhead(1);
    let held = bulkhead.try_acquire().expect("free");
    let mut first = task::spawn(bulkhead.acquire());
    let mut second = task::spawn(bulkhead.acquire());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(held); // granted to `first`, which is never polled again
    drop(first);
    assert!(second.is_woken());
    let permit = second.await.expect("the slot passed on");
    assert_eq!(bulkhead.stats().in_flight, 1);
    drop(permit);
    assert_eq!(bulkhead.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_call_frees_the_slot() {
    let bulkhead = bulkhead(1);
    let panicking = bulkhead.clone();
    let joined = tokio::spawn(async move {
        panicking
            .call(|| async {
                panic!("driver bug");
                #[allow(unreachable_code)]
                Ok::<(), Io>(())
            })
            .await
    })
    .await;
    assert!(joined.expect_err("panicked").is_panic());
    assert_eq!(bulkhead.stats().in_flight, 0);
    assert!(bulkhead.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_raised_limit_admits_waiters_and_a_lowered_one_drains() {
    let bulkhead = bulkhead(1);
    let held = bulkhead.try_acquire().expect("free");
    let mut waiter = task::spawn(bulkhead.acquire());
    assert_pending!(waiter.poll());
    bulkhead.set_max_concurrent(2).expect("valid");
    assert!(waiter.is_woken());
    let second = waiter.await.expect("admitted by the raise");
    bulkhead.set_max_concurrent(1).expect("valid");
    let stats = bulkhead.stats();
    assert_eq!(
        (stats.in_flight, stats.max_concurrent),
        (2, 1),
        "nothing revoked"
    );
    drop(held);
    assert!(
        bulkhead.try_acquire().is_err(),
        "still one over the new limit"
    );
    drop(second);
    assert!(bulkhead.try_acquire().is_ok());
    assert!(bulkhead.set_max_concurrent(0).is_err());
    assert!(
        bulkhead
            .set_max_waiting(hardy_bulkhead::MAX_WAITING + 1)
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_calls_run_off_the_workers_within_the_limit() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let bulkhead = Bulkhead::builder("i2c")
        .max_concurrent(2)
        .max_waiting(100)
        .max_wait(Duration::from_secs(600))
        .build()
        .expect("valid");
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let (bulkhead, running, peak) = (bulkhead.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                bulkhead
                    .run_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        // A blocking bus transaction (a real thread, not the async clock).
                        std::thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Io>(now)
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("ran");
    }
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert_eq!(bulkhead.stats().in_flight, 0);
    assert_eq!(bulkhead.stats().admitted, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_blocking_call_resumes_in_the_caller_and_frees_its_slot() {
    let bulkhead = Bulkhead::builder("i2c")
        .max_concurrent(1)
        .build()
        .expect("valid");
    let caller = bulkhead.clone();
    let joined = tokio::spawn(async move {
        caller
            .run_blocking(|| -> Result<(), Io> { panic!("ADC driver bug") })
            .await
    })
    .await;
    assert!(joined.expect_err("panicked").is_panic());
    assert_eq!(bulkhead.stats().in_flight, 0);
}

#[test]
fn bad_run_time_limits_name_the_field_and_value_and_change_nothing() {
    let bulkhead = bulkhead(3);
    let zero = bulkhead.set_max_concurrent(0).expect_err("zero");
    assert_eq!(
        zero.to_string(),
        "bulkhead \"b\": max_concurrent = 0: must be greater than zero"
    );
    let huge = hardy_bulkhead::MAX_CONCURRENT + 1;
    let over = bulkhead.set_max_concurrent(huge).expect_err("over");
    assert!(
        over.to_string()
            .starts_with(&format!("bulkhead \"b\": max_concurrent = {huge}: ")),
        "{over}"
    );
    let waiting = hardy_bulkhead::MAX_WAITING + 1;
    let queue = bulkhead.set_max_waiting(waiting).expect_err("over");
    assert!(
        queue
            .to_string()
            .starts_with(&format!("bulkhead \"b\": max_waiting = {waiting}: ")),
        "{queue}"
    );
    let stats = bulkhead.stats();
    assert_eq!((stats.max_concurrent, stats.max_waiting), (3, 8));
    let held: Vec<_> = (0..3)
        .map(|_| bulkhead.try_acquire().expect("the old limit still admits"))
        .collect();
    assert!(bulkhead.try_acquire().is_err(), "and still stops at 3");
    drop(held);
}

//! The queue: waiters served as slots free, CoDel's shedding of waiters, a full queue,
//! and cancelled, dropped and panicking calls freeing their slots and places.

mod support;

use std::time::Duration;

use hardy_core::{Error, Rejection, ShedReason};
use hardy_load_shed::{CallInfo, LoadShedder};
use tokio::time::{Instant, sleep};

use support::*;

fn reason_of<T: std::fmt::Debug, E: std::fmt::Debug>(result: Result<T, Error<E>>) -> ShedReason {
    match result {
        Err(Error::Rejected(Rejection::Shed { reason, .. })) => reason,
        other => panic!("expected a shed call, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_runs_when_a_slot_frees() {
    let shedder = fixed(1).queue(4, 5 * MS, 100 * MS).build().unwrap();
    let held = shedder.try_acquire(CallInfo::new()).unwrap();
    let waiter = tokio::spawn({
        let shedder = shedder.clone();
        async move {
            shedder
                .call(|| async { Ok::<_, std::io::Error>(Instant::now()) })
                .await
        }
    });
    sleep(20 * MS).await;
    assert_eq!(shedder.stats().waiting, 1);
    let freed = Instant::now();
    drop(held);
    let ran_at = waiter.await.unwrap().unwrap();
    assert_eq!(ran_at, freed);
    assert_eq!((shedder.stats().in_flight, shedder.stats().waiting), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_shed_after_the_interval_and_a_standing_queue_after_the_target() {
    let shedder = fixed(1).queue(8, 5 * MS, 100 * MS).build().unwrap();
    let _held = shedder.try_acquire(CallInfo::new()).unwrap();
    let start = Instant::now();
    let wait = |shedder: &LoadShedder| {
        let shedder = shedder.clone();
        tokio::spawn(async move { (reason_of(shedder.call(ok).await), Instant::now() - start) })
    };
    let first = wait(&shedder);
    sleep(50 * MS).await;
    let second = wait(&shedder);
    sleep(51 * MS).await;
    // The queue has not been empty for over the interval: a new waiter gets the target.
    let third = wait(&shedder);
    assert_eq!(first.await.unwrap(), (ShedReason::QueueDelay, 100 * MS));
    assert_eq!(third.await.unwrap(), (ShedReason::QueueDelay, 106 * MS));
    assert_eq!(second.await.unwrap(), (ShedReason::QueueDelay, 150 * MS));
    let stats = shedder.stats();
    assert_eq!((stats.shed.queue_delay, stats.waiting), (3, 0));
    // Empty again: the next waiter gets the whole interval.
    let fourth = wait(&shedder);
    assert_eq!(fourth.await.unwrap(), (ShedReason::QueueDelay, 250 * MS));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_sheds_at_once() {
    let shedder = fixed(1).queue(1, 5 * MS, 100 * MS).build().unwrap();
    let _held = shedder.try_acquire(CallInfo::new()).unwrap();
    let mut waiting = Box::pin(shedder.acquire(CallInfo::new()));
    assert!(futures_poll(&mut waiting).is_none());
    let shed = shedder.acquire(CallInfo::new()).await.unwrap_err();
    assert!(matches!(
        shed,
        Rejection::Shed {
            reason: ShedReason::Overload,
            ..
        }
    ));
    // try_acquire never waits.
    assert!(shedder.try_acquire(CallInfo::new()).is_err());
    drop(waiting);
    assert_eq!(shedder.stats().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn cancelled_and_panicking_calls_free_their_slots() {
    let shedder = fixed(2)
        .queue(4, 5 * MS, 100 * MS)
        .fairness(0.5)
        .build()
        .unwrap();
    let info = CallInfo::new().client(&"a");
    // Cancelled while running.
    let running = tokio::spawn({
        let shedder = shedder.clone();
        async move {
            shedder
                .call_as(info, || async {
                    sleep(Duration::from_secs(10)).await;
                    Ok::<_, std::io::Error>(())
                })
                .await
        }
    });
    sleep(MS).await;
    let held = shedder.try_acquire(info).unwrap();
    assert_eq!(shedder.stats().in_flight, 2);
    // Cancelled while waiting.
    let waiting = tokio::spawn({
        let shedder = shedder.clone();
        async move { shedder.call_as(CallInfo::new().client(&"b"), ok).await }
    });
    sleep(MS).await;
    assert_eq!(shedder.stats().waiting, 1);
    waiting.abort();
    running.abort();
    let _ = running.await;
    let _ = waiting.await;
    assert_eq!((shedder.stats().in_flight, shedder.stats().waiting), (1, 0));
    drop(held);
    // Panicking inside the operation.
    let panicking = tokio::spawn({
        let shedder = shedder.clone();
        async move {
            shedder
                .call_as(info, || async {
                    panic!("operation panicked");
                    #[allow(unreachable_code)]
                    Ok::<_, std::io::Error>(())
                })
                .await
        }
    });
    assert!(panicking.await.unwrap_err().is_panic());
    let stats = shedder.stats();
    assert_eq!((stats.in_flight, stats.waiting, stats.clients), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_granted_as_it_is_dropped_passes_the_slot_on() {
    let shedder = fixed(1).queue(4, 5 * MS, 100 * MS).build().unwrap();
    let held = shedder.try_acquire(CallInfo::new()).unwrap();
    let mut first = Box::pin(shedder.acquire(CallInfo::new()));
    let mut second = Box::pin(shedder.acquire(CallInfo::new()));
    assert!(futures_poll(&mut first).is_none());
    assert!(futures_poll(&mut second).is_none());
    drop(held); // granted to `first`, which is dropped before it sees it
    drop(first);
    let permit = futures_poll(&mut second)
        .expect("the slot was passed on")
        .unwrap();
    assert_eq!((shedder.stats().in_flight, shedder.stats().waiting), (1, 0));
    drop(permit);
    assert_eq!(shedder.stats().in_flight, 0);
}

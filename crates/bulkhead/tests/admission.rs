//! Admission on paused time: the limit, FIFO waiting, the queue bound, wait expiry, and
//! refusals that say why.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardy_bulkhead::{Bulkhead, BulkheadEvent};
use hardy_core::{Error, Rejection};
use tokio::sync::{Mutex, oneshot};
use tokio_test::{assert_pending, assert_ready, task};

type Io = std::io::Error;

fn bulkhead(max_concurrent: u32, max_waiting: u32, max_wait: Duration) -> Bulkhead {
    Bulkhead::builder("b")
        .max_concurrent(max_concurrent)
        .max_waiting(max_waiting)
        .max_wait(max_wait)
        .build()
        .expect("valid bulkhead")
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_refuses_at_once_by_default_and_says_how_full() {
    let bulkhead = bulkhead(2, 0, Duration::ZERO);
    let held = [
        bulkhead.try_acquire().expect("free"),
        bulkhead.try_acquire().expect("free"),
    ];
    let refused = bulkhead.call(|| async { Ok::<_, Io>(()) }).await;
    match refused {
        Err(Error::Rejected(Rejection::BulkheadFull {
            name,
            in_flight,
            max_concurrent,
            waiting,
            max_waiting,
        })) => {
            assert_eq!(name, "b");
            assert_eq!(
                (in_flight, max_concurrent, waiting, max_waiting),
                (2, 2, 0, 0)
            );
        }
        other => panic!("expected BulkheadFull, got {other:?}"),
    }
    drop(held);
    let stats = bulkhead.stats();
    assert_eq!((stats.in_flight, stats.admitted, stats.rejected), (0, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn waiters_are_admitted_first_come_first_served() {
    let bulkhead = bulkhead(1, 10, Duration::from_secs(60));
    let order = Arc::new(Mutex::new(Vec::new()));
    let held = bulkhead.try_acquire().expect("free");
    let mut calls = Vec::new();
    for n in 0..5 {
        let (bulkhead, order) = (bulkhead.clone(), order.clone());
        calls.push(tokio::spawn(async move {
            bulkhead
                .call(|| async move {
                    order.lock().await.push(n);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Ok::<_, Io>(())
                })
                .await
        }));
        // Let each call queue before the next one starts.
        tokio::task::yield_now().await;
    }
    assert_eq!(bulkhead.stats().waiting, 5);
    drop(held);
    for call in calls {
        call.await.expect("task").expect("admitted");
    }
    assert_eq!(*order.lock().await, [0, 1, 2, 3, 4]);
    let stats = bulkhead.stats();
    assert_eq!((stats.admitted, stats.waited), (6, 5), "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_and_an_expired_wait_refuses() {
    let bulkhead = bulkhead(1, 1, Duration::from_secs(5));
    let _held = bulkhead.try_acquire().expect("free");
    let mut waiter = task::spawn(bulkhead.acquire());
    assert_pending!(waiter.poll());
    let third = bulkhead.acquire().await;
    assert!(matches!(
        third,
        Err(Rejection::BulkheadFull { waiting: 1, .. })
    ));
    tokio::time::advance(Duration::from_secs(5)).await;
    let expired = assert_ready!(waiter.poll());
    assert!(matches!(expired, Err(Rejection::BulkheadFull { .. })));
    assert_eq!(bulkhead.stats().waiting, 0);
    assert_eq!(bulkhead.stats().rejected, 2);
    assert_eq!(bulkhead.stats().waited, 0, "no wait ended in a slot");
}

#[tokio::test(start_paused = true)]
async fn a_slot_freed_before_the_wait_expires_admits_the_waiter() {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let bulkhead = Bulkhead::builder("b")
        .max_concurrent(1)
        .max_waiting(1)
        .max_wait(Duration::from_secs(5))
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid");
    let held = bulkhead.try_acquire().expect("free");
    let mut waiter = task::spawn(bulkhead.acquire());
    assert_pending!(waiter.poll());
    tokio::time::advance(Duration::from_secs(2)).await;
    drop(held);
    assert!(waiter.is_woken());
    let permit = assert_ready!(waiter.poll()).expect("admitted");
    assert!(!permit.is_borrowed());
    assert_eq!(bulkhead.stats().in_flight, 1);
    assert!(matches!(
        events.lock().expect("events").as_slice(),
        [BulkheadEvent::AdmittedAfterWait { waited, .. }] if *waited == Duration::from_secs(2)
    ));
}

#[tokio::test(start_paused = true)]
async fn never_more_than_the_limit_run_at_once() {
    let bulkhead = bulkhead(3, 100, Duration::from_secs(600));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..50)
        .map(|n| {
            let (bulkhead, running, peak) = (bulkhead.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                bulkhead
                    .call(|| async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(10 + n % 7)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Io>(())
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("admitted");
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    let stats = bulkhead.stats();
    assert_eq!((stats.in_flight, stats.waiting, stats.admitted), (0, 0, 50));
}

#[tokio::test(start_paused = true)]
async fn the_tower_layer_waits_then_calls_the_inner_service() {
    use tower::{Service, ServiceExt};
    let bulkhead = bulkhead(1, 4, Duration::from_secs(10));
    let (release, released) = oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut service = tower::ServiceBuilder::new()
        .layer(bulkhead.layer())
        .service_fn(move |n: u32| {
            counted.fetch_add(1, Ordering::SeqCst);
            let released = released.clone();
            async move {
                if n == 0 {
                    let gate = released.lock().await.take().expect("first call");
                    let _ = gate.await;
                }
                Ok::<_, tower::BoxError>(n)
            }
        });
    let first = service.ready().await.expect("ready").call(0);
    let mut first = task::spawn(first);
    assert_pending!(first.poll());
    let second = service.ready().await.expect("ready").call(1);
    let mut second = task::spawn(second);
    assert_pending!(second.poll());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the second call waits outside the service"
    );
    release.send(()).expect("gate");
    assert_eq!(assert_ready!(first.poll()).expect("first"), 0);
    assert!(second.is_woken());
    assert_eq!(assert_ready!(second.poll()).expect("second"), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn pipeline_hooks_take_queue_for_and_free_slots() {
    use hardy_bulkhead::hooks;
    use hardy_core::admission::{Admission, Wait};

    let bulkhead = bulkhead(1, 1, Duration::from_secs(1));
    let Admission::Now(first) = hooks::admit(&bulkhead) else {
        panic!("a free slot is taken now");
    };
    assert!(!first.is_borrowed());
    let Admission::Later(mut queued) = hooks::admit(&bulkhead) else {
        panic!("the second call queues");
    };
    assert!(
        matches!(
            hooks::admit(&bulkhead),
            Admission::Refused(Rejection::BulkheadFull { .. })
        ),
        "the queue holds one"
    );
    assert_eq!(
        (bulkhead.stats().in_flight, bulkhead.stats().waiting),
        (1, 1)
    );

    let mut waiting = task::spawn(std::future::poll_fn(|cx| queued.poll_admit(cx)));
    assert_pending!(waiting.poll());
    first.release(&bulkhead);
    assert!(waiting.is_woken(), "the freed slot goes to the waiter");
    let second = assert_ready!(waiting.poll()).expect("granted");
    drop(waiting);
    assert_eq!(
        (bulkhead.stats().in_flight, bulkhead.stats().waiting),
        (1, 0)
    );
    second.release(&bulkhead);
    assert_eq!(bulkhead.stats().in_flight, 0);

    // A place given up leaves the queue; one that waits too long is refused.
    let Admission::Now(held) = hooks::admit(&bulkhead) else {
        panic!("free again");
    };
    let Admission::Later(abandoned) = hooks::admit(&bulkhead) else {
        panic!("queues behind the held slot");
    };
    assert_eq!(bulkhead.stats().waiting, 1);
    drop(abandoned);
    assert_eq!(bulkhead.stats().waiting, 0);
    let Admission::Later(mut expiring) = hooks::admit(&bulkhead) else {
        panic!("the abandoned place is free");
    };
    let mut expiry = task::spawn(std::future::poll_fn(|cx| expiring.poll_admit(cx)));
    assert_pending!(expiry.poll());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(matches!(
        assert_ready!(expiry.poll()),
        Err(Rejection::BulkheadFull { .. })
    ));
    drop(expiry);
    held.release(&bulkhead);
    assert_eq!(
        (bulkhead.stats().in_flight, bulkhead.stats().waiting),
        (0, 0)
    );
}

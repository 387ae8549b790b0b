//! The tower layer: priority and client read from each request, the inner service's
//! readiness kept, and a response freeing its slot once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_core::{Rejection, ShedReason};
use hardy_load_shed::{CallInfo, Priority};
use tokio::time::sleep;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

use support::*;

#[derive(Debug)]
struct Request {
    user: &'static str,
    priority: u8,
}

#[tokio::test(start_paused = true)]
async fn the_layer_reads_priority_and_client_from_each_request() {
    let shedder = fixed(4)
        .priorities(2)
        .reserve(0.5)
        .fairness(0.0)
        .build()
        .unwrap();
    let running = Arc::new(AtomicU32::new(0));
    let service = ServiceBuilder::new()
        .layer(
            shedder
                .layer()
                .priority(|r: &Request| Priority(r.priority))
                .client(|r: &Request| r.user),
        )
        .service_fn({
            let running = Arc::clone(&running);
            move |r: Request| {
                let running = Arc::clone(&running);
                async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    sleep(Duration::from_secs(1)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, BoxError>(r.user)
                }
            }
        });
    let send = |user, priority| {
        let mut service = service.clone();
        tokio::spawn(async move {
            service
                .ready()
                .await?
                .call(Request { user, priority })
                .await
        })
    };
    // Priority 1 may hold 2 of 4; one user at most its share.
    let a = send("ana", 1);
    let b = send("bo", 1);
    tokio::task::yield_now().await;
    let c = send("cy", 1);
    let d = send("ana", 0);
    let e = send("ana", 0);
    let f = send("dee", 0);
    let results: Vec<Result<&str, BoxError>> = futures_join([a, b, c, d, e, f]).await;
    let reasons: Vec<Option<ShedReason>> = results
        .iter()
        .map(|result| match result {
            Ok(_) => None,
            Err(error) => match hardy_core::find_rejection(error.as_ref()) {
                Some(Rejection::Shed { reason, .. }) => Some(*reason),
                other => panic!("unexpected error {other:?}"),
            },
        })
        .collect();
    assert_eq!(
        reasons,
        [
            None,
            None,
            Some(ShedReason::Priority),
            None,
            Some(ShedReason::Fairness),
            None
        ]
    );
    assert_eq!(shedder.stats().in_flight, 0);
}

async fn futures_join<T: Send + 'static>(
    handles: impl IntoIterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("the request task finishes"));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_layer_keeps_poll_ready_of_the_inner_service() {
    let shedder = fixed(1).build().unwrap();
    let (mut service, mut handle) = tower_test::mock::spawn_layer::<u32, u32, _>(shedder.layer());
    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "the inner service is not ready"
    );
    handle.allow(2);
    assert!(service.poll_ready().is_ready());
    let first = service.call(1);
    let (request, respond) = handle.next_request().await.unwrap();
    assert_eq!(request, 1);
    assert!(service.poll_ready().is_ready());
    let shed = service.call(2).await.unwrap_err();
    assert!(matches!(
        hardy_core::find_rejection(shed.as_ref()),
        Some(Rejection::Shed {
            reason: ShedReason::Overload,
            ..
        })
    ));
    respond.send_response(10);
    assert_eq!(first.await.unwrap(), 10);
    assert_eq!(shedder.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_response_frees_its_slot_once_as_it_answers_and_panics_if_polled_again() {
    let shedder = fixed(2).build().unwrap();
    let mut service = ServiceBuilder::new()
        .layer(shedder.layer())
        .service(tower::service_fn(
            |n: u32| async move { Ok::<_, BoxError>(n) },
        ));
    let held = shedder.try_acquire(CallInfo::new()).unwrap();
    let mut future = Box::pin(service.ready().await.unwrap().call(7));
    assert_eq!(shedder.stats().in_flight, 2);
    assert!(format!("{future:?}").contains("running"));
    let answer = futures_poll(&mut future).expect("the call answers at once");
    assert_eq!(answer.unwrap(), 7);
    // Freed as it answered, before the future is dropped.
    assert_eq!(shedder.stats().in_flight, 1);
    assert!(format!("{future:?}").contains("done"));
    let again =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| futures_poll(&mut future)));
    assert!(again.is_err(), "a second poll panics");
    drop(future);
    assert_eq!(shedder.stats().in_flight, 1, "the slot is freed once");
    drop(held);
    assert_eq!(shedder.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn set_to_shed_when_the_inner_service_is_not_ready_it_sheds_instead_of_waiting() {
    let shedder = fixed(4).priorities(2).build().unwrap();
    let (mut service, mut handle) = tower_test::mock::spawn_layer::<u32, u32, _>(
        shedder
            .layer()
            .priority(|n: &u32| Priority(u8::from(*n >= 100)))
            .shed_when_not_ready(),
    );
    handle.allow(0);
    assert!(
        service.poll_ready().is_ready(),
        "ready although the inner service is not"
    );
    let shed = service.call(100).await.unwrap_err();
    assert!(matches!(
        hardy_core::find_rejection(shed.as_ref()),
        Some(Rejection::Shed {
            reason: ShedReason::NotReady,
            ..
        })
    ));
    assert_eq!(
        shed.to_string(),
        "load shedder \"test\" shed the call: service not ready"
    );
    let stats = shedder.stats();
    assert_eq!(stats.shed.not_ready, 1);
    assert_eq!(stats.shed.total(), 1);
    assert_eq!(stats.in_flight, 0, "a shed call holds no slot");

    // Ready again: a call goes through, and takes the readiness with it.
    handle.allow(1);
    assert!(service.poll_ready().is_ready());
    let answered = service.call(1);
    let (request, respond) = handle.next_request().await.unwrap();
    assert_eq!(request, 1);
    respond.send_response(10);
    assert_eq!(answered.await.unwrap(), 10);
    assert!(service.poll_ready().is_ready());
    let again = service.call(2).await.unwrap_err();
    assert!(
        format!("{again}").contains("service not ready"),
        "the mock allowed one call only: {again}"
    );
    assert_eq!(shedder.stats().shed.not_ready, 2);
}

#[tokio::test(start_paused = true)]
async fn by_default_a_call_waits_for_the_inner_service_and_is_never_shed_as_not_ready() {
    let shedder = fixed(4).build().unwrap();
    let (mut service, mut handle) = tower_test::mock::spawn_layer::<u32, u32, _>(shedder.layer());
    handle.allow(0);
    assert!(service.poll_ready().is_pending());
    handle.allow(1);
    assert!(service.poll_ready().is_ready());
    let answered = service.call(3);
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_response(30);
    assert_eq!(answered.await.unwrap(), 30);
    assert_eq!(shedder.stats().shed.total(), 0);
}

//! What calls for a fallback, each kind of answer, the tower layer, cancellation.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::{Error, Name, Outcome, Rejection, Retryability};
use hardy_fallback::{Cause, Fallback, FallbackEvent};
use tokio_test::{assert_pending, task};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_test::mock;

type Io = std::io::Error;

#[tokio::test(start_paused = true)]
async fn a_success_passes_through_and_a_failure_gets_the_value() {
    let fallback = Fallback::builder("soil-1").value(0.35).build();
    assert_eq!(
        fallback
            .call(|| async { Ok::<_, Io>(0.41) })
            .await
            .expect("ok"),
        0.41
    );
    assert_eq!(
        fallback
            .call(|| async { Err::<f64, _>(Io::other("no ack")) })
            .await
            .expect("answered"),
        0.35
    );
}

#[tokio::test(start_paused = true)]
async fn a_rejection_calls_for_the_fallback_too() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let fallback = Fallback::builder("soil-1")
        .value(1u8)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build();
    let open = || Rejection::CircuitOpen {
        name: Name::from("soil-1"),
        retry_after: Some(Duration::from_secs(30)),
    };
    let answered = fallback
        .call(|| async move { Err::<u8, Error<Io>>(Error::Rejected(open())) })
        .await
        .expect("answered");
    assert_eq!(answered, 1);
    let _ = fallback
        .call(|| async { Err::<u8, _>(Io::other("x")) })
        .await;
    assert_eq!(
        *events.lock().expect("events"),
        [
            FallbackEvent::Used {
                name: Name::from("soil-1"),
                cause: Cause::Refused
            },
            FallbackEvent::Used {
                name: Name::from("soil-1"),
                cause: Cause::Failure
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn map_failure_may_recover_or_fail_with_another_error() {
    let fallback = Fallback::builder("pump")
        .map_failure(|failed: Result<u32, Io>| match failed {
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => Ok(0),
            Err(error) => Err(Io::other(format!("pump failed: {error}"))),
            ok => ok,
        })
        .build();
    let timed_out = fallback
        .call(|| async { Err::<u32, _>(Io::from(std::io::ErrorKind::TimedOut)) })
        .await;
    assert_eq!(timed_out.expect("recovered"), 0);
    let stuck = fallback
        .call(|| async { Err::<u32, _>(Io::other("relay stuck")) })
        .await
        .expect_err("failed after all");
    assert_eq!(
        stuck.into_inner().expect("inner").to_string(),
        "pump failed: relay stuck"
    );
}

#[tokio::test(start_paused = true)]
async fn or_else_reads_a_backup_after_the_primary_fails() {
    let backup_reads = Arc::new(AtomicU32::new(0));
    let reads = backup_reads.clone();
    let fallback = Fallback::builder("soil-1")
        .or_else(move |_failed: Result<f64, Io>| {
            reads.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(0.39)
            }
        })
        .build();
    assert_eq!(
        fallback
            .call(|| async { Ok::<_, Io>(0.4) })
            .await
            .expect("ok"),
        0.4
    );
    assert_eq!(
        backup_reads.load(Ordering::SeqCst),
        0,
        "no backup read on success"
    );
    let read = fallback
        .call(|| async { Err::<f64, _>(Io::other("no ack")) })
        .await
        .expect("backup");
    assert_eq!(read, 0.39);
    assert_eq!(backup_reads.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_classifier_can_send_bad_successes_to_the_fallback() {
    // A reading of too low a quality is a failure.
    let fallback = Fallback::builder("soil-1")
        .value((0.35, 0.5))
        .classify(|result: &Result<(f64, f64), Io>| match result {
            Ok((_, quality)) if *quality < 0.3 => Outcome::Failure(Retryability::Permanent),
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::RETRYABLE_FAILURE,
        })
        .build();
    let good = fallback.call(|| async { Ok::<_, Io>((0.41, 0.9)) }).await;
    assert_eq!(good.expect("ok"), (0.41, 0.9));
    let poor = fallback.call(|| async { Ok::<_, Io>((0.02, 0.1)) }).await;
    assert_eq!(poor.expect("answered"), (0.35, 0.5));
}

#[tokio::test(start_paused = true)]
async fn a_backup_service_gets_the_same_request() {
    let (primary, mut primary_handle) = mock::pair::<u8, f64>();
    let (backup, mut backup_handle) = mock::pair::<u8, f64>();
    let fallback = Fallback::builder("soil").service(backup).build();
    let mut read = fallback.layer().layer(primary);
    backup_handle.allow(1);
    let mut call = task::spawn(read.ready().await.expect("ready").call(4));
    assert_pending!(call.poll());
    let (request, respond) = primary_handle.next_request().await.expect("primary");
    assert_eq!(request, 4);
    respond.send_error(Io::other("no ack"));
    assert_pending!(call.poll());
    let (request, respond) = backup_handle.next_request().await.expect("backup");
    assert_eq!(request, 4, "the backup reads the same sensor");
    respond.send_response(0.37);
    assert_eq!(call.await.expect("backup answered"), 0.37);
}

#[tokio::test(start_paused = true)]
async fn the_layer_keeps_the_inner_error_type() {
    let fallback = Fallback::builder("forecast").value("unknown").build();
    let mut weather = fallback
        .layer()
        .layer(tower::service_fn(|city: &'static str| async move {
            if city == "Oslo" {
                Ok::<_, BoxError>("sunny")
            } else {
                Err("timeout".into())
            }
        }));
    assert_eq!(
        weather
            .ready()
            .await
            .expect("ready")
            .call("Oslo")
            .await
            .expect("ok"),
        "sunny"
    );
    assert_eq!(
        weather
            .ready()
            .await
            .expect("ready")
            .call("Lima")
            .await
            .expect("fb"),
        "unknown"
    );
    assert_eq!(weather.fallback().name().as_ref(), "forecast");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_while_the_answer_runs_drops_the_answer() {
    struct Flag(Arc<AtomicU32>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicU32::new(0));
    let seen = dropped.clone();
    let fallback = Fallback::builder("soil-1")
        .or_else(move |_failed: Result<f64, Io>| {
            let flag = Flag(seen.clone());
            async move {
                let _flag = flag;
                std::future::pending::<Result<f64, Io>>().await
            }
        })
        .build();
    let mut call = task::spawn(fallback.call(|| async { Err::<f64, _>(Io::other("x")) }));
    assert_pending!(call.poll());
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(call);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn stats_total_the_answers_by_cause_without_a_recorder() {
    let fallback = Fallback::builder("soil-1").value(1u8).build();
    let _ = fallback.call(|| async { Ok::<u8, Io>(3) }).await;
    let _ = fallback
        .call(|| async { Err::<u8, _>(Io::other("x")) })
        .await;
    let _ = fallback
        .call(|| async { Err::<u8, _>(Io::other("y")) })
        .await;
    let refused = || Rejection::RateLimited {
        name: Name::from("api"),
        retry_after: Duration::from_secs(1),
    };
    let _ = fallback
        .call(|| async move { Err::<u8, Error<Io>>(Error::Rejected(refused())) })
        .await;
    let stats = fallback.stats();
    assert_eq!(stats.name, "soil-1");
    assert_eq!((stats.used.failure, stats.used.refused), (2, 1));
    assert_eq!(stats.used.total(), 3);
    assert_eq!(stats.used.get(Cause::Refused), 1);
}

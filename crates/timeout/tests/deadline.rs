//! Deadlines: an outer budget caps the timeout; a passed deadline starts nothing.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardy_core::{Error, Rejection};
#[cfg(feature = "http")]
use hardy_timeout::FromExtensions;
use hardy_timeout::{Deadline, Timeout, TimeoutLayer};
use tokio::time::{Instant, advance};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

fn limit_of<T: std::fmt::Debug, E: std::fmt::Debug>(
    result: Result<T, Error<E>>,
) -> (Duration, Duration) {
    match result {
        Err(Error::Rejected(Rejection::Timeout { elapsed, limit, .. })) => (elapsed, limit),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_nearer_deadline_caps_the_timeout() {
    let timeout = Timeout::new("read", Duration::from_secs(5)).unwrap();
    let deadline = Deadline::after(Duration::from_millis(1_200));
    let start = Instant::now();
    let (elapsed, limit) = limit_of(
        timeout
            .call_until(deadline, pending::<Result<(), ()>>)
            .await,
    );
    assert_eq!(limit, Duration::from_millis(1_200));
    assert_eq!(elapsed, Duration::from_millis(1_200));
    assert_eq!(start.elapsed(), Duration::from_millis(1_200));
}

#[tokio::test(start_paused = true)]
async fn a_nearer_timeout_caps_the_deadline() {
    let timeout = Timeout::new("read", Duration::from_secs(1)).unwrap();
    let deadline = Deadline::after(Duration::from_secs(60));
    let (elapsed, limit) = limit_of(
        timeout
            .call_until(deadline, pending::<Result<(), ()>>)
            .await,
    );
    assert_eq!(limit, Duration::from_secs(1));
    assert_eq!(elapsed, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_passed_deadline_does_not_start_the_operation() {
    let timeout = Timeout::new("read", Duration::from_secs(5)).unwrap();
    let deadline = Deadline::after(Duration::from_secs(1));
    advance(Duration::from_secs(1)).await;
    let started = AtomicUsize::new(0);
    let result = timeout
        .call_until(deadline, || {
            started.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, ()>(()) }
        })
        .await;
    let (elapsed, limit) = limit_of(result);
    assert_eq!((elapsed, limit), (Duration::ZERO, Duration::ZERO));
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

#[derive(Debug, Clone)]
struct Read {
    deadline: Option<Deadline>,
}

#[tokio::test(start_paused = true)]
async fn the_layer_reads_each_requests_deadline() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let timeout = Timeout::new("read", Duration::from_secs(5)).unwrap();
    let mut service = ServiceBuilder::new()
        .layer(TimeoutLayer::new(timeout).deadline_from(|read: &Read| read.deadline))
        .service(service_fn(move |_: Read| {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok::<_, BoxError>("moist")
            }
        }));

    // No deadline: the 5 s limit leaves room for the 2 s answer.
    let answer = service
        .ready()
        .await
        .unwrap()
        .call(Read { deadline: None })
        .await;
    assert_eq!(answer.unwrap(), "moist");

    // A 1 s budget: abandoned at 1 s.
    let start = Instant::now();
    let tight = Read {
        deadline: Some(Deadline::after(Duration::from_secs(1))),
    };
    let error = service
        .ready()
        .await
        .unwrap()
        .call(tight)
        .await
        .unwrap_err();
    let rejection = error.downcast_ref::<Rejection>().unwrap();
    assert!(rejection.is_timeout());
    assert_eq!(start.elapsed(), Duration::from_secs(1));

    // A spent budget: the inner service is not called.
    let spent = Read {
        deadline: Some(Deadline::after(Duration::ZERO)),
    };
    let error = service
        .ready()
        .await
        .unwrap()
        .call(spent)
        .await
        .unwrap_err();
    assert!(error.downcast_ref::<Rejection>().unwrap().is_timeout());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn http_requests_carry_their_deadline_in_extensions() {
    let timeout = Timeout::new("api", Duration::from_secs(30)).unwrap();
    let mut service = ServiceBuilder::new()
        .layer(TimeoutLayer::new(timeout).deadline_from(FromExtensions))
        .service(service_fn(|_: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, BoxError>(http::StatusCode::OK)
        }));

    let mut request = http::Request::new(());
    request
        .extensions_mut()
        .insert(Deadline::after(Duration::from_millis(250)));
    let start = Instant::now();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert!(error.downcast_ref::<Rejection>().unwrap().is_timeout());
    assert_eq!(start.elapsed(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn nested_timeouts_share_one_deadline() {
    // An outer budget of 3 s over two sequential steps with 2 s timeouts each: the
    // second step only gets what is left.
    let step = Timeout::new("step", Duration::from_secs(2)).unwrap();
    let budget = Deadline::after(Duration::from_secs(3));
    let first = step
        .call_until(budget, || async {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            Ok::<_, ()>(())
        })
        .await;
    assert!(first.is_ok());
    let (_, limit) = limit_of(step.call_until(budget, pending::<Result<(), ()>>).await);
    assert_eq!(limit, Duration::from_millis(1_500));
}

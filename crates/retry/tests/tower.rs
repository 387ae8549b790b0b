//! The tower contract: readiness passes through; each retry readies the service again
//! and sends a copy of the request; requests that cannot be copied are sent once.

use std::time::Duration;

use hardy_retry::{Backoff, Jitter, Retry, RetryLayer, RetryService, SendOnce};
use hardy_timeout::Deadline;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::BoxError;
use tower_test::mock;

const DELAY: Duration = Duration::from_millis(100);

fn retry(attempts: u32) -> Retry {
    Retry::builder("svc")
        .max_attempts(attempts)
        .backoff(Backoff::Constant { delay: DELAY })
        .jitter(Jitter::None)
        .build()
        .expect("valid retry")
}

#[tokio::test(start_paused = true)]
async fn readiness_is_the_inner_services() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(retry(3).layer());
    handle.allow(0);
    assert_pending!(service.poll_ready());
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn a_failed_request_is_sent_again_after_the_delay() {
    let (mut service, mut handle) = mock::spawn_layer::<String, u8, _>(retry(3).layer());
    handle.allow(2);
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call("soil-1".to_string()));
    assert_pending!(response.poll());
    let (request, send) = handle.next_request().await.expect("first attempt");
    assert_eq!(request, "soil-1");
    send.send_error(std::io::Error::other("no ack"));
    assert_pending!(response.poll(), "sleeping before the retry");
    tokio::time::advance(DELAY).await;
    assert_pending!(response.poll());
    let (request, send) = handle.next_request().await.expect("second attempt");
    assert_eq!(request, "soil-1", "the same request, copied");
    send.send_response(41);
    assert_eq!(assert_ready_ok!(response.poll()), 41);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_the_service_to_be_ready() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(retry(3).layer());
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call(7));
    assert_pending!(response.poll());
    let (_, send) = handle.next_request().await.expect("first attempt");
    send.send_error(std::io::Error::other("busy"));
    assert_pending!(response.poll());
    tokio::time::advance(DELAY).await;
    assert_pending!(response.poll(), "the mock allows no second request yet");
    assert!(handle.poll_request().is_pending());
    handle.allow(1);
    assert!(response.is_woken(), "readiness wakes the call");
    assert_pending!(response.poll());
    let (request, send) = handle.next_request().await.expect("second attempt");
    assert_eq!(request, 7);
    send.send_response(8);
    assert_eq!(assert_ready_ok!(response.poll()), 8);
}

#[tokio::test(start_paused = true)]
async fn a_readiness_error_ends_the_call_with_it() {
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(retry(3).layer());
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call(7));
    assert_pending!(response.poll());
    let (_, send) = handle.next_request().await.expect("first attempt");
    send.send_error(std::io::Error::other("attempt failed"));
    assert_pending!(response.poll());
    handle.send_error(std::io::Error::other("service closed"));
    tokio::time::advance(DELAY).await;
    let error = assert_ready!(response.poll()).expect_err("the readiness error");
    assert_eq!(error.to_string(), "service closed");
}

#[tokio::test(start_paused = true)]
async fn send_once_never_retries() {
    let layer = retry(5).layer().clone_requests(SendOnce);
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(layer);
    handle.allow(5);
    assert_ready_ok!(service.poll_ready());
    let mut response = task::spawn(service.call(250));
    assert_pending!(response.poll());
    let (_, send) = handle.next_request().await.expect("the one attempt");
    send.send_error(std::io::Error::other("pump stalled"));
    let error = assert_ready!(response.poll()).expect_err("not retried");
    assert_eq!(error.to_string(), "pump stalled");
    assert!(handle.poll_request().is_pending(), "no second request");
}

#[tokio::test(start_paused = true)]
async fn a_clone_hook_decides_per_request() {
    // Even requests may be repeated, odd ones not.
    let layer = retry(3)
        .layer()
        .clone_requests(|request: &u8| request.is_multiple_of(2).then_some(*request));
    let (mut service, mut handle) = mock::spawn_layer::<u8, u8, _>(layer);
    handle.allow(10);
    for (request, expected_attempts) in [(3u8, 1), (4, 3)] {
        assert_ready_ok!(service.poll_ready());
        let mut response = task::spawn(service.call(request));
        let mut attempts = 0;
        loop {
            match response.poll() {
                std::task::Poll::Ready(result) => {
                    assert!(result.is_err());
                    break;
                }
                std::task::Poll::Pending => {}
            }
            if let std::task::Poll::Ready(Some((_, send))) = handle.poll_request() {
                attempts += 1;
                send.send_error(std::io::Error::other("x"));
            } else {
                tokio::time::advance(DELAY).await;
            }
        }
        assert_eq!(attempts, expected_attempts, "request {request}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_deadline_from_the_request_limits_the_retries() {
    struct Read {
        deadline: Deadline,
    }
    impl Clone for Read {
        fn clone(&self) -> Self {
            Read {
                deadline: self.deadline,
            }
        }
    }
    let layer = retry(10)
        .layer()
        .deadline_from(|read: &Read| Some(read.deadline));
    let service = tower::service_fn(|_: Read| async { Err::<(), BoxError>("down".into()) });
    let mut service: RetryService<_, _, _, _> = tower::Layer::layer(&layer, service);
    let started = tokio::time::Instant::now();
    let result = tower::ServiceExt::oneshot(
        &mut service,
        Read {
            deadline: Deadline::after(Duration::from_millis(250)),
        },
    )
    .await;
    assert!(result.is_err());
    assert_eq!(
        started.elapsed(),
        2 * DELAY,
        "attempts at 0, 100 and 200 ms"
    );
}

#[test]
fn a_layer_is_cheap_to_clone_and_reports_its_retry() {
    let layer: RetryLayer = retry(2).layer();
    assert_eq!(layer.clone().retry().name(), "svc");
}

/// A service that records, at each call, its number and how many calls this clone of
/// it made before, and answers every third call with its number, failing the others.
/// Each clone is pending once before it is ready, and a call must follow a ready poll
/// of the same clone: which clone a retry calls, and whether it was made ready, shows
/// in the record.
#[derive(Clone)]
struct Numbered {
    number: u32,
    calls_made: u32,
    polled_once: bool,
    ready: bool,
    record: std::sync::Arc<std::sync::Mutex<Vec<(u32, u32)>>>,
}

impl Numbered {
    fn new(record: &std::sync::Arc<std::sync::Mutex<Vec<(u32, u32)>>>) -> Self {
        Numbered {
            number: 1,
            calls_made: 0,
            polled_once: false,
            ready: false,
            record: std::sync::Arc::clone(record),
        }
    }
}

impl tower::Service<u8> for Numbered {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        if !self.polled_once {
            self.polled_once = true;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        self.ready = true;
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u8) -> Self::Future {
        assert!(self.ready, "called without a ready poll of the same clone");
        self.ready = false;
        let mut record = self.record.lock().expect("record");
        record.push((self.number, self.calls_made));
        self.calls_made += 1;
        let result = if record.len().is_multiple_of(3) {
            Ok(self.number)
        } else {
            Err("not yet".into())
        };
        std::future::ready(result)
    }
}

#[tokio::test(start_paused = true)]
async fn retries_call_clones_of_the_service_as_built_or_as_last_lent_out() {
    use tower::{Layer, Service, ServiceExt};

    let record = std::sync::Arc::default();
    let mut service = retry(3).layer().layer(Numbered::new(&record));
    let answer = service.ready().await.expect("ready").call(0).await;
    assert_eq!(answer.expect("the third attempt succeeds"), 1);
    assert_eq!(
        *record.lock().expect("record"),
        [(1, 0), (1, 0), (1, 0)],
        "each retry calls a fresh clone of the spare taken when the service was built, \
         not of the service the first attempt left"
    );

    service.get_mut().number = 2;
    let answer = service.ready().await.expect("ready").call(0).await;
    assert_eq!(answer.expect("the third attempt succeeds"), 2);
    assert_eq!(
        record.lock().expect("record")[3..],
        [(2, 1), (2, 1), (2, 1)],
        "the spare is taken again, from the service as it is, after it was lent out"
    );
}

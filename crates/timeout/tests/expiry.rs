//! When a timeout fires, what it reports, and what it releases.

use std::future::{pending, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hardy_core::{Error, Rejection};
use hardy_timeout::Timeout;
use tokio::time::{Instant, advance, sleep};
use tokio_test::{assert_pending, assert_ready, task};

const LIMIT: Duration = Duration::from_secs(5);

fn timeout() -> Timeout {
    Timeout::new("sensor", LIMIT).expect("valid timeout")
}

fn expect_timeout<T: std::fmt::Debug, E: std::fmt::Debug>(
    result: Result<T, Error<E>>,
) -> (Duration, Duration) {
    match result {
        Err(Error::Rejected(Rejection::Timeout {
            name,
            elapsed,
            limit,
        })) => {
            assert_eq!(name, "sensor");
            (elapsed, limit)
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn fires_exactly_at_the_limit_not_before() {
    let timeout = timeout();
    let mut call = task::spawn(timeout.call(pending::<Result<(), ()>>));
    assert_pending!(call.poll());

    advance(LIMIT - Duration::from_nanos(1)).await;
    assert!(!call.is_woken());
    assert_pending!(call.poll());

    advance(Duration::from_nanos(1)).await;
    assert!(call.is_woken());
    let (elapsed, limit) = expect_timeout(assert_ready!(call.poll()));
    assert_eq!(elapsed, LIMIT);
    assert_eq!(limit, LIMIT);
}

#[tokio::test(start_paused = true)]
async fn an_answer_just_before_the_limit_wins() {
    let timeout = timeout();
    let result = timeout
        .call(|| async {
            sleep(LIMIT - Duration::from_millis(1)).await;
            Ok::<_, ()>(7)
        })
        .await;
    assert_eq!(result.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through_untouched() {
    let timeout = timeout();
    let result = timeout.call(|| async { Err::<(), _>("unplugged") }).await;
    assert_eq!(result.unwrap_err().into_inner(), Some("unplugged"));
}

#[test]
fn a_ready_result_needs_no_timer_and_no_runtime() {
    // Outside any Tokio runtime, starting a timer would panic: a ready operation must
    // not start one.
    let timeout = Timeout::new("sensor", LIMIT).unwrap();
    let mut call = std::pin::pin!(timeout.call(|| ready(Ok::<_, ()>(3))));
    let mut cx = Context::from_waker(Waker::noop());
    match call.as_mut().poll(&mut cx) {
        Poll::Ready(result) => assert_eq!(result.unwrap(), 3),
        Poll::Pending => panic!("a ready operation must complete at the first poll"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_limit_counts_from_the_first_pending_poll() {
    let timeout = timeout();
    let call = timeout.call(pending::<Result<(), ()>>);
    // Time passing before the call is first polled does not count.
    advance(Duration::from_secs(3)).await;
    let started = Instant::now();
    let (elapsed, _) = expect_timeout(call.await);
    assert_eq!(elapsed, LIMIT);
    assert_eq!(started.elapsed(), LIMIT);
}

/// Counts live instances, to prove what a future held is released.
#[derive(Debug)]
struct Guard(Arc<AtomicUsize>);

impl Guard {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Guard(live.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn the_operation_is_dropped_when_the_timeout_fires() {
    let live = Arc::new(AtomicUsize::new(0));
    let timeout = timeout();
    let held = live.clone();
    let result = timeout
        .call(move || async move {
            let _guard = Guard::new(&held);
            pending::<Result<(), ()>>().await
        })
        .await;
    expect_timeout(result);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_wait_drops_the_operation() {
    let live = Arc::new(AtomicUsize::new(0));
    let timeout = timeout();
    let held = live.clone();
    let mut call = task::spawn(timeout.call(move || async move {
        let _guard = Guard::new(&held);
        pending::<Result<(), ()>>().await
    }));
    assert_pending!(call.poll());
    assert_eq!(live.load(Ordering::SeqCst), 1);
    advance(Duration::from_secs(1)).await;
    drop(call);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_operation_releases_what_it_held() {
    let live = Arc::new(AtomicUsize::new(0));
    let timeout = timeout();
    let held = live.clone();
    // A spawned call moves a clone of the handle in with it.
    let outcome = tokio::spawn(async move {
        timeout
            .call(move || async move {
                let _guard = Guard::new(&held);
                sleep(Duration::from_secs(1)).await;
                panic!("driver bug");
                #[allow(unreachable_code)]
                Ok::<(), ()>(())
            })
            .await
    })
    .await;
    assert!(outcome.unwrap_err().is_panic());
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_limit_too_long_for_the_clock_never_fires() {
    let timeout = Timeout::new("sensor", Duration::MAX).unwrap();
    let mut call = task::spawn(timeout.call(pending::<Result<(), ()>>));
    assert_pending!(call.poll());
    advance(Duration::from_secs(86_400 * 365)).await;
    assert_pending!(call.poll());
}

#[tokio::test(start_paused = true)]
async fn wrap_limits_any_future() {
    let timeout = timeout();
    assert_eq!(timeout.wrap(ready(5)).await.unwrap(), 5);
    let rejection = timeout.wrap(pending::<()>()).await.unwrap_err();
    assert!(rejection.is_timeout());
    assert_eq!(
        rejection.to_string(),
        "timeout \"sensor\" expired: no result after 5s (limit 5s)"
    );
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_handle() {
    let timeout = timeout();
    let copy = timeout.clone();
    assert_eq!(copy.name(), timeout.name());
    assert_eq!(copy.duration(), LIMIT);
    let (elapsed, _) = expect_timeout(copy.call(pending::<Result<(), ()>>).await);
    assert_eq!(elapsed, LIMIT);
}

#[tokio::test(start_paused = true)]
async fn a_countdown_starts_at_its_first_poll_and_ends_at_the_limit_or_the_deadline() {
    use hardy_timeout::hooks::Countdown;

    let timeout = timeout();
    let mut countdown = Countdown::new(None);
    // Created long before it is first polled: the time counts from the first poll.
    advance(Duration::from_secs(60)).await;
    let mut expiry = task::spawn(std::future::poll_fn(|cx| {
        countdown.poll_expired(&timeout, cx)
    }));
    assert_pending!(expiry.poll());
    advance(LIMIT - Duration::from_millis(1)).await;
    assert_pending!(expiry.poll());
    advance(Duration::from_millis(1)).await;
    match assert_ready!(expiry.poll()) {
        Rejection::Timeout {
            name,
            elapsed,
            limit,
        } => {
            assert_eq!(name, "sensor");
            assert_eq!((elapsed, limit), (LIMIT, LIMIT));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }

    // A caller's deadline earlier than the limit ends it first.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut countdown = Countdown::new(Some(deadline));
    let mut expiry = task::spawn(std::future::poll_fn(|cx| {
        countdown.poll_expired(&timeout, cx)
    }));
    assert_pending!(expiry.poll());
    advance(Duration::from_secs(2)).await;
    assert!(matches!(
        assert_ready!(expiry.poll()),
        Rejection::Timeout { elapsed, .. } if elapsed == Duration::from_secs(2)
    ));
}

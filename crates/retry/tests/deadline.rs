//! `max_duration` and caller deadlines: no retry whose delay would end too late.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_retry::{Backoff, GiveUpReason, Jitter, Retry, RetryEvent};
use hardy_timeout::Deadline;
use tokio::time::{Instant, sleep};

type Io = std::io::Error;
const SECOND: Duration = Duration::from_secs(1);

fn every_second(attempts: u32) -> hardy_retry::RetryBuilder {
    Retry::builder("deadline")
        .max_attempts(attempts)
        .backoff(Backoff::Constant { delay: SECOND })
        .jitter(Jitter::None)
}

async fn failing_attempts(
    call: impl std::future::Future<Output = Result<(), hardy_core::Error<Io>>>,
) {
    assert!(call.await.is_err());
}

#[tokio::test(start_paused = true)]
async fn the_max_duration_counts_attempts_and_delays() {
    let retry = every_second(100)
        .max_duration(Duration::from_millis(3_500))
        .build()
        .expect("valid");
    let tries = AtomicU32::new(0);
    let started = Instant::now();
    failing_attempts(retry.call(|| {
        tries.fetch_add(1, Ordering::Relaxed);
        async {
            // Each attempt takes half a second.
            sleep(Duration::from_millis(500)).await;
            Err(Io::other("down"))
        }
    }))
    .await;
    // Attempts start at 0, 1.5 and 3 s; after the third ends at 3.5 s, a one-second
    // delay would pass the budget.
    assert_eq!(tries.load(Ordering::Relaxed), 3);
    assert_eq!(started.elapsed(), Duration::from_millis(3_500));
}

#[tokio::test(start_paused = true)]
async fn a_delay_ending_exactly_at_the_deadline_is_not_taken() {
    let retry = every_second(100).build().expect("valid");
    let tries = AtomicU32::new(0);
    failing_attempts(retry.call_until(Deadline::after(2 * SECOND), || {
        tries.fetch_add(1, Ordering::Relaxed);
        async { Err(Io::other("down")) }
    }))
    .await;
    assert_eq!(tries.load(Ordering::Relaxed), 2, "at 0 s and 1 s");
}

#[tokio::test(start_paused = true)]
async fn the_earlier_of_deadline_and_max_duration_wins() {
    let retry = every_second(100)
        .max_duration(10 * SECOND)
        .build()
        .expect("valid");
    let tries = AtomicU32::new(0);
    failing_attempts(
        retry
            .call(|| {
                tries.fetch_add(1, Ordering::Relaxed);
                async { Err(Io::other("down")) }
            })
            .until(Deadline::after(Duration::from_millis(2_500))),
    )
    .await;
    assert_eq!(tries.load(Ordering::Relaxed), 3);

    let tries = AtomicU32::new(0);
    let retry = every_second(100)
        .max_duration(Duration::from_millis(1_500))
        .build()
        .expect("valid");
    failing_attempts(retry.call_until(Deadline::after(10 * SECOND), || {
        tries.fetch_add(1, Ordering::Relaxed);
        async { Err(Io::other("down")) }
    }))
    .await;
    assert_eq!(tries.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn the_event_says_the_deadline_ended_the_call() {
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let retry = every_second(100)
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid");
    failing_attempts(retry.call_until(Deadline::after(SECOND / 2), || async {
        Err(Io::other("down"))
    }))
    .await;
    let events = events.lock().expect("events");
    assert!(matches!(
        events.as_slice(),
        [RetryEvent::GaveUp {
            attempt: 1,
            reason: GiveUpReason::Deadline,
            ..
        }]
    ));
}

#[tokio::test(start_paused = true)]
async fn of_two_deadlines_on_a_call_the_earlier_counts() {
    let retry = every_second(100).build().expect("valid");
    let tries = AtomicU32::new(0);
    failing_attempts(
        retry
            .call_until(Deadline::after(Duration::from_millis(1_500)), || {
                tries.fetch_add(1, Ordering::Relaxed);
                async { Err(Io::other("down")) }
            })
            .until(Deadline::after(10 * SECOND)),
    )
    .await;
    assert_eq!(tries.load(Ordering::Relaxed), 2, "at 0 s and 1 s");
}

#[tokio::test(start_paused = true)]
async fn delays_and_budgets_too_large_for_the_clock_do_not_panic() {
    let retry = Retry::builder("huge")
        .max_attempts(2)
        .backoff(Backoff::Constant {
            delay: Duration::MAX,
        })
        .jitter(Jitter::None)
        .max_delay(Duration::MAX)
        .max_duration(Duration::MAX)
        .build()
        .expect("valid");
    let mut call =
        tokio_test::task::spawn(retry.call(|| async { Err::<(), _>(Io::other("down")) }));
    tokio_test::assert_pending!(call.poll(), "waiting, practically forever");
}

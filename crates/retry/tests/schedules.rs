//! Exact delays between attempts, on paused time, for each backoff; first retry
//! immediately; the `max_delay` cap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_retry::{Backoff, Jitter, Retry};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// Runs a call whose every attempt fails and returns the gaps between attempts.
async fn gaps(retry: &Retry) -> Vec<Duration> {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let result = retry
        .call(|| {
            starts.lock().expect("starts").push(Instant::now());
            async { Err::<(), _>(std::io::Error::other("down")) }
        })
        .await;
    assert!(result.is_err(), "every attempt fails");
    let starts = starts.lock().expect("starts");
    starts.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

fn unjittered(backoff: Backoff, attempts: u32) -> Retry {
    Retry::builder("schedule")
        .max_attempts(attempts)
        .backoff(backoff)
        .jitter(Jitter::None)
        .max_delay(Duration::from_secs(60))
        .build()
        .expect("valid retry")
}

#[tokio::test(start_paused = true)]
async fn constant_waits_the_same_each_time() {
    let retry = unjittered(Backoff::Constant { delay: 250 * MS }, 4);
    assert_eq!(gaps(&retry).await, [250 * MS, 250 * MS, 250 * MS]);
}

#[tokio::test(start_paused = true)]
async fn linear_grows_by_its_step() {
    let retry = unjittered(
        Backoff::Linear {
            initial: 100 * MS,
            step: 300 * MS,
        },
        4,
    );
    assert_eq!(gaps(&retry).await, [100 * MS, 400 * MS, 700 * MS]);
}

#[tokio::test(start_paused = true)]
async fn exponential_multiplies() {
    let retry = unjittered(
        Backoff::Exponential {
            initial: 100 * MS,
            multiplier: 2.0,
        },
        5,
    );
    assert_eq!(gaps(&retry).await, [100 * MS, 200 * MS, 400 * MS, 800 * MS]);
}

#[tokio::test(start_paused = true)]
async fn fibonacci_follows_the_sequence() {
    let retry = unjittered(Backoff::Fibonacci { initial: 100 * MS }, 6);
    assert_eq!(
        gaps(&retry).await,
        [100 * MS, 200 * MS, 300 * MS, 500 * MS, 800 * MS]
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_retry_can_be_immediate() {
    let retry = Retry::builder("schedule")
        .max_attempts(4)
        .backoff(Backoff::Constant { delay: 100 * MS })
        .jitter(Jitter::None)
        .first_retry_immediately(true)
        .build()
        .expect("valid retry");
    assert_eq!(gaps(&retry).await, [Duration::ZERO, 100 * MS, 100 * MS]);
}

#[tokio::test(start_paused = true)]
async fn max_delay_caps_the_growth() {
    let retry = Retry::builder("schedule")
        .max_attempts(6)
        .backoff(Backoff::Exponential {
            initial: 100 * MS,
            multiplier: 3.0,
        })
        .jitter(Jitter::None)
        .max_delay(Duration::from_secs(1))
        .build()
        .expect("valid retry");
    assert_eq!(
        gaps(&retry).await,
        [100 * MS, 300 * MS, 900 * MS, 1_000 * MS, 1_000 * MS]
    );
}

#[tokio::test(start_paused = true)]
async fn jittered_gaps_are_the_schedules_delays() {
    for jitter in [
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::SmoothDecorrelated,
    ] {
        let retry = Retry::builder("schedule")
            .max_attempts(6)
            .jitter(jitter)
            .seed(11)
            .build()
            .expect("valid retry");
        let expected: Vec<Duration> = retry.schedule(11).take(5).collect();
        // Tokio's timers fire on whole milliseconds, rounding a delay up.
        let on_the_millisecond: Vec<Duration> = expected
            .iter()
            .map(|delay| Duration::from_millis(delay.as_nanos().div_ceil(1_000_000) as u64))
            .collect();
        assert_eq!(gaps(&retry).await, on_the_millisecond, "{jitter:?}");
        assert!(
            expected
                .iter()
                .all(|delay| *delay <= retry.config().max_delay),
            "{jitter:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn one_attempt_never_retries() {
    let retry = unjittered(Backoff::Constant { delay: MS }, 1);
    assert!(gaps(&retry).await.is_empty());
}

//! Two threads hammering one breaker: every count adds up.

use hardy_breaker::{BreakerState, CircuitBreaker, METRIC_CALLS};
use hardy_core::Outcome;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

const CALLS_PER_THREAD: usize = 1_000_000;

#[test]
fn two_threads_one_breaker_counts_add_up() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let breaker = metrics::with_local_recorder(&recorder, || {
        CircuitBreaker::builder("shared")
            .consecutive_failures(0)
            .count_window(1_000)
            .minimum_calls(1_000)
            .failure_ratio(1.0)
            .build()
            .expect("valid breaker")
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..2)
        .map(|thread| {
            let breaker = breaker.clone();
            runtime.spawn(async move {
                // Every 4th call of thread 0 fails: never 100 % failures, so it stays
                // closed, and the window holds a known mix at the end.
                let classify = |result: &Result<bool, ()>| {
                    if matches!(result, Ok(true)) {
                        Outcome::RETRYABLE_FAILURE
                    } else {
                        Outcome::Success
                    }
                };
                for i in 0..CALLS_PER_THREAD {
                    let fail = thread == 0 && i % 4 == 0;
                    breaker
                        .call_with(classify, || async move { Ok::<_, ()>(fail) })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    runtime.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::Closed);
    assert_eq!(snapshot.calls, 1_000);
    assert!(snapshot.failures < 1_000, "{snapshot:?}");
    let mut counts: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == METRIC_CALLS)
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) if n > 0 => {
                let outcome = key
                    .key()
                    .labels()
                    .find(|l| l.key() == "outcome")?
                    .value()
                    .to_string();
                Some((outcome, n))
            }
            _ => None,
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("failure".to_string(), (CALLS_PER_THREAD / 4) as u64),
            (
                "success".to_string(),
                (2 * CALLS_PER_THREAD - CALLS_PER_THREAD / 4) as u64
            ),
        ]
    );

    // The failure count always equals the failures in the ring: replaying a known
    // sequence of 1,000 calls single-threaded leaves exactly that sequence.
    for i in 0..1_000 {
        let fail = i % 10 == 0;
        runtime
            .block_on(breaker.call_with(
                |result: &Result<bool, ()>| {
                    if matches!(result, Ok(true)) {
                        Outcome::RETRYABLE_FAILURE
                    } else {
                        Outcome::Success
                    }
                },
                || async move { Ok::<_, ()>(fail) },
            ))
            .unwrap();
    }
    let snapshot = breaker.snapshot();
    assert_eq!((snapshot.calls, snapshot.failures), (1_000, 100));
}

//! The AWS Architecture Blog's simulation ("Exponential Backoff and Jitter"): clients
//! contending for one resource with optimistic concurrency. An attempt fails when
//! another holds the resource; the clients retry with exponential backoff. Without
//! jitter they retry in lockstep and keep colliding; with full or decorrelated jitter
//! they spread out and finish with fewer calls. The test checks that ordering, in
//! calls, on paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_retry::{Backoff, Jitter, Retry};
use tokio::time::Instant;

const CLIENTS: usize = 50;
/// How long a successful write holds the resource.
const HOLD: Duration = Duration::from_millis(2);

#[derive(Debug)]
struct Conflict;

/// Total calls the clients make until every one has written once.
async fn calls_until_all_written(jitter: Jitter, seed: u64) -> u64 {
    let busy_until = Arc::new(Mutex::new(Instant::now()));
    let calls = Arc::new(Mutex::new(0u64));
    let retry = Retry::builder("writers")
        .max_attempts(1_000)
        .backoff(Backoff::Exponential {
            initial: Duration::from_millis(5),
            multiplier: 2.0,
        })
        .max_delay(Duration::from_secs(2))
        .jitter(jitter)
        .seed(seed)
        .build()
        .expect("valid retry");
    let classify = |result: &Result<(), Conflict>| match result {
        Ok(()) => hardy_core::Outcome::Success,
        Err(Conflict) => hardy_core::Outcome::RETRYABLE_FAILURE,
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (retry, busy_until, calls) = (retry.clone(), busy_until.clone(), calls.clone());
            tokio::spawn(async move {
                retry
                    .call_with(classify, || {
                        *calls.lock().expect("calls") += 1;
                        let mut busy = busy_until.lock().expect("resource");
                        let now = Instant::now();
                        let result = if now < *busy {
                            Err(Conflict)
                        } else {
                            *busy = now + HOLD;
                            Ok(())
                        };
                        async move { result }
                    })
                    .await
            })
        })
        .collect();
    for client in clients {
        assert!(client.await.expect("client").is_ok(), "every client writes");
    }
    *calls.lock().expect("calls")
}

#[tokio::test(start_paused = true)]
async fn jitter_finishes_with_fewer_calls_than_none() {
    let none = calls_until_all_written(Jitter::None, 0).await;
    for seed in 1..=3 {
        let full = calls_until_all_written(Jitter::Full, seed).await;
        let decorrelated = calls_until_all_written(Jitter::Decorrelated, seed).await;
        let equal = calls_until_all_written(Jitter::Equal, seed).await;
        assert!(
            full < none && decorrelated < none && equal < none,
            "seed {seed}: none {none}, full {full}, equal {equal}, decorrelated {decorrelated}"
        );
        // Full and decorrelated jitter spread the clients most (the blog's finding).
        assert!(
            full < equal || decorrelated < equal,
            "seed {seed}: full {full}, equal {equal}, decorrelated {decorrelated}"
        );
    }
    // In lockstep exactly one client wins each round: 50 + 49 + … + 1 calls.
    assert_eq!(none, (CLIENTS * (CLIENTS + 1) / 2) as u64);
}

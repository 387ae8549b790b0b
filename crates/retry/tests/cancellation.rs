//! Dropping a call: during an attempt, during the backoff sleep. Nothing more runs,
//! no token is spent after the drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_retry::{Backoff, Jitter, Retry, RetryBudget, RetryBudgetConfig};
use tokio_test::{assert_pending, task};

type Io = std::io::Error;

#[tokio::test(start_paused = true)]
async fn dropping_during_the_backoff_sleep_stops_the_retries() {
    let budget = RetryBudget::new(
        "b",
        RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries_per_second: 0.0,
            max_balance: 10,
        },
    )
    .expect("valid");
    let retry = Retry::builder("cancel")
        .max_attempts(10)
        .backoff(Backoff::Constant {
            delay: Duration::from_secs(1),
        })
        .jitter(Jitter::None)
        .shared_budget(budget.clone())
        .build()
        .expect("valid");
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let mut call = task::spawn(retry.call(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>(Io::other("down")) }
    }));
    assert_pending!(call.poll());
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        1,
        "sleeping before retry 2"
    );
    assert_eq!(budget.balance(), 9.0, "one token for the retry ahead");
    drop(call);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        1,
        "nothing ran after the drop"
    );
    assert_eq!(budget.balance(), 9.0);
}

#[tokio::test(start_paused = true)]
async fn dropping_during_an_attempt_drops_the_attempt() {
    struct Dropped(Arc<AtomicU32>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let retry = Retry::builder("cancel").build().expect("valid");
    let drops = Arc::new(AtomicU32::new(0));
    let guard_drops = drops.clone();
    let mut call = task::spawn(retry.call(move || {
        let guard = Dropped(guard_drops.clone());
        async move {
            let _guard = guard;
            std::future::pending::<Result<(), Io>>().await
        }
    }));
    assert_pending!(call.poll());
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(call);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_attempt_unwinds_through_the_retry() {
    let retry = Retry::builder("panic").build().expect("valid");
    let call = tokio::spawn(async move {
        retry
            .call(|| async {
                panic!("sensor driver bug");
                #[allow(unreachable_code)]
                Ok::<(), Io>(())
            })
            .await
    });
    let joined = call.await;
    assert!(joined.expect_err("the panic").is_panic());
}

//! The retry budget across calls: with a dependency fully down, retries stay within
//! the budget's share, and the caller still gets the real error.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::Error;
use hardy_retry::{
    Backoff, GiveUpReason, Jitter, Retry, RetryBudget, RetryBudgetConfig, RetryEvent,
};

type Io = std::io::Error;

fn budget(retry_ratio: f64, min_retries_per_second: f64, max_balance: u32) -> RetryBudget {
    RetryBudget::new(
        "dependency",
        RetryBudgetConfig {
            retry_ratio,
            min_retries_per_second,
            max_balance,
        },
    )
    .expect("valid budget")
}

fn retry(budget: &RetryBudget) -> Retry {
    Retry::builder("calls")
        .max_attempts(5)
        .backoff(Backoff::Constant {
            delay: Duration::from_millis(10),
        })
        .jitter(Jitter::None)
        .shared_budget(budget.clone())
        .build()
        .expect("valid retry")
}

#[tokio::test(start_paused = true)]
async fn a_ten_percent_budget_holds_attempts_to_one_point_one_per_call() {
    // 10 % of calls, 10 retries a second whatever the traffic, 20 saved up at most.
    let budget = budget(0.1, 10.0, 20);
    let retry = retry(&budget);
    let attempts = Arc::new(AtomicU32::new(0));
    let calls = 2_000u32;
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let retry = retry.clone();
        let attempts = attempts.clone();
        tasks.push(tokio::spawn(async move {
            retry
                .call(|| {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    async { Err::<(), _>(Io::other("down")) }
                })
                .await
        }));
        // Two calls a millisecond.
        if tasks.len() % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for task in tasks {
        let result = task.await.expect("task");
        assert!(matches!(result, Err(Error::Inner(e)) if e.to_string() == "down"));
    }
    let seconds = started.elapsed().as_secs_f64();
    let attempts = f64::from(attempts.load(Ordering::Relaxed));
    let minimum = 20.0 + 10.0 * seconds;
    let bound = 1.1 * f64::from(calls) + minimum;
    assert!(
        attempts <= bound,
        "{attempts} attempts for {calls} calls in {seconds} s: more than {bound}"
    );
    // Without the budget, 5 attempts a call: the budget really limited them.
    assert!(attempts < 1.5 * f64::from(calls), "{attempts}");
    // And it let the allowed share through.
    assert!(attempts >= 1.05 * f64::from(calls), "{attempts}");
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_returns_the_real_error_and_says_why() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let budget = budget(0.0, 0.0, 1);
    let retry = Retry::builder("calls")
        .max_attempts(5)
        .jitter(Jitter::None)
        .shared_budget(budget.clone())
        .on_event(move |event| sink.lock().expect("events").push(event.clone()))
        .build()
        .expect("valid retry");
    let attempts = AtomicU32::new(0);
    let result = retry
        .call(|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(Io::other("sensor unplugged")) }
        })
        .await;
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        2,
        "one retry: the one token"
    );
    match result {
        Err(Error::Inner(error)) => assert_eq!(error.to_string(), "sensor unplugged"),
        other => panic!("expected the real error, got {other:?}"),
    }
    let events = events.lock().expect("events");
    assert!(matches!(
        events.last(),
        Some(RetryEvent::GaveUp {
            attempt: 2,
            reason: GiveUpReason::BudgetExhausted,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn handles_sharing_a_budget_share_its_tokens() {
    let shared = budget(0.0, 0.0, 2);
    let (a, b) = (retry(&shared), retry(&shared));
    let attempts = AtomicU32::new(0);
    for retry in [&a, &b, &a] {
        let _ = retry
            .call(|| {
                attempts.fetch_add(1, Ordering::Relaxed);
                async { Err::<(), _>(Io::other("down")) }
            })
            .await;
    }
    assert_eq!(attempts.load(Ordering::Relaxed), 3 + 2);
}

#[tokio::test(start_paused = true)]
async fn a_budget_in_the_config_is_the_handles_own() {
    let config = hardy_retry::RetryConfig {
        max_attempts: 3,
        retry_budget: Some(RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries_per_second: 0.0,
            max_balance: 1,
        }),
        ..hardy_retry::RetryConfig::default()
    };
    let retry = Retry::from_config("own", config).expect("valid");
    assert_eq!(retry.retry_budget().expect("a budget").balance(), 1.0);
    let _ = retry
        .call(|| async { Err::<(), _>(Io::other("down")) })
        .await;
    assert_eq!(retry.retry_budget().expect("a budget").balance(), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_shared_budget_on_the_builder_wins_over_one_in_the_config() {
    let shared = budget(0.0, 0.0, 7);
    let config = hardy_retry::RetryConfig {
        retry_budget: Some(RetryBudgetConfig {
            max_balance: 1,
            ..RetryBudgetConfig::default()
        }),
        ..hardy_retry::RetryConfig::default()
    };
    let retry = Retry::builder("both")
        .config(config)
        .shared_budget(shared.clone())
        .build()
        .expect("valid");
    assert_eq!(retry.retry_budget().expect("a budget").balance(), 7.0);
    assert!(retry.retry_budget().expect("a budget").try_withdraw());
    assert_eq!(shared.balance(), 6.0, "the very budget passed in");
}

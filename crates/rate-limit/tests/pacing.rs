//! Bursts, refill and retry-after, exact to the nanosecond on paused time.

use std::time::Duration;

use hardy_core::Rejection;
use hardy_rate_limit::{Clock, RateLimiter};
use tokio::time::advance;

const NS: Duration = Duration::from_nanos(1);

fn limiter(limit: u32, period: Duration, burst: u32) -> RateLimiter {
    RateLimiter::builder("api")
        .per(limit, period)
        .burst(burst)
        .build()
        .expect("valid limiter")
}

fn retry_after(refused: Result<(), Rejection>) -> Duration {
    match refused {
        Err(Rejection::RateLimited { retry_after, name }) => {
            assert_eq!(&*name, "api");
            retry_after
        }
        other => panic!("expected a rate-limit rejection, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_burst_then_one_call_per_interval() {
    // 10 a second, bursts of 3.
    let api = limiter(10, Duration::from_secs(1), 3);
    for _ in 0..3 {
        api.check().expect("within the burst");
    }
    assert_eq!(retry_after(api.check()), Duration::from_millis(100));
    advance(Duration::from_millis(100) - NS).await;
    assert_eq!(retry_after(api.check()), NS, "one nanosecond early");
    advance(NS).await;
    api.check().expect("exactly one interval later");
    assert_eq!(retry_after(api.check()), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn the_burst_defaults_to_the_limit() {
    let api = RateLimiter::builder("api")
        .per(2, Duration::from_secs(1))
        .build()
        .expect("valid");
    api.check().expect("first");
    api.check().expect("second");
    assert_eq!(retry_after(api.check()), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn a_quiet_spell_refills_the_burst_and_no_more() {
    let api = limiter(10, Duration::from_secs(1), 3);
    for _ in 0..3 {
        api.check().expect("burst");
    }
    advance(Duration::from_secs(3600)).await;
    for _ in 0..3 {
        api.check().expect("burst again");
    }
    assert!(
        api.check().is_err(),
        "an hour of quiet still refills only the burst"
    );
}

#[tokio::test(start_paused = true)]
async fn over_a_long_run_admitted_calls_are_the_burst_plus_the_rate() {
    // 5 a second, bursts of 4, a call tried every millisecond for 10 s.
    let api = limiter(5, Duration::from_secs(1), 4);
    let mut admitted = 0;
    for _ in 0..10_000 {
        if api.check().is_ok() {
            admitted += 1;
        }
        advance(Duration::from_millis(1)).await;
    }
    // The burst at once, then one every 200 ms for the 9.999 s that follow.
    assert_eq!(admitted, 4 + 49);
}

#[tokio::test(start_paused = true)]
async fn partial_refill_admits_only_what_has_accrued() {
    let api = limiter(10, Duration::from_secs(1), 5);
    for _ in 0..5 {
        api.check().expect("burst");
    }
    advance(Duration::from_millis(250)).await;
    api.check().expect("first accrued");
    api.check().expect("second accrued");
    assert_eq!(retry_after(api.check()), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn time_to_ready_takes_no_turn() {
    let api = limiter(1, Duration::from_secs(10), 1);
    assert_eq!(api.time_to_ready(), Duration::ZERO);
    assert_eq!(api.time_to_ready(), Duration::ZERO);
    api.check().expect("first");
    assert_eq!(api.time_to_ready(), Duration::from_secs(10));
    advance(Duration::from_secs(4)).await;
    assert_eq!(api.time_to_ready(), Duration::from_secs(6));
    assert_eq!(retry_after(api.check()), Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_rate() {
    let api = limiter(1, Duration::from_secs(1), 1);
    let clone = api.clone();
    api.check().expect("first");
    assert!(clone.check().is_err());
    assert_eq!(clone.name().as_ref(), "api");
}

#[tokio::test(start_paused = true)]
async fn a_check_never_waits_even_when_waits_are_allowed() {
    let api = RateLimiter::builder("api")
        .per(1, Duration::from_secs(1))
        .max_wait(Duration::from_secs(60))
        .build()
        .expect("valid");
    api.check().expect("first");
    assert_eq!(retry_after(api.check()), Duration::from_secs(1));
    assert_eq!(
        retry_after(api.check()),
        Duration::from_secs(1),
        "took no turn"
    );
}

#[tokio::test(start_paused = true)]
async fn the_fast_clock_ignores_paused_time() {
    // Documented: the cycle counter follows real time only, so advancing Tokio's paused
    // clock by an hour refills nothing.
    let api = RateLimiter::builder("api")
        .per(1, Duration::from_secs(3600))
        .burst(1)
        .clock(Clock::Fast)
        .build()
        .expect("valid");
    api.check().expect("first");
    advance(Duration::from_secs(3600)).await;
    assert!(api.check().is_err());
}

#[test]
fn a_limiter_works_outside_a_runtime() {
    let api = limiter(1, Duration::from_secs(3600), 2);
    api.check().expect("first");
    api.check().expect("second");
    assert!(api.check().is_err());
}

#[test]
fn from_config_validates() {
    let bad = hardy_rate_limit::RateLimitConfig {
        burst: Some(0),
        ..Default::default()
    };
    let error = RateLimiter::from_config("api", bad).expect_err("burst 0");
    assert_eq!(error.field(), "burst");
    assert_eq!(
        error.to_string(),
        "rate limit \"api\": burst = 0: must be greater than zero"
    );
}

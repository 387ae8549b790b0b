//! One rate per key, and key state that stays within `max_keys`.

use std::time::Duration;

use hardy_core::Rejection;
use hardy_rate_limit::{KeyedRateLimiter, RateLimitConfig};
use proptest::prelude::*;
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready, task};

type Io = std::io::Error;
const SEC: Duration = Duration::from_secs(1);

/// One call per key a second, bursts of 1, up to `max_keys` keys.
fn per_plant(max_keys: usize) -> KeyedRateLimiter<u32> {
    KeyedRateLimiter::builder("waterings")
        .per(1, SEC)
        .burst(1)
        .max_keys(max_keys)
        .max_wait(Duration::from_secs(5))
        .build_keyed()
        .expect("valid limiter")
}

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_rate() {
    let limiter = per_plant(100);
    limiter.check_key(&1).expect("plant 1");
    limiter.check_key(&2).expect("plant 2");
    match limiter.check_key(&1) {
        Err(Rejection::RateLimited { name, retry_after }) => {
            assert_eq!(&*name, "waterings");
            assert_eq!(retry_after, SEC);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(limiter.time_to_ready(&2), SEC);
    assert_eq!(
        limiter.time_to_ready(&3),
        Duration::ZERO,
        "an unknown key is idle"
    );
    advance(SEC).await;
    limiter.check_key(&1).expect("refilled");
    assert_eq!(limiter.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn refused_calls_add_no_key() {
    let limiter = KeyedRateLimiter::builder("k")
        .per(1, SEC)
        .build_keyed::<u32>()
        .expect("valid");
    limiter.check_key(&1).expect("first");
    for _ in 0..10 {
        assert!(limiter.check_key(&1).is_err());
    }
    assert_eq!(limiter.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn key_state_never_exceeds_max_keys() {
    let limiter = per_plant(10);
    for plant in 0..1_000 {
        limiter.check_key(&plant).expect("a new key is idle");
        assert!(limiter.len() <= 10, "{} keys", limiter.len());
    }
    assert_eq!(limiter.len(), 10);
}

#[tokio::test(start_paused = true)]
async fn idle_keys_are_forgotten_before_busy_ones() {
    // One place: the busy key must go for a new one.
    let limiter = KeyedRateLimiter::builder("k")
        .per(1, Duration::from_secs(3600))
        .burst(2)
        .max_keys(1)
        .build_keyed::<&'static str>()
        .expect("valid");
    limiter.check_key(&"busy").expect("first");
    limiter.check_key(&"busy").expect("second");
    assert!(limiter.check_key(&"busy").is_err(), "busy is out of turns");
    // Another key needs the only slot; busy is not idle but closest to idle.
    limiter.check_key(&"other").expect("other");
    assert_eq!(limiter.len(), 1);
    // With room for two, an idle key goes before a busy one.
    let limiter = KeyedRateLimiter::builder("k")
        .per(1, SEC)
        .burst(1)
        .max_keys(2)
        .build_keyed::<&'static str>()
        .expect("valid");
    assert!(limiter.config().max_keys == 2);
    limiter.check_key(&"a").expect("a");
    advance(2 * SEC).await; // a is idle again
    limiter.check_key(&"b").expect("b");
    limiter.check_key(&"c").expect("c");
    assert_eq!(limiter.len(), 2);
    assert!(
        limiter.check_key(&"b").is_err(),
        "busy b was kept, with its state"
    );
    assert!(limiter.check_key(&"c").is_err(), "c is tracked");
}

#[tokio::test(start_paused = true)]
async fn retain_recent_forgets_only_idle_keys() {
    let limiter = per_plant(100);
    for plant in 0..5 {
        limiter.check_key(&plant).expect("first");
    }
    advance(SEC / 2).await;
    assert_eq!(limiter.retain_recent(), 0, "none idle yet");
    limiter.check_key(&9).expect("late key");
    advance(SEC / 2).await;
    assert_eq!(limiter.retain_recent(), 5);
    assert_eq!(limiter.len(), 1);
    assert!(
        limiter.check_key(&9).is_err(),
        "the busy key kept its state"
    );
    assert!(!limiter.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_keyed_wait_is_given_back_when_dropped() {
    let limiter = per_plant(100);
    limiter.check_key(&7).expect("first");
    let mut waiting = task::spawn(limiter.acquire_key(&7));
    assert_pending!(waiting.poll());
    assert_eq!(limiter.time_to_ready(&7), 2 * SEC);
    drop(waiting);
    assert_eq!(limiter.time_to_ready(&7), SEC);
    let mut waiting = task::spawn(limiter.acquire_key(&7));
    assert_pending!(waiting.poll());
    advance(SEC).await;
    assert_ready!(waiting.poll()).expect("its turn");
}

#[tokio::test(start_paused = true)]
async fn call_key_runs_the_operation_within_the_keys_rate() {
    let limiter = per_plant(100);
    let ml = limiter
        .call_key(3, || async { Ok::<_, Io>(250) })
        .await
        .expect("first");
    assert_eq!(ml, 250);
    let mut second = task::spawn(limiter.call_key(3, || async { Ok::<_, Io>(100) }));
    assert_pending!(second.poll(), "waits its turn");
    advance(SEC).await;
    assert_eq!(assert_ready!(second.poll()).expect("admitted"), 100);
}

#[tokio::test(start_paused = true)]
async fn keys_may_be_strings() {
    let limiter = KeyedRateLimiter::from_config(
        "clients",
        RateLimitConfig {
            limit: 1,
            period: SEC,
            ..RateLimitConfig::default()
        },
    )
    .expect("valid");
    limiter.check_key(&"alice".to_string()).expect("alice");
    limiter.check_key(&"bob".to_string()).expect("bob");
    assert!(limiter.check_key(&"alice".to_string()).is_err());
}

proptest! {
    /// Whatever keys arrive, the state stays within `max_keys`, and a key that was just
    /// admitted is tracked (its state is not lost to the bound at once).
    #[test]
    fn the_bound_holds_for_any_keys(
        max_keys in 1usize..40,
        keys in proptest::collection::vec(0u32..200, 1..400),
    ) {
        let limiter = KeyedRateLimiter::builder("p")
            .per(1, Duration::from_secs(3600))
            .burst(1)
            .max_keys(max_keys)
            .build_keyed::<u32>()
            .expect("valid");
        for key in keys {
            let admitted = limiter.check_key(&key).is_ok();
            prop_assert!(limiter.len() <= max_keys);
            if admitted {
                prop_assert!(limiter.check_key(&key).is_err(), "key {} not tracked", key);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_refund_never_reaches_a_key_that_was_evicted_and_came_back() {
    let limiter = KeyedRateLimiter::builder("k")
        .per(1, SEC)
        .burst(1)
        .max_keys(1)
        .max_wait(Duration::from_secs(10))
        .build_keyed::<&'static str>()
        .expect("valid");
    limiter.check_key(&"a").expect("a now");
    let mut waiting = task::spawn(limiter.acquire_key(&"a"));
    assert_pending!(waiting.poll(), "a's next turn, 2 s in, reserved");
    limiter.check_key(&"b").expect("b evicts the busy a");
    advance(SEC).await;
    // a comes back as a new key: its turn now leaves the state where the waiter's did.
    limiter.check_key(&"a").expect("a again, a new entry");
    drop(waiting);
    assert!(
        limiter.check_key(&"a").is_err(),
        "the old waiter's refund did not free the new entry's turn"
    );
}

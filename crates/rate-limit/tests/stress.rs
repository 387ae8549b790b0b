//! Two threads racing for one limiter admit exactly what the rate allows: no turn is
//! given twice, none is lost. The rates are so slow that no turn accrues during the
//! run, so the counts are exact whatever the machine's speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hardy_rate_limit::{Clock, KeyedRateLimiter, RateLimiter};

const CALLS: u64 = 200_000;

fn race(check: impl Fn(u64) -> bool + Send + Sync + 'static) -> u64 {
    let check = Arc::new(check);
    let admitted = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let check = check.clone();
            let admitted = admitted.clone();
            std::thread::spawn(move || {
                for i in 0..CALLS {
                    if check(i * 2 + t) {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    admitted.load(Ordering::Relaxed)
}

#[test]
fn two_threads_share_one_burst_exactly() {
    for clock in [Clock::Tokio, Clock::Fast] {
        let limiter = RateLimiter::builder("race")
            .per(1, Duration::from_secs(24 * 3600))
            .burst(10_000)
            .clock(clock)
            .build()
            .expect("valid");
        assert_eq!(race(move |_| limiter.check().is_ok()), 10_000, "{clock:?}");
    }
}

#[test]
fn two_threads_share_each_keys_burst_exactly() {
    let limiter = KeyedRateLimiter::builder("race")
        .per(1, Duration::from_secs(24 * 3600))
        .burst(100)
        .build_keyed::<u64>()
        .expect("valid");
    let check = limiter.clone();
    // 50 keys, 100 turns each; both threads go through every key.
    assert_eq!(race(move |i| check.check_key(&(i % 50)).is_ok()), 50 * 100);
    assert_eq!(limiter.len(), 50);
}

#[test]
fn two_threads_churning_keys_never_exceed_the_bound() {
    let limiter = KeyedRateLimiter::builder("race")
        .per(1, Duration::from_secs(24 * 3600))
        .burst(1)
        .max_keys(64)
        .build_keyed::<u64>()
        .expect("valid");
    let check = limiter.clone();
    // Every call a new key: each is admitted, evicting a busy one when full.
    let admitted = race(move |i| {
        let ok = check.check_key(&i).is_ok();
        assert!(check.len() <= 64);
        ok
    });
    assert_eq!(admitted, 2 * CALLS);
    assert_eq!(limiter.len(), 64);
}

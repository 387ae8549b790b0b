//! The generic cell rate algorithm: one timestamp per limiter (or key), the theoretical
//! arrival time (TAT) of the next call, in nanoseconds since the limiter's epoch.

use std::time::Duration;

use crate::RateLimitConfig;
use crate::sync::{AtomicU64, Ordering};

/// What the algorithm says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admitted now.
    Now,
    /// Admitted (its turn reserved) after waiting this long.
    After(Duration),
    /// Refused: it would be admitted after this long, more than the wait allowed.
    Refused(Duration),
}

/// The rate, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gcra {
    /// Between two calls at the steady rate.
    interval: u64,
    /// How far ahead of now the TAT may run: `burst × interval`.
    tolerance: u64,
    /// How much further a waiting call may reserve.
    max_wait: u64,
}

impl Gcra {
    pub(crate) fn new(config: &RateLimitConfig) -> Self {
        let interval = nanos(config.period / config.limit).max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(u64::from(config.burst())),
            max_wait: nanos(config.max_wait),
        }
    }

    /// The verdict for a call at `now` on the state `tat`, and the new state if the
    /// call is admitted.
    #[inline]
    pub(crate) fn decide(&self, tat: u64, now: u64) -> (Verdict, Option<u64>) {
        let next = tat.max(now).saturating_add(self.interval);
        let allowed = now.saturating_add(self.tolerance);
        if next <= allowed {
            return (Verdict::Now, Some(next));
        }
        let wait = next - allowed;
        if wait <= self.max_wait {
            (Verdict::After(Duration::from_nanos(wait)), Some(next))
        } else {
            (Verdict::Refused(Duration::from_nanos(wait)), None)
        }
    }

    /// The same rate, never waiting.
    #[inline]
    pub(crate) fn without_wait(self) -> Self {
        Gcra {
            max_wait: 0,
            ..self
        }
    }

    /// Decides for a call on an atomic state, updating it when the call is admitted.
    /// Returns the verdict and the state the call left (its reservation).
    #[inline]
    pub(crate) fn decide_atomic(&self, state: &AtomicU64, now: u64) -> (Verdict, u64) {
        let mut tat = state.load(Ordering::Acquire);
        loop {
            let (verdict, next) = self.decide(tat, now);
            let Some(next) = next else {
                return (verdict, tat);
            };
            match state.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return (verdict, next),
                Err(actual) => tat = actual,
            }
        }
    }

    /// The state before the reservation that left `next`: giving back that turn.
    #[inline]
    pub(crate) fn before(&self, next: u64) -> u64 {
        next.saturating_sub(self.interval)
    }

    /// Gives back the turn of a call that reserved `next` and will not run, if no later
    /// call has reserved a turn since (then giving it back would let two calls share
    /// one instant, so the turn stays taken). Returns whether it was given back.
    pub(crate) fn refund_atomic(&self, state: &AtomicU64, next: u64) -> bool {
        state
            .compare_exchange(next, self.before(next), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// How long until a call on state `tat` would be admitted at once; zero if now.
    pub(crate) fn time_to_ready(self, tat: u64, now: u64) -> Duration {
        match self.without_wait().decide(tat, now).0 {
            Verdict::Now => Duration::ZERO,
            Verdict::After(wait) | Verdict::Refused(wait) => wait,
        }
    }

    /// Where the limit stands on state `tat` at `now`, with the settings of `config`.
    pub(crate) fn quota(self, config: &RateLimitConfig, tat: u64, now: u64) -> Quota {
        let used = tat.saturating_sub(now);
        let free = self.tolerance.saturating_sub(used) / self.interval;
        Quota {
            limit: config.limit,
            period: config.period,
            remaining: u32::try_from(free).unwrap_or(u32::MAX),
            reset: Duration::from_nanos(used),
        }
    }

    /// Whether a state is idle at `now`: fully replenished, the same as no state.
    pub(crate) fn is_idle(tat: u64, now: u64) -> bool {
        tat <= now
    }
}

/// Where a limit stands for its callers (or one key's) now: what the `RateLimit` fields
/// of an HTTP response tell a client.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_rate_limit::RateLimiter;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let api = RateLimiter::builder("api").per(10, Duration::from_secs(1)).build()?;
/// api.check()?;
/// let quota = api.quota().expect("kept in the process");
/// assert_eq!((quota.limit, quota.remaining), (10, 9));
/// assert_eq!(quota.reset, Duration::from_millis(100)); // one turn back in 100 ms
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Calls allowed per period: the config's `limit`.
    pub limit: u32,
    /// The period of the limit.
    pub period: Duration,
    /// Calls that would be admitted at once now, without waiting: at most the burst.
    pub remaining: u32,
    /// How long until every turn is back (`remaining` equal to the burst); zero when
    /// all are.
    pub reset: Duration,
}

#[inline]
pub(crate) fn nanos(duration: Duration) -> u64 {
    // Seconds and nanoseconds in 64 bits (saturating), not through `as_nanos`' 128.
    duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(duration.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gcra(limit: u32, period_ms: u64, burst: u32, max_wait_ms: u64) -> Gcra {
        Gcra::new(&RateLimitConfig {
            limit,
            period: Duration::from_millis(period_ms),
            burst: Some(burst),
            max_wait: Duration::from_millis(max_wait_ms),
            ..RateLimitConfig::default()
        })
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn a_burst_then_the_steady_rate() {
        // 10 a second (one per 100 ms), bursts of 3.
        let g = gcra(10, 1_000, 3, 0);
        let mut tat = 0;
        let now = 1_000 * MS;
        for _ in 0..3 {
            let (verdict, next) = g.decide(tat, now);
            assert_eq!(verdict, Verdict::Now);
            tat = next.unwrap();
        }
        let (verdict, next) = g.decide(tat, now);
        assert_eq!(verdict, Verdict::Refused(Duration::from_millis(100)));
        assert!(next.is_none());
        let (verdict, _) = g.decide(tat, now + 100 * MS);
        assert_eq!(verdict, Verdict::Now, "one interval later, one more");
    }

    #[test]
    fn a_wait_reserves_the_turn() {
        let g = gcra(10, 1_000, 1, 250);
        let (_, tat) = g.decide(0, 1_000 * MS);
        let (verdict, tat2) = g.decide(tat.unwrap(), 1_000 * MS);
        assert_eq!(verdict, Verdict::After(Duration::from_millis(100)));
        let (verdict, tat3) = g.decide(tat2.unwrap(), 1_000 * MS);
        assert_eq!(verdict, Verdict::After(Duration::from_millis(200)));
        let (verdict, _) = g.decide(tat3.unwrap(), 1_000 * MS);
        assert_eq!(verdict, Verdict::Refused(Duration::from_millis(300)));
    }

    proptest! {
        /// Over any run of calls, the admitted ones never exceed burst + elapsed × rate.
        #[test]
        fn admitted_calls_never_exceed_burst_plus_rate(
            limit in 1u32..50,
            burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..200, 1..300),
        ) {
            let g = gcra(limit, 1_000, burst, 0);
            let interval = (1_000 * MS) / u64::from(limit);
            let (mut tat, mut now, mut admitted) = (0u64, 1_000 * MS, 0u64);
            let start = now;
            for gap in gaps {
                now += gap * MS;
                if let (Verdict::Now, Some(next)) = g.decide(tat, now) {
                    tat = next;
                    admitted += 1;
                }
                let bound = u64::from(burst) + (now - start) / interval;
                prop_assert!(admitted <= bound, "{} admitted, bound {}", admitted, bound);
            }
        }

        /// The quota's `remaining` is exactly how many calls would be admitted at once,
        /// and after `reset` every turn is back.
        #[test]
        fn the_quota_tells_what_the_limit_would_do(
            limit in 1u32..50,
            burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..200, 1..100),
        ) {
            let config = RateLimitConfig {
                limit,
                period: Duration::from_secs(1),
                burst: Some(burst),
                ..RateLimitConfig::default()
            };
            let g = Gcra::new(&config);
            let (mut tat, mut now) = (0u64, 1_000 * MS);
            for gap in gaps {
                now += gap * MS;
                let quota = g.quota(&config, tat, now);
                let mut probe = tat;
                let mut admitted = 0;
                while let (Verdict::Now, Some(next)) = g.decide(probe, now) {
                    probe = next;
                    admitted += 1;
                }
                prop_assert_eq!(quota.remaining, admitted);
                let later = now + nanos(quota.reset);
                prop_assert_eq!(g.quota(&config, tat, later).remaining, burst);
                if let (Verdict::Now, Some(next)) = g.decide(tat, now) {
                    tat = next;
                }
            }
        }
    }
}

/// Loom models: `RUSTFLAGS="--cfg hardy_loom" cargo test -p hardy-rate-limit --lib --release loom`.
#[cfg(all(test, hardy_loom))]
mod loom_models {
    use super::*;
    use crate::sync::Arc;

    /// Two threads racing for a burst of 1 at the same instant: exactly one is admitted.
    #[test]
    fn loom_one_slot_one_winner() {
        loom::model(|| {
            let gcra = Gcra::new(&RateLimitConfig {
                limit: 1,
                period: Duration::from_secs(1),
                burst: Some(1),
                ..RateLimitConfig::default()
            });
            let state = Arc::new(AtomicU64::new(0));
            let now = 5_000_000_000;
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let state = state.clone();
                    loom::thread::spawn(move || gcra.decide_atomic(&state, now).0 == Verdict::Now)
                })
                .collect();
            let admitted = threads
                .into_iter()
                .map(|t| u32::from(t.join().unwrap()))
                .sum::<u32>();
            assert_eq!(admitted, 1);
        });
    }

    /// A waiter giving its turn back while another call reserves one: the turn is given
    /// back only if no reservation came after it, so no two calls share a turn.
    #[test]
    fn loom_refund_racing_a_reservation() {
        loom::model(|| {
            let gcra = Gcra::new(&RateLimitConfig {
                limit: 1,
                period: Duration::from_secs(1),
                burst: Some(1),
                max_wait: Duration::from_secs(10),
                ..RateLimitConfig::default()
            });
            let now = 5_000_000_000;
            let state = Arc::new(AtomicU64::new(0));
            // The first call is admitted now; the second waits for the next turn.
            let (_, first) = gcra.decide_atomic(&state, now);
            let (_, waiter) = gcra.decide_atomic(&state, now);
            assert_eq!(waiter, first + 1_000_000_000);
            let refunder = {
                let state = state.clone();
                loom::thread::spawn(move || gcra.refund_atomic(&state, waiter))
            };
            let reserver = {
                let state = state.clone();
                loom::thread::spawn(move || gcra.decide_atomic(&state, now))
            };
            let refunded = refunder.join().unwrap();
            let (verdict, reserved) = reserver.join().unwrap();
            assert!(matches!(verdict, Verdict::After(_)));
            if refunded {
                // The new call took the waiter's freed turn, and the state is its own.
                assert!(reserved == waiter || reserved == waiter + 1_000_000_000);
            } else {
                // The new call reserved after the waiter, whose turn stays taken.
                assert_eq!(reserved, waiter + 1_000_000_000);
            }
            assert_eq!(
                state.load(Ordering::Acquire),
                reserved.max(if refunded { first } else { waiter })
            );
        });
    }
}

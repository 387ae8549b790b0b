//! Backoff schedules: [`Backoff`], [`Jitter`] and the [`Schedule`] iterator.

use std::time::Duration;

use hardy_core::{ConfigError, Validate};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::DEFAULT_MAX_DELAY;

/// How the delay before each retry grows, before jitter and the `max_delay` cap.
///
/// Retry `n` (counting from 1) waits:
///
/// | backoff | delay before retry `n` |
/// | --- | --- |
/// | `Constant { delay }` | `delay` |
/// | `Linear { initial, step }` | `initial + (n - 1) × step` |
/// | `Exponential { initial, multiplier }` | `initial × multiplier^(n - 1)` |
/// | `Fibonacci { initial }` | `initial × 1, 2, 3, 5, 8, 13, …` |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_retry::Backoff;
///
/// let backoff = Backoff::Exponential { initial: Duration::from_millis(100), multiplier: 2.0 };
/// assert_eq!(backoff.delay(1), Duration::from_millis(100));
/// assert_eq!(backoff.delay(4), Duration::from_millis(800));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Backoff {
    /// The same delay before every retry.
    Constant {
        /// The delay.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        delay: Duration,
    },
    /// A delay that grows by `step` after each retry.
    Linear {
        /// The delay before the first retry.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        initial: Duration,
        /// What each further retry adds.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        step: Duration,
    },
    /// A delay multiplied by `multiplier` after each retry.
    Exponential {
        /// The delay before the first retry (the base).
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        initial: Duration,
        /// The growth factor; finite and at least 1.
        multiplier: f64,
    },
    /// `initial` times the Fibonacci numbers 1, 2, 3, 5, 8, …: growth between linear and
    /// exponential.
    Fibonacci {
        /// The delay before the first retry.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        initial: Duration,
    },
}

impl Default for Backoff {
    /// Exponential from [`DEFAULT_INITIAL_DELAY`](crate::DEFAULT_INITIAL_DELAY) (100 ms),
    /// doubling ([`DEFAULT_MULTIPLIER`](crate::DEFAULT_MULTIPLIER)).
    fn default() -> Self {
        Backoff::Exponential {
            initial: crate::DEFAULT_INITIAL_DELAY,
            multiplier: crate::DEFAULT_MULTIPLIER,
        }
    }
}

impl Backoff {
    /// The delay before the first retry: the base the jitters scale from.
    #[must_use]
    pub fn initial(&self) -> Duration {
        match *self {
            Backoff::Constant { delay } => delay,
            Backoff::Linear { initial, .. }
            | Backoff::Exponential { initial, .. }
            | Backoff::Fibonacci { initial } => initial,
        }
    }

    /// The delay before retry `retry` (counting from 1; `0` is taken as 1), without
    /// jitter or cap. Saturates instead of overflowing.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let n = retry.max(1);
        match *self {
            Backoff::Constant { delay } => delay,
            Backoff::Linear { initial, step } => initial.saturating_add(step.saturating_mul(n - 1)),
            Backoff::Exponential {
                initial,
                multiplier,
            } => from_nanos(nanos(initial) * multiplier.powi(saturating_i32(n - 1))),
            Backoff::Fibonacci { initial } => {
                let (mut a, mut b) = (1u32, 2u32);
                for _ in 1..n {
                    (a, b) = (b, a.saturating_add(b));
                }
                initial.saturating_mul(a)
            }
        }
    }

    /// Checks the parameters; errors name the field `backoff.<parameter>`.
    pub(crate) fn validate(&self, check: &Validate<'_>) -> Result<(), ConfigError> {
        match *self {
            Backoff::Constant { .. } | Backoff::Linear { .. } | Backoff::Fibonacci { .. } => {}
            Backoff::Exponential { multiplier, .. } => {
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return Err(check.error(
                        "backoff.multiplier",
                        multiplier,
                        "must be a finite number of at least 1",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Randomness spread over the delays, so that clients that failed together do not retry
/// together. The variants of the AWS Architecture Blog's "Exponential Backoff and
/// Jitter", and Polly's smooth decorrelated jitter. `cap` is the backoff's delay for
/// the retry, capped at `max_delay`; no jittered delay ever exceeds `max_delay`.
///
/// | jitter | delay |
/// | --- | --- |
/// | `None` | `cap` |
/// | `Full` | uniform in `[0, cap]` |
/// | `Equal` | `cap / 2` plus uniform in `[0, cap / 2]` |
/// | `Proportional` | `cap` plus uniform in `[0, cap / 10]` (capped at `max_delay`) |
/// | `Decorrelated` | uniform in `[initial, 3 × previous delay]` |
/// | `SmoothDecorrelated` | grows about twofold per retry around a median of `initial`, without the clumps and long flat runs of `Decorrelated` |
///
/// The two decorrelated variants derive each delay from the previous one and take only
/// their starting point, `initial`, from the [`Backoff`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Jitter {
    /// No randomness: exactly the backoff's delays.
    None,
    /// Uniform between zero and the delay: the fewest calls in contention (AWS).
    #[default]
    Full,
    /// Half the delay, plus uniform up to the other half: never much shorter than the
    /// backoff.
    Equal,
    /// The delay plus up to a tenth of it, uniform: the backoff's delays, never shorter,
    /// spread just enough that clients do not retry in step.
    Proportional,
    /// Uniform between `initial` and three times the previous delay (AWS).
    Decorrelated,
    /// Exponential growth with a smooth random spread (Polly's decorrelated jitter,
    /// second version), its median delays near `initial`, `2 × initial`, ….
    SmoothDecorrelated,
}

/// Everything that decides the delays of one retry sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Jitter,
    pub(crate) max_delay: Duration,
    pub(crate) first_retry_immediately: bool,
}

/// Where one retry sequence stands: the delays handed out so far and the last one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Progress {
    pub(crate) retries: u32,
    previous: Duration,
    previous_curve: f64,
}

/// Scale of the smooth decorrelated curve, so that its median first delay is `initial`.
const SMOOTH_SCALE: f64 = 1.0 / 1.4;
/// Steepness of the smooth decorrelated curve near zero.
const SMOOTH_P: f64 = 4.0;

impl Plan {
    /// The delay before the next retry.
    pub(crate) fn next_delay(&self, progress: &mut Progress, rng: &mut impl Rng) -> Duration {
        progress.retries = progress.retries.saturating_add(1);
        let n = progress.retries - u32::from(self.first_retry_immediately);
        if n == 0 {
            return Duration::ZERO;
        }
        let cap = self.backoff.delay(n).min(self.max_delay);
        let delay = match self.jitter {
            Jitter::None => cap,
            Jitter::Full => from_nanos(nanos(cap) * rng.random::<f64>()),
            Jitter::Equal => {
                let half = nanos(cap) / 2.0;
                from_nanos(half + half * rng.random::<f64>())
            }
            Jitter::Proportional => {
                let cap = nanos(cap);
                from_nanos(cap + cap / 10.0 * rng.random::<f64>())
            }
            Jitter::Decorrelated => {
                let low = nanos(self.backoff.initial());
                let previous = if progress.previous.is_zero() {
                    low
                } else {
                    nanos(progress.previous)
                };
                let high = (previous * 3.0).max(low);
                from_nanos(low + (high - low) * rng.random::<f64>())
            }
            Jitter::SmoothDecorrelated => {
                let t = f64::from(n - 1) + rng.random::<f64>();
                let curve = t.exp2() * (SMOOTH_P * t).sqrt().tanh();
                let step = curve - progress.previous_curve;
                progress.previous_curve = curve;
                if step.is_finite() {
                    from_nanos(step.max(0.0) * SMOOTH_SCALE * nanos(self.backoff.initial()))
                } else {
                    // Past about a thousand retries the curve overflows: stay at the cap.
                    self.max_delay
                }
            }
        }
        .min(self.max_delay);
        progress.previous = delay;
        delay
    }

    /// The delay before the next retry when the failure said how long to wait: the hint,
    /// capped at `max_delay`.
    pub(crate) fn hinted_delay(&self, progress: &mut Progress, hint: Duration) -> Duration {
        progress.retries = progress.retries.saturating_add(1);
        let delay = hint.min(self.max_delay);
        progress.previous = delay;
        delay
    }
}

/// An endless iterator over the delays before retries 1, 2, 3, …: a [`Backoff`] with
/// [`Jitter`], capped at `max_delay`. Usable on its own; [`Retry`](crate::Retry) uses the
/// same arithmetic.
///
/// Invalid parameters (a multiplier below 1, say) are not checked here — a
/// [`RetryConfig`](crate::RetryConfig) validates them — and never panic: a delay that
/// overflows is capped at `max_delay`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_retry::{Backoff, Jitter, Schedule};
///
/// let ms = Duration::from_millis;
/// let delays: Vec<_> = Schedule::new(Backoff::Fibonacci { initial: ms(100) })
///     .jitter(Jitter::None)
///     .max_delay(ms(600))
///     .take(6)
///     .collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(300), ms(500), ms(600), ms(600)]);
///
/// // Full jitter, reproducibly: each delay within [0, the backoff's delay].
/// let jittered = Schedule::new(Backoff::Constant { delay: ms(100) }).seed(7);
/// assert!(jittered.take(100).all(|delay| delay <= ms(100)));
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    plan: Plan,
    progress: Progress,
    rng: SmallRng,
}

impl Schedule {
    /// The delays of `backoff` with [`Jitter::Full`], capped at
    /// [`DEFAULT_MAX_DELAY`] (10 s), seeded from the operating system.
    #[must_use]
    pub fn new(backoff: Backoff) -> Self {
        Schedule {
            plan: Plan {
                backoff,
                jitter: Jitter::default(),
                max_delay: DEFAULT_MAX_DELAY,
                first_retry_immediately: false,
            },
            progress: Progress::default(),
            rng: SmallRng::from_os_rng(),
        }
    }

    pub(crate) fn from_plan(plan: Plan, rng: SmallRng) -> Self {
        Schedule {
            plan,
            progress: Progress::default(),
            rng,
        }
    }

    /// Spreads the delays with `jitter`. Default: [`Jitter::Full`].
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.plan.jitter = jitter;
        self
    }

    /// Caps every delay, jittered or not. Default: [`DEFAULT_MAX_DELAY`] (10 s).
    #[must_use]
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.plan.max_delay = max_delay;
        self
    }

    /// Makes the first retry immediate; the backoff starts from the second. Default:
    /// `false`.
    #[must_use]
    pub fn first_retry_immediately(mut self, immediately: bool) -> Self {
        self.plan.first_retry_immediately = immediately;
        self
    }

    /// Draws the jitter from a generator seeded with `seed`: the same seed gives the same
    /// delays.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = SmallRng::seed_from_u64(seed);
        self
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.plan.next_delay(&mut self.progress, &mut self.rng))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

fn nanos(duration: Duration) -> f64 {
    duration.as_nanos() as f64
}

/// A duration of `nanos` nanoseconds, rounded; saturating at the largest `u64` of
/// nanoseconds (about 584 years), and zero for negative or not-a-number input.
fn from_nanos(nanos: f64) -> Duration {
    if nanos >= u64::MAX as f64 {
        Duration::from_nanos(u64::MAX)
    } else if nanos > 0.0 {
        Duration::from_nanos(nanos.round() as u64)
    } else {
        Duration::ZERO
    }
}

fn saturating_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn plan(backoff: Backoff, jitter: Jitter, max_delay: Duration) -> Plan {
        Plan {
            backoff,
            jitter,
            max_delay,
            first_retry_immediately: false,
        }
    }

    fn delays(plan: Plan, seed: u64, count: usize) -> Vec<Duration> {
        Schedule::from_plan(plan, SmallRng::seed_from_u64(seed))
            .take(count)
            .collect()
    }

    #[test]
    fn unjittered_schedules_are_exact() {
        let none = |backoff| delays(plan(backoff, Jitter::None, 10_000 * MS), 0, 5);
        assert_eq!(
            none(Backoff::Constant { delay: 50 * MS }),
            [50 * MS, 50 * MS, 50 * MS, 50 * MS, 50 * MS]
        );
        assert_eq!(
            none(Backoff::Linear {
                initial: 100 * MS,
                step: 50 * MS
            }),
            [100 * MS, 150 * MS, 200 * MS, 250 * MS, 300 * MS]
        );
        assert_eq!(
            none(Backoff::Exponential {
                initial: 100 * MS,
                multiplier: 3.0
            }),
            [100 * MS, 300 * MS, 900 * MS, 2_700 * MS, 8_100 * MS]
        );
        assert_eq!(
            none(Backoff::Exponential {
                initial: 100 * MS,
                multiplier: 1.5
            }),
            [
                100 * MS,
                150 * MS,
                225 * MS,
                337_500 * MS / 1000,
                506_250 * MS / 1000
            ]
        );
        assert_eq!(
            none(Backoff::Fibonacci { initial: 10 * MS }),
            [10 * MS, 20 * MS, 30 * MS, 50 * MS, 80 * MS]
        );
    }

    #[test]
    fn first_retry_immediately_shifts_the_schedule() {
        let mut immediate = plan(
            Backoff::Linear {
                initial: 100 * MS,
                step: 100 * MS,
            },
            Jitter::None,
            Duration::MAX,
        );
        immediate.first_retry_immediately = true;
        assert_eq!(
            delays(immediate, 0, 4),
            [Duration::ZERO, 100 * MS, 200 * MS, 300 * MS]
        );
    }

    #[test]
    fn huge_growth_saturates_at_the_cap() {
        let backoff = Backoff::Exponential {
            initial: Duration::from_secs(1),
            multiplier: 10.0,
        };
        assert_eq!(backoff.delay(u32::MAX), Duration::from_nanos(u64::MAX));
        assert_eq!(
            Backoff::Fibonacci {
                initial: Duration::MAX
            }
            .delay(100),
            Duration::MAX
        );
        let capped = delays(plan(backoff, Jitter::None, 30 * MS * 1000), 0, 40);
        assert_eq!(capped.last(), Some(&Duration::from_secs(30)));
    }

    #[test]
    fn same_seed_same_delays() {
        for jitter in [
            Jitter::Full,
            Jitter::Equal,
            Jitter::Proportional,
            Jitter::Decorrelated,
            Jitter::SmoothDecorrelated,
        ] {
            let p = plan(Backoff::default(), jitter, Duration::from_secs(10));
            assert_eq!(delays(p, 42, 20), delays(p, 42, 20), "{jitter:?}");
            assert_ne!(delays(p, 42, 20), delays(p, 43, 20), "{jitter:?}");
        }
    }

    #[test]
    fn smooth_decorrelated_never_collapses_to_zero_after_many_retries() {
        let p = plan(
            Backoff::Constant { delay: 100 * MS },
            Jitter::SmoothDecorrelated,
            Duration::from_secs(30),
        );
        let all = delays(p, 5, 3_000);
        assert!(
            all[20..]
                .iter()
                .all(|delay| *delay == Duration::from_secs(30)),
            "once grown, every delay stays at the cap"
        );
    }

    #[test]
    fn smooth_decorrelated_median_first_delay_is_near_initial() {
        let p = plan(
            Backoff::Constant { delay: 100 * MS },
            Jitter::SmoothDecorrelated,
            Duration::MAX,
        );
        let mut firsts: Vec<_> = (0..2_001).map(|seed| delays(p, seed, 1)[0]).collect();
        firsts.sort();
        let median = firsts[1_000];
        assert!(
            (80 * MS..=120 * MS).contains(&median),
            "median first delay {median:?}"
        );
    }

    fn backoffs() -> impl Strategy<Value = Backoff> {
        let d = (0u64..10_000).prop_map(Duration::from_millis);
        prop_oneof![
            d.clone().prop_map(|delay| Backoff::Constant { delay }),
            (d.clone(), d.clone()).prop_map(|(initial, step)| Backoff::Linear { initial, step }),
            (d.clone(), 1.0f64..4.0).prop_map(|(initial, multiplier)| Backoff::Exponential {
                initial,
                multiplier
            }),
            d.prop_map(|initial| Backoff::Fibonacci { initial }),
        ]
    }

    fn jitters() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Proportional),
            Just(Jitter::Decorrelated),
            Just(Jitter::SmoothDecorrelated),
        ]
    }

    proptest! {
        #[test]
        fn every_delay_is_within_zero_and_the_cap(
            backoff in backoffs(),
            jitter in jitters(),
            cap_ms in 0u64..60_000,
            seed: u64,
        ) {
            let cap = Duration::from_millis(cap_ms);
            let p = plan(backoff, jitter, cap);
            for (n, delay) in delays(p, seed, 30).into_iter().enumerate() {
                prop_assert!(delay <= cap, "retry {}: {:?} > {:?}", n + 1, delay, cap);
                let base = backoff.delay(u32::try_from(n + 1).unwrap()).min(cap);
                match jitter {
                    Jitter::None => prop_assert_eq!(delay, base),
                    Jitter::Full => prop_assert!(delay <= base),
                    Jitter::Equal => prop_assert!(delay >= base / 2 && delay <= base),
                    Jitter::Proportional => {
                        // The delay plus at most a tenth, within the cap (nanosecond rounding
                        // aside).
                        let most = (base + base / 10 + Duration::from_nanos(1)).min(cap);
                        prop_assert!(delay >= base.min(cap) - Duration::from_nanos(1).min(base));
                        prop_assert!(delay <= most, "{:?} > {:?}", delay, most);
                    }
                    Jitter::Decorrelated => {
                        prop_assert!(delay >= backoff.initial().min(cap));
                    }
                    Jitter::SmoothDecorrelated => {}
                }
            }
        }

        #[test]
        fn unjittered_schedules_never_shrink(backoff in backoffs(), cap_ms in 0u64..60_000) {
            let p = plan(backoff, Jitter::None, Duration::from_millis(cap_ms));
            let all = delays(p, 0, 40);
            prop_assert!(all.windows(2).all(|pair| pair[0] <= pair[1]), "{:?}", all);
        }

        #[test]
        fn decorrelated_stays_within_three_times_the_previous(seed: u64) {
            let initial = 100 * MS;
            let p = plan(Backoff::Constant { delay: initial }, Jitter::Decorrelated, Duration::MAX);
            let all = delays(p, seed, 20);
            for pair in all.windows(2) {
                prop_assert!(pair[1] <= (pair[0] * 3).max(initial) + Duration::from_nanos(1));
            }
        }
    }
}

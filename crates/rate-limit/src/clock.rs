//! [`Clock`]: where a limiter reads the time.

use std::time::Duration;

use tokio::time::Instant;

use crate::gcra::nanos;

/// Where a limiter reads the time for each decision.
///
/// A decision reads the clock once; reading it is most of what a check costs. Tokio's
/// clock ([`Clock::Tokio`], the default) follows paused time, so tests on
/// `tokio::time::pause` and simulations that advance time see the limiter exactly. The
/// processor's cycle counter ([`Clock::Fast`]) is read in less than half the time, but
/// only ever follows real time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_rate_limit::{Clock, RateLimiter};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A hot production path that is never run on paused time.
/// let api = RateLimiter::builder("edge")
///     .per(10_000, Duration::from_secs(1))
///     .clock(Clock::Fast)
///     .build()?;
/// api.check()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum Clock {
    /// Tokio's clock (`tokio::time::Instant`): follows paused and advanced time.
    #[default]
    Tokio,
    /// The processor's cycle counter, calibrated against the system's monotonic clock
    /// (the monotonic clock itself where the processor has no invariant counter): two to three
    /// times faster to read than Tokio's clock, but it never pauses, so paused-time
    /// tests and simulations must not use it. Waits still sleep on Tokio's timer.
    Fast,
}

/// A clock reading nanoseconds since the limiter was built.
#[derive(Debug, Clone)]
pub(crate) struct TimeSource {
    /// Tokio's time when the limiter was built: waits are deadlines from it.
    epoch: Instant,
    /// For [`Clock::Fast`]: the calibrated cycle counter and its reading at `epoch`.
    fast: Option<(quanta::Clock, u64)>,
}

impl TimeSource {
    pub(crate) fn new(clock: Clock) -> Self {
        let fast = match clock {
            Clock::Tokio => None,
            Clock::Fast => {
                let counter = quanta::Clock::new();
                let anchor = counter.raw();
                Some((counter, anchor))
            }
        };
        TimeSource {
            epoch: Instant::now(),
            fast,
        }
    }

    /// Nanoseconds since the epoch, plus one so that a zero state is always idle.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        let elapsed = match &self.fast {
            None => nanos(Instant::now().saturating_duration_since(self.epoch)),
            Some((counter, anchor)) => counter.delta_as_nanos(*anchor, counter.raw()),
        };
        elapsed.saturating_add(1)
    }

    /// Tokio's instant for a reading of [`now`](Self::now) plus `wait`.
    pub(crate) fn instant(&self, now: u64, wait: Duration) -> Instant {
        match self.fast {
            // `now` counts from one: the instant it stands for is `epoch + now - 1`.
            None => self.epoch + Duration::from_nanos(now.saturating_sub(1)) + wait,
            // The cycle counter and Tokio's clock drift apart as the system clock is
            // slewed: measure the wait from Tokio's clock now, not from the epoch.
            Some(_) => Instant::now() + wait,
        }
    }
}

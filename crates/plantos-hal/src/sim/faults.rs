//! [`FaultPlan`]: seeded faults for simulated devices — transient errors, disconnects,
//! stalls, stuck values, spikes and drift — on Tokio's clock.

use std::sync::Arc;
use std::time::Duration;

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::{BusFault, SimChip, Source};

/// The faults a simulated device suffers. Windows (disconnects, stalls, stuck values)
/// start at random, on average `every` apart, and last `for`; rates apply to each bus
/// transaction or each reading. The same seed gives the same faults for the same calls.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use plantos_hal::sim::FaultPlan;
///
/// let flaky = FaultPlan {
///     error_rate: 0.05,
///     disconnect_every: Some(Duration::from_secs(6 * 3600)),
///     disconnect_for: Duration::from_secs(120),
///     ..FaultPlan::none(7)
/// };
/// assert!(flaky.is_faulty());
/// assert!(!FaultPlan::none(7).is_faulty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// The seed of every random choice.
    pub seed: u64,
    /// The share of bus operations (each write or read) that fail with a bus error.
    pub error_rate: f64,
    /// How often, on average, the device disconnects (its address is not
    /// acknowledged); `None`: never.
    pub disconnect_every: Option<Duration>,
    /// How long a disconnect lasts.
    pub disconnect_for: Duration,
    /// How often, on average, the device stalls (an ADC's conversions never finish);
    /// `None`: never.
    pub stall_every: Option<Duration>,
    /// How long a stall lasts.
    pub stall_for: Duration,
    /// How often, on average, the value gets stuck (the same value, whatever the
    /// world does); `None`: never.
    pub stuck_every: Option<Duration>,
    /// How long a stuck value lasts.
    pub stuck_for: Duration,
    /// The share of readings that spike by `spike` (an out-of-range glitch).
    pub spike_rate: f64,
    /// How far a spike moves the value (volts for an ADC input).
    pub spike: f64,
    /// How far the value drifts a day (volts for an ADC input).
    pub drift_per_day: f64,
}

impl FaultPlan {
    /// No faults at all.
    #[must_use]
    pub fn none(seed: u64) -> Self {
        FaultPlan {
            seed,
            error_rate: 0.0,
            disconnect_every: None,
            disconnect_for: Duration::ZERO,
            stall_every: None,
            stall_for: Duration::ZERO,
            stuck_every: None,
            stuck_for: Duration::ZERO,
            spike_rate: 0.0,
            spike: 0.0,
            drift_per_day: 0.0,
        }
    }

    /// Mild faults, as a garden sees over weeks: 2 % transient bus errors, a two-minute
    /// disconnect twice a day, a one-minute stall a day, a 30-minute stuck value every
    /// two days, 0.5 % spikes of +1.5 V, and a little drift.
    #[must_use]
    pub fn mild(seed: u64) -> Self {
        const HOUR: u64 = 3600;
        FaultPlan {
            seed,
            error_rate: 0.02,
            disconnect_every: Some(Duration::from_secs(12 * HOUR)),
            disconnect_for: Duration::from_secs(120),
            stall_every: Some(Duration::from_secs(24 * HOUR)),
            stall_for: Duration::from_secs(60),
            stuck_every: Some(Duration::from_secs(48 * HOUR)),
            stuck_for: Duration::from_secs(1_800),
            spike_rate: 0.005,
            spike: 1.5,
            drift_per_day: 0.002,
        }
    }

    /// Whether the plan has any fault.
    #[must_use]
    pub fn is_faulty(&self) -> bool {
        self.error_rate > 0.0
            || self.disconnect_every.is_some()
            || self.stall_every.is_some()
            || self.stuck_every.is_some()
            || self.spike_rate > 0.0
            || self.drift_per_day != 0.0
    }

    /// Applies the plan's value faults (stuck values, spikes, drift) to `source`.
    #[must_use]
    pub fn on_source(&self, source: Source<f64>) -> Source<f64> {
        let plan = self.clone();
        let start = Instant::now();
        let state = Mutex::new(ValueFaults {
            rng: SmallRng::seed_from_u64(plan.seed ^ 0x5eed_0001),
            stuck: Windows::new(
                plan.seed ^ 0x5eed_0002,
                plan.stuck_every,
                plan.stuck_for,
                start,
            ),
            last: None,
        });
        Arc::new(move || {
            let now = Instant::now();
            let mut state = state.lock();
            let days = now.saturating_duration_since(start).as_secs_f64() / 86_400.0;
            let stuck = state.stuck.active(now);
            let value = match (stuck, state.last) {
                (true, Some(last)) => last,
                _ => source() + plan.drift_per_day * days,
            };
            state.last = Some(value);
            let spiked = plan.spike_rate > 0.0 && state.rng.random_bool(plan.spike_rate.min(1.0));
            if spiked { value + plan.spike } else { value }
        })
    }

    /// Applies the plan's bus faults (transient errors, disconnects) to `chip`, and its
    /// stalls through `stall` (an ADC's [stall switch](super::FakeAds1115::stall_switch)).
    pub fn on_chip<C: SimChip>(&self, chip: C, stall: Option<Arc<Mutex<bool>>>) -> FaultyChip<C> {
        let start = Instant::now();
        FaultyChip {
            chip,
            rng: SmallRng::seed_from_u64(self.seed ^ 0x5eed_0003),
            error_rate: self.error_rate,
            disconnects: Windows::new(
                self.seed ^ 0x5eed_0004,
                self.disconnect_every,
                self.disconnect_for,
                start,
            ),
            stalls: Windows::new(
                self.seed ^ 0x5eed_0005,
                self.stall_every,
                self.stall_for,
                start,
            ),
            stall,
        }
    }
}

struct ValueFaults {
    rng: SmallRng,
    stuck: Windows,
    last: Option<f64>,
}

/// Random windows of time: starts on average `every` apart, each `length` long.
struct Windows {
    rng: SmallRng,
    every: Option<Duration>,
    length: Duration,
    start: Instant,
}

impl Windows {
    fn new(seed: u64, every: Option<Duration>, length: Duration, from: Instant) -> Self {
        let mut windows = Windows {
            rng: SmallRng::seed_from_u64(seed),
            every,
            length,
            start: from,
        };
        windows.start = from + windows.gap();
        windows
    }

    fn gap(&mut self) -> Duration {
        match self.every {
            // Exponential gaps: starts come as a Poisson process.
            Some(every) => {
                let u: f64 = self.rng.random_range(0.0..1.0);
                // At least a millisecond apart, so that a zero `every` cannot stall time.
                every.mul_f64(-(1.0 - u).ln()).max(Duration::from_millis(1))
            }
            None => Duration::from_secs(u64::MAX / 4),
        }
    }

    fn active(&mut self, now: Instant) -> bool {
        if self.every.is_none() {
            return false;
        }
        while now >= self.start + self.length {
            let end = self.start + self.length;
            self.start = end + self.gap();
        }
        now >= self.start
    }
}

/// A simulated chip with a [`FaultPlan`]'s bus faults; made by [`FaultPlan::on_chip`].
pub struct FaultyChip<C> {
    chip: C,
    rng: SmallRng,
    error_rate: f64,
    disconnects: Windows,
    stalls: Windows,
    stall: Option<Arc<Mutex<bool>>>,
}

impl<C> std::fmt::Debug for FaultyChip<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyChip")
            .field("error_rate", &self.error_rate)
            .finish_non_exhaustive()
    }
}

impl<C: SimChip> FaultyChip<C> {
    fn fault(&mut self) -> Result<(), BusFault> {
        let now = Instant::now();
        if let Some(stall) = &self.stall {
            *stall.lock() = self.stalls.active(now);
        }
        if self.disconnects.active(now) {
            return Err(BusFault(ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Address,
            )));
        }
        if self.error_rate > 0.0 && self.rng.random_bool(self.error_rate.min(1.0)) {
            return Err(BusFault(ErrorKind::Bus));
        }
        Ok(())
    }
}

impl<C: SimChip> SimChip for FaultyChip<C> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BusFault> {
        self.fault()?;
        self.chip.write(bytes)
    }

    fn read(&mut self, buffer: &mut [u8]) -> Result<(), BusFault> {
        self.fault()?;
        self.chip.read(buffer)
    }
}

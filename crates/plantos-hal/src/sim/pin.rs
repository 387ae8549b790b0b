//! [`SimPin`]: an output pin that records its level.

use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A simulated output pin (a relay): remembers its level and every change, with the
/// time. Clones share the pin, so a test or the garden model can watch what a driver
/// does with it.
#[derive(Debug, Clone, Default)]
pub struct SimPin {
    state: Arc<Mutex<PinState>>,
}

#[derive(Debug, Default)]
struct PinState {
    high: bool,
    /// Every change of level, in time order, with the time the pin had been high
    /// before it: the time high up to any moment is then one binary search away.
    changes: Vec<Change>,
    fail_next: u32,
}

#[derive(Debug, Clone, Copy)]
struct Change {
    at: Instant,
    high: bool,
    high_before: Duration,
}

/// A simulated pin failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinFault;

impl embedded_hal::digital::Error for PinFault {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl SimPin {
    /// A pin, low.
    #[must_use]
    pub fn new() -> Self {
        SimPin::default()
    }

    /// Whether the pin is high now.
    #[must_use]
    pub fn is_high(&self) -> bool {
        self.state.lock().high
    }

    /// Every change of level, with when it happened.
    #[must_use]
    pub fn changes(&self) -> Vec<(Instant, bool)> {
        let state = self.state.lock();
        state
            .changes
            .iter()
            .map(|change| (change.at, change.high))
            .collect()
    }

    /// How long the pin was high in total (up to now, if it is high now).
    #[must_use]
    pub fn time_high(&self) -> Duration {
        self.time_high_until(Instant::now())
    }

    /// How long the pin was high in total up to `until`: a binary search over the
    /// changes, so looking at a long history stays cheap.
    #[must_use]
    pub fn time_high_until(&self, until: Instant) -> Duration {
        let state = self.state.lock();
        // Most often `until` is past the last change: no search then.
        let seen = match state.changes.last() {
            Some(last) if last.at <= until => state.changes.len(),
            _ => state.changes.partition_point(|change| change.at <= until),
        };
        match seen.checked_sub(1).map(|last| state.changes[last]) {
            Some(last) if last.high => last.high_before + until.saturating_duration_since(last.at),
            Some(last) => last.high_before,
            None => Duration::ZERO,
        }
    }

    /// Makes the next `count` level changes fail (the level stays as it was).
    pub fn fail_next(&self, count: u32) {
        self.state.lock().fail_next = count;
    }

    fn set(&self, high: bool) -> Result<(), PinFault> {
        let mut state = self.state.lock();
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(PinFault);
        }
        if state.high != high || state.changes.is_empty() {
            let at = Instant::now();
            let high_before = state.changes.last().map_or(Duration::ZERO, |last| {
                if last.high {
                    last.high_before + at.saturating_duration_since(last.at)
                } else {
                    last.high_before
                }
            });
            state.changes.push(Change {
                at,
                high,
                high_before,
            });
        }
        state.high = high;
        Ok(())
    }
}

impl embedded_hal::digital::ErrorType for SimPin {
    type Error = PinFault;
}

impl embedded_hal::digital::OutputPin for SimPin {
    fn set_low(&mut self) -> Result<(), PinFault> {
        self.set(false)
    }

    fn set_high(&mut self) -> Result<(), PinFault> {
        self.set(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::digital::OutputPin;
    use proptest::prelude::*;

    /// The time high up to `until`, by walking every change.
    fn walked(changes: &[(Instant, bool)], until: Instant) -> Duration {
        let mut total = Duration::ZERO;
        let mut since = None;
        for (at, high) in changes.iter().filter(|(at, _)| *at <= until) {
            match (high, since) {
                (true, None) => since = Some(*at),
                (false, Some(start)) => {
                    total += *at - start;
                    since = None;
                }
                _ => {}
            }
        }
        total
            + since.map_or(Duration::ZERO, |start| {
                until.saturating_duration_since(start)
            })
    }

    proptest! {
        #[test]
        fn the_time_high_is_the_walked_sum_at_any_moment(
            steps in proptest::collection::vec((0u64..5_000, any::<bool>()), 0..40),
            probes in proptest::collection::vec(0u64..200_000, 1..20),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let start = Instant::now();
                let mut pin = SimPin::new();
                for (gap, high) in &steps {
                    tokio::time::advance(Duration::from_millis(*gap)).await;
                    if *high { pin.set_high() } else { pin.set_low() }.expect("no fault");
                }
                let changes = pin.changes();
                for probe in &probes {
                    let until = start + Duration::from_millis(*probe);
                    prop_assert_eq!(pin.time_high_until(until), walked(&changes, until));
                }
                Ok(())
            })?;
        }
    }
}

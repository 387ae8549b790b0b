//! [`SimPin`]: an output pin that records its level.

use std::sync::Arc;

use parking_lot::Mutex;
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
    changes: Vec<(Instant, bool)>,
    fail_next: u32,
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
        self.state.lock().changes.clone()
    }

    /// How long the pin was high in total (up to now, if it is high now).
    #[must_use]
    pub fn time_high(&self) -> std::time::Duration {
        self.time_high_until(Instant::now())
    }

    /// How long the pin was high in total up to `until`.
    #[must_use]
    pub fn time_high_until(&self, until: Instant) -> std::time::Duration {
        let state = self.state.lock();
        let mut total = std::time::Duration::ZERO;
        let mut since = None;
        for (at, high) in state.changes.iter().filter(|(at, _)| *at <= until) {
            match (high, since) {
                (true, None) => since = Some(*at),
                (false, Some(start)) => {
                    total += *at - start;
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(start) = since {
            total += until.saturating_duration_since(start);
        }
        total
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
            state.changes.push((Instant::now(), high));
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

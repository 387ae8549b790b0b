//! [`BreakerStats`]: what a breaker has decided since it was built.

use hardy_core::Name;
use hardy_core::sync::Tally;

use crate::BreakerState;
use crate::sync::{AtomicU64, Ordering};

/// Running totals of a [`CircuitBreaker`](crate::CircuitBreaker) since it was built,
/// kept in the process whether or not a `metrics` recorder is installed; made by
/// [`CircuitBreaker::stats`](crate::CircuitBreaker::stats). Each total only grows.
///
/// Successes are counted per thread (a load and a store on the thread's own cache
/// line), so counting them costs the fastest path no shared write.
/// [`snapshot`](crate::CircuitBreaker::snapshot) tells what the window holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerStats {
    /// The breaker's name.
    pub name: Name,
    /// The state now.
    pub state: BreakerState,
    /// Calls recorded as successes.
    pub successes: u64,
    /// Calls recorded as failures.
    pub failures: u64,
    /// Calls recorded as slow (with a `slow_call_threshold`).
    pub slow_calls: u64,
    /// Calls whose result was ignored by the classifier.
    pub ignored: u64,
    /// Calls refused without running (open, half-open full, forced open).
    pub rejected: u64,
    /// Times the breaker opened.
    pub opened: u64,
    /// Times it let probes through (half-open).
    pub half_opened: u64,
    /// Times it closed again.
    pub closed: u64,
}

/// The counters behind [`BreakerStats`].
pub(crate) struct Counts {
    pub(crate) successes: Tally,
    pub(crate) failures: AtomicU64,
    pub(crate) slow_calls: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) rejected: AtomicU64,
    /// Times each state was entered, by [`BreakerState::code`].
    pub(crate) entered: [AtomicU64; 6],
}

impl Counts {
    pub(crate) fn new() -> Self {
        let zero = || AtomicU64::new(0);
        Counts {
            successes: Tally::new(),
            failures: zero(),
            slow_calls: zero(),
            ignored: zero(),
            rejected: zero(),
            entered: std::array::from_fn(|_| zero()),
        }
    }

    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn entered(&self, state: BreakerState) {
        Counts::add(&self.entered[state.code() as usize]);
    }

    pub(crate) fn stats(&self, name: &Name, state: BreakerState) -> BreakerStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let entered = |state: BreakerState| read(&self.entered[state.code() as usize]);
        BreakerStats {
            name: name.clone(),
            state,
            successes: self.successes.sum(),
            failures: read(&self.failures),
            slow_calls: read(&self.slow_calls),
            ignored: read(&self.ignored),
            rejected: read(&self.rejected),
            opened: entered(BreakerState::Open),
            half_opened: entered(BreakerState::HalfOpen),
            closed: entered(BreakerState::Closed),
        }
    }
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts")
            .field("successes", &self.successes.sum())
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

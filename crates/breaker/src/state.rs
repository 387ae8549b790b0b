//! The packed state word: state, probes in flight and generation in one atomic; what a
//! call counts as, and the window's totals.

/// The state of a breaker, as [`CircuitBreaker::state`](crate::CircuitBreaker::state)
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls pass and are recorded.
    Closed,
    /// Calls are rejected until the open duration ends.
    Open,
    /// A limited number of probe calls pass; their results close or reopen the breaker.
    HalfOpen,
    /// Opened by hand with [`force_open`](crate::CircuitBreaker::force_open): every call
    /// is rejected until [`reset`](crate::CircuitBreaker::reset).
    ForcedOpen,
    /// Disabled by hand with [`disable`](crate::CircuitBreaker::disable): every call
    /// passes and is recorded; the breaker never opens.
    Disabled,
    /// Set by hand with [`metrics_only`](crate::CircuitBreaker::metrics_only): every call
    /// passes and is recorded, and a tripped rule is reported as an event instead of
    /// opening the breaker.
    MetricsOnly,
}

impl BreakerState {
    pub(crate) const fn code(self) -> u64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
            BreakerState::ForcedOpen => 3,
            BreakerState::Disabled => 4,
            BreakerState::MetricsOnly => 5,
        }
    }

    pub(crate) const fn from_code(code: u64) -> Self {
        match code {
            0 => BreakerState::Closed,
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            3 => BreakerState::ForcedOpen,
            4 => BreakerState::Disabled,
            _ => BreakerState::MetricsOnly,
        }
    }

    /// A `snake_case` label, as used in metrics and events.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::Disabled => "disabled",
            BreakerState::MetricsOnly => "metrics_only",
        }
    }

    /// Whether calls are admitted without limit in this state.
    #[must_use]
    pub fn admits_all(self) -> bool {
        matches!(
            self,
            BreakerState::Closed | BreakerState::Disabled | BreakerState::MetricsOnly
        )
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const STATE_BITS: u64 = 0b111;
const PROBES_SHIFT: u32 = 8;
const PROBES_MASK: u64 = 0xFF_FFFF << PROBES_SHIFT;
const GENERATION_SHIFT: u32 = 32;

/// One decoded state word: the state, the probes admitted in half-open, and the
/// generation (incremented at every transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) fn new(state: BreakerState, generation: u32) -> Self {
        Word(state.code() | (u64::from(generation) << GENERATION_SHIFT))
    }

    pub(crate) fn state(self) -> BreakerState {
        BreakerState::from_code(self.0 & STATE_BITS)
    }

    /// Whether the state is `Closed`: the hot path's one test.
    #[inline]
    pub(crate) fn is_closed(self) -> bool {
        self.0 & STATE_BITS == BreakerState::Closed.code()
    }

    pub(crate) fn probes(self) -> u32 {
        ((self.0 & PROBES_MASK) >> PROBES_SHIFT) as u32
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GENERATION_SHIFT) as u32
    }

    pub(crate) fn with_probes(self, probes: u32) -> Self {
        Word((self.0 & !PROBES_MASK) | (u64::from(probes) << PROBES_SHIFT))
    }

    /// The next generation in `state`, with no probes.
    pub(crate) fn next(self, state: BreakerState) -> Self {
        Word::new(state, self.generation().wrapping_add(1))
    }
}

/// What one finished call counts as in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) failure: bool,
    pub(crate) slow: bool,
}

/// The window's totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_PROBES: u32 = crate::config::MAX_HALF_OPEN_CALLS;

    #[test]
    fn word_packs_state_probes_and_generation() {
        let word = Word::new(BreakerState::HalfOpen, u32::MAX).with_probes(MAX_PROBES);
        assert_eq!(word.state(), BreakerState::HalfOpen);
        assert_eq!(word.probes(), MAX_PROBES);
        assert_eq!(word.generation(), u32::MAX);
        let next = word.next(BreakerState::Closed);
        assert_eq!(
            (next.state(), next.probes(), next.generation()),
            (BreakerState::Closed, 0, 0)
        );
    }
}

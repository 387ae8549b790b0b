//! [`BreakerEvent`] and [`TransitionReason`].

use std::time::Duration;

use hardy_core::{Name, Outcome};

use crate::BreakerState;

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// `count` failures in a row.
    ConsecutiveFailures {
        /// Failures in a row when the breaker opened.
        count: u32,
    },
    /// The window's failure ratio reached the limit.
    FailureRatio {
        /// The ratio measured.
        ratio: f64,
    },
    /// The window's slow-call ratio reached the limit.
    SlowCallRatio {
        /// The ratio measured.
        ratio: f64,
    },
    /// A failure asked to wait (a server's `Retry-After`) and `honor_retry_after` is on.
    RetryAfter {
        /// How long the breaker stays open.
        wait: Duration,
    },
    /// The open duration ended; probes may pass.
    OpenTimeElapsed,
    /// The half-open probes succeeded.
    ProbesSucceeded,
    /// The half-open probes failed.
    ProbesFailed,
    /// The half-open probes did not finish within `max_wait_in_half_open`.
    ProbesTimedOut,
    /// A call of [`force_open`](crate::CircuitBreaker::force_open),
    /// [`disable`](crate::CircuitBreaker::disable),
    /// [`metrics_only`](crate::CircuitBreaker::metrics_only) or
    /// [`reset`](crate::CircuitBreaker::reset).
    Manual,
    /// Another instance of the fleet opened the breaker with this name, or closed it
    /// after its probes succeeded (a breaker shared through a
    /// [`BreakerStore`](crate::BreakerStore)).
    Fleet,
}

/// Something a [`CircuitBreaker`](crate::CircuitBreaker) did, passed to the listener set
/// with [`BreakerBuilder::on_event`](crate::BreakerBuilder::on_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BreakerEvent {
    /// The breaker changed state.
    StateChanged {
        /// The breaker's name.
        name: Name,
        /// The state it left.
        from: BreakerState,
        /// The state it entered.
        to: BreakerState,
        /// Why.
        reason: TransitionReason,
    },
    /// A call was rejected without running.
    Rejected {
        /// The breaker's name.
        name: Name,
        /// The state that rejected it.
        state: BreakerState,
        /// How long until probes may pass, when known.
        retry_after: Option<Duration>,
    },
    /// A half-open probe finished.
    ProbeResult {
        /// The breaker's name.
        name: Name,
        /// How it was classified.
        outcome: Outcome,
    },
    /// In metrics-only mode, a rule tripped that would have opened the breaker.
    ThresholdExceeded {
        /// The breaker's name.
        name: Name,
        /// The rule that tripped.
        reason: TransitionReason,
    },
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::breaker";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::breaker`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for BreakerEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::INFO)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            BreakerEvent::StateChanged {
                name,
                from,
                to,
                reason,
            } => match to {
                crate::BreakerState::Open | crate::BreakerState::ForcedOpen => tracing::warn!(
                    target: TARGET, name = %name, from = from.as_str(), to = to.as_str(),
                    reason = ?reason, "circuit breaker opened"
                ),
                _ => tracing::info!(
                    target: TARGET, name = %name, from = from.as_str(), to = to.as_str(),
                    reason = ?reason, "circuit breaker changed state"
                ),
            },
            BreakerEvent::Rejected {
                name,
                state,
                retry_after,
            } => tracing::debug!(
                target: TARGET, name = %name, state = state.as_str(), retry_after = ?retry_after,
                "call rejected by the circuit breaker"
            ),
            BreakerEvent::ProbeResult { name, outcome } => tracing::debug!(
                target: TARGET, name = %name, outcome = ?outcome, "half-open probe finished"
            ),
            BreakerEvent::ThresholdExceeded { name, reason } => tracing::info!(
                target: TARGET, name = %name, reason = ?reason,
                "a rule tripped (metrics only: the breaker stays closed)"
            ),
        }
    }
}

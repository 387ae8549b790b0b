//! [`RetryEvent`] and [`GiveUpReason`].

use std::time::Duration;

use hardy_core::{Name, Outcome};

/// Why a call ended with a result that was not a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The classifier marked the result permanent (or ignored, with no retry-after hint
    /// to wait for).
    NotRetryable,
    /// `max_attempts` attempts were made.
    MaxAttempts,
    /// The next delay would have ended past the call's deadline.
    Deadline,
    /// The retry budget held no token.
    BudgetExhausted,
    /// The request could not be cloned for another attempt.
    NotCloneable,
    /// The inner service failed while getting ready for another attempt.
    NotReady,
}

impl GiveUpReason {
    /// A short `snake_case` label, as used in metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::NotRetryable => "not_retryable",
            GiveUpReason::MaxAttempts => "max_attempts",
            GiveUpReason::Deadline => "deadline",
            GiveUpReason::BudgetExhausted => "budget_exhausted",
            GiveUpReason::NotCloneable => "not_cloneable",
            GiveUpReason::NotReady => "not_ready",
        }
    }
}

/// What a [`Retry`](crate::Retry) tells its listener: one event per finished attempt.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RetryEvent {
    /// Attempt `attempt` failed retryably; the next starts after `delay`.
    Retrying {
        /// The retry's name.
        name: Name,
        /// The attempt that failed, counting from 1.
        attempt: u32,
        /// How its result was classified.
        outcome: Outcome,
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// Attempt `attempt` succeeded: the call returns its result.
    Succeeded {
        /// The retry's name.
        name: Name,
        /// The attempt that succeeded, counting from 1.
        attempt: u32,
    },
    /// The call ends with attempt `attempt`'s result, which was not a success.
    GaveUp {
        /// The retry's name.
        name: Name,
        /// The last attempt, counting from 1.
        attempt: u32,
        /// How its result was classified.
        outcome: Outcome,
        /// Why no further attempt was made.
        reason: GiveUpReason,
    },
}

impl RetryEvent {
    /// The name of the retry that emitted the event.
    pub fn name(&self) -> &Name {
        match self {
            RetryEvent::Retrying { name, .. }
            | RetryEvent::Succeeded { name, .. }
            | RetryEvent::GaveUp { name, .. } => name,
        }
    }
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::retry";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::retry`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for RetryEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::DEBUG)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            RetryEvent::Retrying {
                name,
                attempt,
                outcome,
                delay,
            } => tracing::debug!(
                target: TARGET, name = %name, attempt, outcome = ?outcome, delay = ?delay,
                "retrying after a failed attempt"
            ),
            RetryEvent::Succeeded { name, attempt: 1 } => tracing::trace!(
                target: TARGET, name = %name, attempt = 1, "call succeeded at once"
            ),
            RetryEvent::Succeeded { name, attempt } => tracing::debug!(
                target: TARGET, name = %name, attempt, "call succeeded after retries"
            ),
            RetryEvent::GaveUp {
                name,
                attempt,
                outcome,
                reason,
            } => tracing::debug!(
                target: TARGET, name = %name, attempt, outcome = ?outcome,
                reason = reason.as_str(), "gave up retrying"
            ),
        }
    }
}

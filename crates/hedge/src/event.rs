//! [`HedgeEvent`] and [`SkipReason`].

use std::time::Duration;

use hardy_core::Name;

/// Why an extra attempt that was due was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// The hedge budget held no token.
    Budget,
    /// The circuit breaker on the path was not closed.
    Breaker,
    /// The request could not be copied (it is sent once, or not idempotent).
    NotCloneable,
    /// The service failed getting ready for the extra attempt.
    NotReady,
}

impl SkipReason {
    /// A short `snake_case` label, as used in metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Budget => "budget",
            SkipReason::Breaker => "breaker",
            SkipReason::NotCloneable => "not_cloneable",
            SkipReason::NotReady => "not_ready",
        }
    }
}

/// Something a [`Hedge`](crate::Hedge) did, passed to the listener set with
/// [`HedgeBuilder::on_event`](crate::HedgeBuilder::on_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HedgeEvent {
    /// An extra attempt started.
    Hedged {
        /// The hedge's name.
        name: Name,
        /// The attempt started: 2 for the first extra one.
        attempt: u32,
        /// How long the call had run.
        after: Duration,
    },
    /// An extra attempt was due and not made.
    Skipped {
        /// The hedge's name.
        name: Name,
        /// Why.
        reason: SkipReason,
    },
    /// A call that hedged ended with a success; the other attempts were cancelled.
    Won {
        /// The hedge's name.
        name: Name,
        /// The attempt that won: 1 for the first.
        attempt: u32,
        /// Attempts still running, cancelled.
        cancelled: u32,
    },
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::hedge";

/// With the `tracing` feature, each event is recorded under the target `hardy::hedge`,
/// with the handle's name and the event's facts as fields.
impl hardy_core::Traced for HedgeEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::DEBUG)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            HedgeEvent::Hedged {
                name,
                attempt,
                after,
            } => tracing::debug!(
                target: TARGET, name = %name, attempt, after = ?after, "hedged a slow call"
            ),
            HedgeEvent::Skipped { name, reason } => tracing::debug!(
                target: TARGET, name = %name, reason = reason.as_str(), "hedge skipped"
            ),
            HedgeEvent::Won {
                name,
                attempt,
                cancelled,
            } => tracing::trace!(
                target: TARGET, name = %name, attempt, cancelled, "hedged call won"
            ),
        }
    }
}

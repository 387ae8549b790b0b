//! [`TimeoutEvent`]: what a timeout reports to its listener.

use std::time::Duration;

use hardy_core::Name;

/// Something a [`Timeout`](crate::Timeout) did, passed to the listener set with
/// [`TimeoutBuilder::on_event`](crate::TimeoutBuilder::on_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutEvent {
    /// A call ran out of time and was abandoned; its future was dropped.
    TimedOut {
        /// The timeout's name.
        name: Name,
        /// How long the call ran.
        elapsed: Duration,
        /// The limit in force.
        limit: Duration,
        /// Whether the caller's deadline, nearer than the timeout's own limit, set it.
        by_deadline: bool,
    },
    /// A call's deadline had passed before it started, so it was refused without running.
    DeadlineExpired {
        /// The timeout's name.
        name: Name,
    },
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::timeout";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::timeout`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for TimeoutEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::DEBUG)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            TimeoutEvent::TimedOut {
                name,
                elapsed,
                limit,
                by_deadline,
            } => tracing::debug!(
                target: TARGET, name = %name, elapsed = ?elapsed, limit = ?limit, by_deadline,
                "call timed out"
            ),
            TimeoutEvent::DeadlineExpired { name } => tracing::debug!(
                target: TARGET, name = %name, "call refused: its deadline had passed"
            ),
        }
    }
}

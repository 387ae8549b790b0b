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

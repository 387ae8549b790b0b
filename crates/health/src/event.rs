//! [`HealthEvent`].

use hardy_core::Name;

use crate::Status;

/// What a health registry tells its listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthEvent {
    /// A check's status changed.
    StatusChanged {
        /// The check's name.
        check: Name,
        /// Its status before.
        from: Status,
        /// Its status now.
        to: Status,
    },
    /// A run of a check failed (it may not be unhealthy yet: see the failure
    /// threshold).
    CheckFailed {
        /// The check's name.
        check: Name,
        /// Why: the check's message, a timeout or a panic.
        message: String,
        /// Failures in a row, this one included.
        consecutive_failures: u32,
    },
}

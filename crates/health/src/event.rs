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

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::health";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::health`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for HealthEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::INFO)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            HealthEvent::StatusChanged { check, from, to } => match to {
                crate::Status::Healthy => tracing::info!(
                    target: TARGET, check = %check, from = from.as_str(), to = to.as_str(),
                    "health check status changed"
                ),
                _ => tracing::warn!(
                    target: TARGET, check = %check, from = from.as_str(), to = to.as_str(),
                    "health check status changed"
                ),
            },
            HealthEvent::CheckFailed {
                check,
                message,
                consecutive_failures,
            } => tracing::warn!(
                target: TARGET, check = %check, message = %message, consecutive_failures,
                "health check failed"
            ),
        }
    }
}

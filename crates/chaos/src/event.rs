//! [`ChaosEvent`]: what a [`Chaos`](crate::Chaos) reports to its listener.

use std::time::Duration;

use hardy_core::Name;

use crate::InjectedRejection;

/// Something a [`Chaos`](crate::Chaos) handle injected or changed, passed to the listener set with
/// [`ChaosBuilder::on_event`](crate::ChaosBuilder::on_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChaosEvent {
    /// A call was delayed.
    Delayed {
        /// The handle's name.
        name: Name,
        /// The injected delay.
        delay: Duration,
    },
    /// A call was answered with an injected error.
    ErrorInjected {
        /// The handle's name.
        name: Name,
    },
    /// A call was refused with an injected rejection.
    Rejected {
        /// The handle's name.
        name: Name,
        /// Which rejection.
        rejection: InjectedRejection,
    },
    /// A call's `Ok` response was corrupted.
    Corrupted {
        /// The handle's name.
        name: Name,
    },
    /// The settings were changed at run time.
    Reconfigured {
        /// The handle's name.
        name: Name,
        /// Whether injection is now enabled.
        enabled: bool,
    },
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::chaos";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::chaos`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for ChaosEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::INFO)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            ChaosEvent::Delayed { name, delay } => tracing::debug!(
                target: TARGET, name = %name, delay = ?delay, "latency injected"
            ),
            ChaosEvent::ErrorInjected { name } => tracing::debug!(
                target: TARGET, name = %name, "error injected"
            ),
            ChaosEvent::Rejected { name, rejection } => tracing::debug!(
                target: TARGET, name = %name, rejection = ?rejection, "rejection injected"
            ),
            ChaosEvent::Corrupted { name } => tracing::debug!(
                target: TARGET, name = %name, "response corrupted"
            ),
            ChaosEvent::Reconfigured { name, enabled } => tracing::info!(
                target: TARGET, name = %name, enabled, "fault injection reconfigured"
            ),
        }
    }
}

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

//! [`PoolEvent`] and [`DestroyReason`].

use std::time::Duration;

use hardy_core::Name;

/// Why a pool closed an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DestroyReason {
    /// It sat idle longer than `idle_timeout` (beyond `min_idle`).
    Idle,
    /// It reached its lifetime.
    Expired,
    /// Recycling or validating it failed.
    Invalid,
    /// It was an overflow object, closed on return.
    Overflow,
    /// The code holding it panicked.
    Panicked,
    /// It was taken out of the pool ([`Pooled::take`](crate::Pooled::take)).
    Taken,
    /// The pool is closed.
    Closed,
}

impl DestroyReason {
    /// The reason as a metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DestroyReason::Idle => "idle",
            DestroyReason::Expired => "expired",
            DestroyReason::Invalid => "invalid",
            DestroyReason::Overflow => "overflow",
            DestroyReason::Panicked => "panicked",
            DestroyReason::Taken => "taken",
            DestroyReason::Closed => "closed",
        }
    }
}

/// What a pool tells its listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolEvent {
    /// An object was made.
    Created {
        /// The pool's name.
        name: Name,
    },
    /// Making an object failed.
    CreateFailed {
        /// The pool's name.
        name: Name,
        /// The manager's error.
        error: String,
    },
    /// An object was closed.
    Destroyed {
        /// The pool's name.
        name: Name,
        /// Why.
        reason: DestroyReason,
    },
    /// A `get` gave up.
    Timeout {
        /// The pool's name.
        name: Name,
        /// How long it waited.
        waited: Duration,
    },
    /// An object has been held longer than `leak_threshold`.
    LeakSuspected {
        /// The pool's name.
        name: Name,
        /// The object's id.
        object: u64,
        /// How long it has been held.
        held: Duration,
    },
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::pool";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::pool`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for PoolEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::WARN)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            PoolEvent::Created { name } => tracing::debug!(
                target: TARGET, name = %name, "object created"
            ),
            PoolEvent::CreateFailed { name, error } => tracing::warn!(
                target: TARGET, name = %name, error = %error, "object creation failed"
            ),
            PoolEvent::Destroyed { name, reason } => tracing::debug!(
                target: TARGET, name = %name, reason = reason.as_str(), "object destroyed"
            ),
            PoolEvent::Timeout { name, waited } => tracing::debug!(
                target: TARGET, name = %name, waited = ?waited, "no object within the acquire timeout"
            ),
            PoolEvent::LeakSuspected { name, object, held } => tracing::warn!(
                target: TARGET, name = %name, object, held = ?held, "object held suspiciously long"
            ),
        }
    }
}

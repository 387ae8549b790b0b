//! [`FallbackEvent`] and [`Cause`].

use std::fmt;
use std::time::Duration;

use hardy_core::Name;

/// Why a fallback answered instead of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The call failed: an error, or a result classified as a failure.
    Failure,
    /// The call was refused by a resilience layer (an open breaker, a full bulkhead, a
    /// rate limit): a `Rejection`, which the default classifier ignores.
    Refused,
}

impl Cause {
    /// The cause as a metric label: `failure` or `refused`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Failure => "failure",
            Cause::Refused => "refused",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a fallback or a last-known-good store tells its listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FallbackEvent {
    /// A fallback answered instead of the call.
    Used {
        /// The handle's name.
        name: Name,
        /// Why.
        cause: Cause,
    },
    /// A failed call was answered with the last good response for its key.
    ServedStale {
        /// The handle's name.
        name: Name,
        /// Why the call was not answered itself.
        cause: Cause,
        /// How old the response served is.
        age: Duration,
    },
    /// A failed call had no last good response young enough to serve.
    NoneFresh {
        /// The handle's name.
        name: Name,
        /// Why the call was not answered itself.
        cause: Cause,
        /// How old the last good response is, if there is one.
        age: Option<Duration>,
    },
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::fallback";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::fallback`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for FallbackEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::WARN)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            FallbackEvent::Used { name, cause } => tracing::debug!(
                target: TARGET, name = %name, cause = cause.as_str(), "fallback answered"
            ),
            FallbackEvent::ServedStale { name, cause, age } => tracing::debug!(
                target: TARGET, name = %name, cause = cause.as_str(), age = ?age,
                "last good value served"
            ),
            FallbackEvent::NoneFresh { name, cause, age } => tracing::warn!(
                target: TARGET, name = %name, cause = cause.as_str(), age = ?age,
                "no last good value fresh enough"
            ),
        }
    }
}

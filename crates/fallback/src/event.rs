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

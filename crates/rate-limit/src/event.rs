//! [`RateLimitEvent`].

use std::time::Duration;

use hardy_core::Name;

use crate::Degrade;

/// What a rate limiter tells its listener. Calls admitted at once are not reported
/// (they are the hot path; the metrics count them).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitEvent {
    /// A call over the rate was refused.
    Rejected {
        /// The limiter's name.
        name: Name,
        /// When it would have been admitted.
        retry_after: Duration,
    },
    /// A call over the rate waits for its turn.
    Waiting {
        /// The limiter's name.
        name: Name,
        /// How long.
        wait: Duration,
    },
    /// The store of a shared limiter failed: the limiter decides per `degrade` until
    /// the store answers again. Reported once per failure, not per call.
    StoreFailed {
        /// The limiter's name.
        name: Name,
        /// What the limiter does meanwhile.
        degrade: Degrade,
        /// Why the store failed.
        error: String,
    },
    /// The store of a shared limiter answers again: the limiter is shared again.
    StoreRecovered {
        /// The limiter's name.
        name: Name,
    },
}

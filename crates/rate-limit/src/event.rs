//! [`RateLimitEvent`].

use std::time::Duration;

use hardy_core::Name;

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
}

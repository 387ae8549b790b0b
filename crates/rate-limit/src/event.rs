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

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::rate_limit";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::rate_limit`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for RateLimitEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::INFO)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            RateLimitEvent::Rejected { name, retry_after } => tracing::debug!(
                target: TARGET, name = %name, retry_after = ?retry_after, "call rate limited"
            ),
            RateLimitEvent::Waiting { name, wait } => tracing::trace!(
                target: TARGET, name = %name, wait = ?wait, "call waits for its turn"
            ),
            RateLimitEvent::StoreFailed {
                name,
                degrade,
                error,
            } => tracing::warn!(
                target: TARGET, name = %name, degrade = ?degrade, error = %error,
                "shared rate limit store failed"
            ),
            RateLimitEvent::StoreRecovered { name } => tracing::info!(
                target: TARGET, name = %name, "shared rate limit store recovered"
            ),
        }
    }
}

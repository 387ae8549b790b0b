//! [`RateLimitStats`]: what a rate limiter has refused and delayed since it was built.

use hardy_core::Name;
use hardy_core::sync::Tally;

use crate::sync::{AtomicU64, Ordering};

/// Running totals of a [`RateLimiter`](crate::RateLimiter) or a
/// [`KeyedRateLimiter`](crate::KeyedRateLimiter) since it was built, kept in the process
/// whether or not a `metrics` recorder is installed; made by their `stats()`. Each total
/// only grows.
///
/// Calls admitted at once are counted per thread (a load and a store on the thread's
/// own cache line), so counting them adds no shared write to that path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitStats {
    /// The limiter's name.
    pub name: Name,
    /// Calls admitted at once.
    pub admitted: u64,
    /// Calls that waited for a reserved turn.
    pub waited: u64,
    /// Calls refused (over the rate, or a turn farther than `max_wait`).
    pub rejected: u64,
    /// Round trips to a shared limiter's store that failed (the limiter then degrades).
    pub store_failures: u64,
}

/// The counters behind [`RateLimitStats`].
pub(crate) struct Counts {
    pub(crate) admitted: Tally,
    pub(crate) waited: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) store_failures: AtomicU64,
}

impl Counts {
    pub(crate) fn new() -> Self {
        Counts {
            admitted: Tally::new(),
            waited: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
        }
    }

    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self, name: &Name) -> RateLimitStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RateLimitStats {
            name: name.clone(),
            admitted: self.admitted.sum(),
            waited: read(&self.waited),
            rejected: read(&self.rejected),
            store_failures: read(&self.store_failures),
        }
    }
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts")
            .field("admitted", &self.admitted.sum())
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

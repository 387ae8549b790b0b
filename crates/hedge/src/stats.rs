//! [`HedgeStats`]: what a hedge has done since it was built.

use hardy_core::Name;
use hardy_core::sync::Tally;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::SkipReason;

/// Running totals of a [`Hedge`](crate::Hedge) since it was built, kept in the process
/// whether or not a `metrics` recorder is installed; made by
/// [`Hedge::stats`](crate::Hedge::stats). Each total only grows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HedgeStats {
    /// The hedge's name.
    pub name: Name,
    /// Calls made.
    pub calls: u64,
    /// Extra attempts started.
    pub hedges: u64,
    /// Calls an extra attempt won.
    pub hedge_wins: u64,
    /// Attempts cancelled because another won (or the call was dropped).
    pub cancelled: u64,
    /// Extra attempts due but not made because the budget held no token.
    pub skipped_budget: u64,
    /// Extra attempts due but not made while the breaker was not closed.
    pub skipped_breaker: u64,
    /// Extra attempts due but not made because the request could not be copied.
    pub skipped_not_cloneable: u64,
    /// Extra attempts due but not made because the service failed getting ready.
    pub skipped_not_ready: u64,
}

/// The counters behind [`HedgeStats`].
pub(crate) struct Counts {
    pub(crate) calls: Tally,
    pub(crate) hedges: AtomicU64,
    pub(crate) hedge_wins: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) skipped: [AtomicU64; 4],
}

impl Counts {
    pub(crate) fn new() -> Self {
        Counts {
            calls: Tally::new(),
            hedges: AtomicU64::new(0),
            hedge_wins: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            skipped: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn skipped(&self, reason: SkipReason) -> &AtomicU64 {
        &self.skipped[index(reason)]
    }

    pub(crate) fn stats(&self, name: &Name) -> HedgeStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        HedgeStats {
            name: name.clone(),
            calls: self.calls.sum(),
            hedges: read(&self.hedges),
            hedge_wins: read(&self.hedge_wins),
            cancelled: read(&self.cancelled),
            skipped_budget: read(self.skipped(SkipReason::Budget)),
            skipped_breaker: read(self.skipped(SkipReason::Breaker)),
            skipped_not_cloneable: read(self.skipped(SkipReason::NotCloneable)),
            skipped_not_ready: read(self.skipped(SkipReason::NotReady)),
        }
    }
}

pub(crate) fn index(reason: SkipReason) -> usize {
    match reason {
        SkipReason::Budget => 0,
        SkipReason::Breaker => 1,
        SkipReason::NotCloneable => 2,
        SkipReason::NotReady => 3,
    }
}

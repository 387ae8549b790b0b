//! [`TimeoutStats`]: what a timeout has ended since it was built.

use std::sync::atomic::{AtomicU64, Ordering};

use hardy_core::Name;

/// Running totals of a [`Timeout`](crate::Timeout) since it was built, kept in the
/// process whether or not a `metrics` recorder is installed; made by
/// [`Timeout::stats`](crate::Timeout::stats). Each total only grows.
///
/// Calls that end in time are not counted here: a timeout reads no clock and writes
/// nothing shared for a call that is never pending.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeoutStats {
    /// The timeout's name.
    pub name: Name,
    /// Calls abandoned at the timeout's own limit.
    pub timed_out: u64,
    /// Calls abandoned at the caller's earlier deadline.
    pub timed_out_by_deadline: u64,
    /// Calls refused at once because the caller's deadline had passed.
    pub refused_expired: u64,
}

/// The counters behind [`TimeoutStats`].
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) timed_out: AtomicU64,
    pub(crate) timed_out_by_deadline: AtomicU64,
    pub(crate) refused_expired: AtomicU64,
}

impl Counts {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self, name: &Name) -> TimeoutStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TimeoutStats {
            name: name.clone(),
            timed_out: read(&self.timed_out),
            timed_out_by_deadline: read(&self.timed_out_by_deadline),
            refused_expired: read(&self.refused_expired),
        }
    }
}

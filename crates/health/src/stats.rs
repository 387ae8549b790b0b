//! [`HealthStats`]: what a registry's checks have found since it was built.

use std::sync::atomic::{AtomicU64, Ordering};

use hardy_core::Name;

/// Running totals of a [`HealthRegistry`](crate::HealthRegistry) since it was built,
/// over all its checks, kept in the process whether or not a `metrics` recorder is
/// installed; made by [`HealthRegistry::stats`](crate::HealthRegistry::stats). Each
/// total only grows; [`report`](crate::HealthRegistry::report) tells each check's
/// status now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthStats {
    /// The registry's name.
    pub name: Name,
    /// Check runs.
    pub runs: u64,
    /// Runs that found a check degraded, unhealthy, timed out or panicking.
    pub failed_runs: u64,
    /// Runs cut by the check's timeout.
    pub timed_out: u64,
    /// Times a check's judged status changed.
    pub status_changes: u64,
}

/// The counters behind [`HealthStats`].
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) runs: AtomicU64,
    pub(crate) failed_runs: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) status_changes: AtomicU64,
}

impl Counts {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self, name: &Name) -> HealthStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        HealthStats {
            name: name.clone(),
            runs: read(&self.runs),
            failed_runs: read(&self.failed_runs),
            timed_out: read(&self.timed_out),
            status_changes: read(&self.status_changes),
        }
    }
}

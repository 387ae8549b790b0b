//! [`Totals`]: what the stacks did since the controller was built, counted from the
//! patterns' own events (no metrics recorder needed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hardy::breaker::{BreakerEvent, BreakerState};
use hardy::fallback::FallbackEvent;
use hardy::rate_limit::RateLimitEvent;
use hardy::retry::RetryEvent;
use hardy::timeout::TimeoutEvent;

/// What every plant's stacks did since the controller was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Reads through the full stack (each ends once, however many attempts it took).
    pub reads: u64,
    /// Retries of reads.
    pub retries: u64,
    /// Reads for which the backup probe was tried (the primary failed).
    pub backup_reads: u64,
    /// Reads answered with the last good reading.
    pub stale_reads: u64,
    /// Breakers opened, sensors' and pumps'.
    pub breaker_trips: u64,
    /// Waterings refused by the per-plant limit.
    pub rate_limited: u64,
    /// Read attempts that ran out of time (primary and backup probes).
    pub read_timeouts: u64,
    /// Waterings that ran out of time.
    pub water_timeouts: u64,
}

/// The running counts behind [`Totals`], fed by the handles' listeners.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    reads: AtomicU64,
    retries: AtomicU64,
    backup_reads: AtomicU64,
    stale_reads: AtomicU64,
    breaker_trips: AtomicU64,
    rate_limited: AtomicU64,
    read_timeouts: AtomicU64,
    water_timeouts: AtomicU64,
}

fn add(count: &AtomicU64) {
    count.fetch_add(1, Ordering::Relaxed);
}

impl Counts {
    /// The totals so far.
    pub(crate) fn totals(&self) -> Totals {
        let get = |count: &AtomicU64| count.load(Ordering::Relaxed);
        Totals {
            reads: get(&self.reads),
            retries: get(&self.retries),
            backup_reads: get(&self.backup_reads),
            stale_reads: get(&self.stale_reads),
            breaker_trips: get(&self.breaker_trips),
            rate_limited: get(&self.rate_limited),
            read_timeouts: get(&self.read_timeouts),
            water_timeouts: get(&self.water_timeouts),
        }
    }

    /// Counts a retry's event: every read ends with one `Succeeded` or `GaveUp`.
    pub(crate) fn retry(&self, event: &RetryEvent) {
        match event {
            RetryEvent::Retrying { .. } => add(&self.retries),
            RetryEvent::Succeeded { .. } | RetryEvent::GaveUp { .. } => add(&self.reads),
            _ => {}
        }
    }

    /// Counts a breaker's event: a change to open is a trip.
    pub(crate) fn breaker(&self, event: &BreakerEvent) {
        if let BreakerEvent::StateChanged {
            to: BreakerState::Open,
            ..
        } = event
        {
            add(&self.breaker_trips);
        }
    }

    /// Counts the backup probe's fallback and the last-good store's events.
    pub(crate) fn fallback(&self, event: &FallbackEvent) {
        match event {
            FallbackEvent::Used { .. } => add(&self.backup_reads),
            FallbackEvent::ServedStale { .. } => add(&self.stale_reads),
            _ => {}
        }
    }

    /// Counts a watering limit's refusals.
    pub(crate) fn rate_limit(&self, event: &RateLimitEvent) {
        if let RateLimitEvent::Rejected { .. } = event {
            add(&self.rate_limited);
        }
    }

    /// A listener for the timeouts of reads (`water` false) or of waterings: calls out
    /// of time and calls whose deadline had passed before they started.
    pub(crate) fn timeouts(self: &Arc<Self>, water: bool) -> impl Fn(&TimeoutEvent) + use<> {
        let counts = self.clone();
        move |event| {
            if matches!(
                event,
                TimeoutEvent::TimedOut { .. } | TimeoutEvent::DeadlineExpired { .. }
            ) {
                add(if water {
                    &counts.water_timeouts
                } else {
                    &counts.read_timeouts
                });
            }
        }
    }
}

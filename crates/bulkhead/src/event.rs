//! [`BulkheadEvent`].

use std::time::Duration;

use hardy_core::Name;

/// What a [`Bulkhead`](crate::Bulkhead) tells its listener. Admissions without a wait
/// are not reported (they are the hot path; the metrics count them).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadEvent {
    /// A call was refused: the bulkhead and its queue were full, or its wait expired.
    Rejected {
        /// The bulkhead's name.
        name: Name,
        /// Calls running at the refusal.
        in_flight: usize,
        /// Calls waiting at the refusal.
        waiting: usize,
        /// How long the call waited before it was refused (zero: refused at once).
        waited: Duration,
    },
    /// A call that had to wait got a slot.
    AdmittedAfterWait {
        /// The bulkhead's name.
        name: Name,
        /// How long it waited.
        waited: Duration,
    },
    /// A limit was changed at run time.
    Resized {
        /// The bulkhead's name.
        name: Name,
        /// The new `max_concurrent`.
        max_concurrent: u32,
        /// The new `max_waiting`.
        max_waiting: u32,
    },
}

impl BulkheadEvent {
    /// The name of the bulkhead that emitted the event.
    pub fn name(&self) -> &Name {
        match self {
            BulkheadEvent::Rejected { name, .. }
            | BulkheadEvent::AdmittedAfterWait { name, .. }
            | BulkheadEvent::Resized { name, .. } => name,
        }
    }
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::bulkhead";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::bulkhead`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for BulkheadEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::INFO)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            BulkheadEvent::Rejected {
                name,
                in_flight,
                waiting,
                waited,
            } => tracing::debug!(
                target: TARGET, name = %name, in_flight, waiting, waited = ?waited,
                "call rejected by the bulkhead"
            ),
            BulkheadEvent::AdmittedAfterWait { name, waited } => tracing::trace!(
                target: TARGET, name = %name, waited = ?waited, "call admitted after a wait"
            ),
            BulkheadEvent::Resized {
                name,
                max_concurrent,
                max_waiting,
            } => tracing::info!(
                target: TARGET, name = %name, max_concurrent, max_waiting, "bulkhead resized"
            ),
        }
    }
}

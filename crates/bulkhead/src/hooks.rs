//! Hooks for `hardy::Pipeline`, which keeps one reference to all its handles and so
//! holds slots without a reference to their bulkhead. Not for direct use: take a
//! [`BulkheadPermit`](crate::BulkheadPermit), or call through the bulkhead or its layer.

use std::task::{Context, Poll};

use hardy_core::Rejection;
use hardy_core::admission::{Admission, Wait};

use crate::Bulkhead;
use crate::permit::Source;

/// A held slot without its bulkhead: the pipeline's per-call guard frees it with
/// [`release`](Self::release), on every path, drop included.
#[derive(Debug)]
#[must_use = "the slot is taken until it is released"]
pub struct Slot {
    source: Source,
}

impl Slot {
    /// Frees the slot on `bulkhead`, the one that granted it (for the first waiter, if
    /// any).
    #[inline(always)]
    pub fn release(self, bulkhead: &Bulkhead) {
        bulkhead.release(self.source);
    }

    /// Whether the slot is borrowed from the spare capacity of [`Partitions`](crate::Partitions).
    #[must_use]
    pub fn is_borrowed(&self) -> bool {
        self.source == Source::Spare
    }
}

/// A call's place in a bulkhead's queue, holding a clone of the bulkhead: ready with a
/// [`Slot`] once granted one, or refused once the wait runs out. Dropped before then, it
/// leaves the queue.
#[derive(Debug)]
#[must_use = "a queued call is polled until admitted, or dropped to leave the queue"]
pub struct Queued(Box<crate::wait::Queued<Bulkhead>>);

impl Wait for Queued {
    type Permit = Slot;

    fn poll_admit(&mut self, cx: &mut Context<'_>) -> Poll<Result<Slot, Rejection>> {
        self.0.poll_slot(cx).map_ok(|()| Slot {
            source: Source::Own,
        })
    }
}

/// Takes a slot of `bulkhead` now, queues for one (within the bulkhead's `max_waiting`
/// and `max_wait`), or says why not: [`Rejection::BulkheadFull`].
#[inline(always)]
pub fn admit(bulkhead: &Bulkhead) -> Admission<Slot, Queued> {
    match bulkhead.try_admit() {
        Some(source) => Admission::Now(Slot { source }),
        None => match bulkhead.admit_slow() {
            Admission::Now(source) => Admission::Now(Slot { source }),
            Admission::Later(pending) => Admission::Later(Queued(Box::new(
                crate::wait::Queued::new(bulkhead.clone(), pending),
            ))),
            Admission::Refused(rejection) => Admission::Refused(rejection),
        },
    }
}

//! The slots a call holds: [`BulkheadPermit`] (public) and the services' and direct
//! calls' `ServicePermit`.

use std::borrow::Borrow;
use std::fmt;

use crate::Bulkhead;

/// Where an admitted call's slot came from.
// A whole word: a one-byte tag left the permit fifteen bytes of padding, which moving a
// response future copied as two overlapping loads from the stores that had just built
// it (a store-forwarding stall).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Source {
    Own,
    Spare,
}

/// A held slot of a service's or a direct call's future, kept alive by `B`: the
/// service's own `Arc` of the bulkhead (so that services on different threads do not
/// contend on one reference count) or the direct call's borrow of it. Freed when the
/// call finishes, or when dropped.
#[derive(Debug)]
pub(crate) struct ServicePermit<B: Borrow<Bulkhead> = std::sync::Arc<Bulkhead>> {
    bulkhead: B,
    source: Source,
}

impl<B: Borrow<Bulkhead>> ServicePermit<B> {
    #[inline]
    pub(crate) fn new(bulkhead: B, source: Source) -> Self {
        ServicePermit { bulkhead, source }
    }
}

impl<B: Borrow<Bulkhead>> Drop for ServicePermit<B> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.borrow().release(self.source);
    }
}

/// A held slot of a [`Bulkhead`]: the call it admits may run. Dropping it frees the slot
/// (for the first waiter, if any).
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct BulkheadPermit {
    bulkhead: Bulkhead,
    source: Source,
}

impl BulkheadPermit {
    #[inline]
    pub(crate) fn new(bulkhead: Bulkhead, source: Source) -> Self {
        BulkheadPermit { bulkhead, source }
    }

    /// The bulkhead the slot belongs to.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }

    /// Whether the slot is borrowed from the spare capacity of [`Partitions`](crate::Partitions).
    pub fn is_borrowed(&self) -> bool {
        self.source == Source::Spare
    }
}

impl Drop for BulkheadPermit {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.release(self.source);
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.bulkhead().name())
            .field("borrowed", &self.is_borrowed())
            .finish()
    }
}

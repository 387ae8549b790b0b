//! What an admitted call holds: its [`Pass`] (generation and probe flag), and the
//! guards that record it or free a probe's slot: [`Permit`] (the breaker's own futures)
//! and [`Ticket`] (the pipeline's, without the breaker).

use std::fmt;

use hardy_core::{Outcome, Rejection};

use crate::CircuitBreaker;

/// What a call reaches its breaker through: a borrow of the handle (direct calls, which
/// then take no reference), or the service's own `Arc` (tower), so that services on
/// different threads do not contend on one reference count.
pub(crate) trait Owner: fmt::Debug {
    fn breaker(&self) -> &CircuitBreaker;
}

impl Owner for CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

impl Owner for &CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

impl Owner for std::sync::Arc<CircuitBreaker> {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

/// An admitted call: the generation it was admitted in and whether it is a probe (and
/// not yet recorded), in one word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pass {
    /// Generation in the high 32 bits, the probe flag in bit 0.
    word: u64,
}

const PROBE: u64 = 1;
/// The admission word of a permit whose call is recorded: no admission has bit 1 set.
const SPENT: u64 = 2;

impl Pass {
    pub(crate) fn new(generation: u32, probe: bool) -> Self {
        Pass {
            word: (u64::from(generation) << 32) | u64::from(probe),
        }
    }

    pub(crate) fn generation(self) -> u32 {
        (self.word >> 32) as u32
    }

    pub(crate) fn probe(self) -> bool {
        self.word & PROBE != 0
    }
}

/// An admitted call's right to run and duty to be recorded, without a reference to its
/// breaker: `hardy::Pipeline`'s future keeps the breaker and hands it to
/// [`record`](Self::record) when the attempt ends, or to [`release`](Self::release)
/// when it is dropped unrecorded, on every path. The breaker's own futures hold a
/// guard that does the same on drop.
#[derive(Debug)]
#[must_use = "a ticket is recorded or released"]
pub struct Ticket {
    admission: Pass,
    /// When the call started, in nanoseconds since the breaker's epoch, when slow calls
    /// are detected; `NOT_TIMED` otherwise.
    started: u64,
}

impl Ticket {
    /// Admits a call to `breaker` (and starts its clock, if slow calls are detected), or
    /// says why not: [`Rejection::CircuitOpen`].
    #[inline(always)]
    pub fn admit(breaker: &CircuitBreaker) -> Result<Ticket, Rejection> {
        let admission = breaker.try_acquire()?;
        Ok(Ticket::new(breaker, admission))
    }

    #[inline(always)]
    fn new(breaker: &CircuitBreaker, admission: Pass) -> Self {
        Ticket {
            started: breaker.call_started(),
            admission,
        }
    }

    /// Records the call's outcome on `breaker`, the breaker that admitted it, once: a
    /// ticket recorded or released records nothing more.
    #[inline(always)]
    pub fn record(&mut self, breaker: &CircuitBreaker, outcome: Outcome) {
        let admission = self.admission;
        if admission.word == SPENT {
            return;
        }
        // Recorded: releasing the ticket now must not free a probe slot.
        self.admission.word = SPENT;
        breaker.record(admission, self.started, outcome);
    }

    /// Lets go of a call that ends unrecorded: a probe's slot is freed for another
    /// probe. Nothing happens for a ticket already recorded or released.
    #[inline]
    pub fn release(&mut self, breaker: &CircuitBreaker) {
        let admission = self.admission;
        self.admission.word = SPENT;
        if admission.word != SPENT && admission.probe() {
            breaker.release_probe(admission.generation());
        }
    }

    /// Whether the ticket is recorded or released.
    #[must_use]
    pub fn is_spent(&self) -> bool {
        self.admission.word == SPENT
    }
}

/// A [`Ticket`] and what keeps its breaker alive. Dropping it unrecorded (the call was
/// cancelled or panicked) frees a probe slot.
#[derive(Debug)]
pub(crate) struct Permit<O: Owner> {
    breaker: O,
    ticket: Ticket,
}

impl<O: Owner> Permit<O> {
    #[inline]
    pub(crate) fn new(breaker: O, admission: Pass) -> Self {
        Permit {
            ticket: Ticket::new(breaker.breaker(), admission),
            breaker,
        }
    }

    /// Records the call's outcome, once; the permit is then spent, and dropping it frees
    /// nothing. Futures record through this rather than moving the permit out:
    /// a moved permit is copied in wide loads from the narrow stores that built it,
    /// which stalls the processor's store forwarding.
    #[inline(always)]
    pub(crate) fn record(&mut self, outcome: Outcome) {
        self.ticket.record(self.breaker.breaker(), outcome);
    }
}

impl<O: Owner> Drop for Permit<O> {
    fn drop(&mut self) {
        if self.ticket.admission.probe() {
            self.ticket.release(self.breaker.breaker());
        }
    }
}

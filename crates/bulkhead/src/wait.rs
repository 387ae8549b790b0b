//! [`Queued`]: a call's place in a bulkhead's queue, until a slot is granted, the wait
//! runs out, or the place is given up (dropped).

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hardy_core::Rejection;
use hardy_core::admission::{Wait, Waiter};
use tokio::time::{Instant, Sleep};

use crate::Bulkhead;
use crate::permit::{ServicePermit, Source};
use crate::sync::Arc;

/// A place in the queue just taken, not yet kept with its bulkhead.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) waiter: Arc<Waiter>,
    pub(crate) started: Instant,
    pub(crate) max_wait: std::time::Duration,
}

/// A call waiting for a slot of the bulkhead `B` keeps alive (an `Arc`, a clone or a
/// borrow): its place in the queue and its deadline. Dropped before it is settled, it
/// leaves the queue, and a slot granted meanwhile goes to the next waiter.
pub(crate) struct Queued<B: Borrow<Bulkhead>> {
    bulkhead: B,
    waiter: Arc<Waiter>,
    /// Boxed: a queued call's future then grows by a pointer, not by a timer.
    sleep: Pin<Box<Sleep>>,
    started: Instant,
    settled: bool,
}

impl<B: Borrow<Bulkhead>> Queued<B> {
    pub(crate) fn new(bulkhead: B, pending: Pending) -> Self {
        Queued {
            bulkhead,
            waiter: pending.waiter,
            sleep: Box::pin(tokio::time::sleep_until(pending.started + pending.max_wait)),
            started: pending.started,
            settled: false,
        }
    }

    /// Ready once a slot is granted, or with [`Rejection::BulkheadFull`] once the wait
    /// runs out.
    pub(crate) fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Rejection>> {
        assert!(!self.settled, "bulkhead wait polled after completion");
        let bulkhead = self.bulkhead.borrow();
        if self.waiter.poll_granted(cx).is_ready() {
            self.settled = true;
            bulkhead.admitted_after(self.started.elapsed());
            return Poll::Ready(Ok(()));
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.settled = true;
        let waited = self.started.elapsed();
        if bulkhead.leave_queue(&self.waiter) {
            // Granted as the wait ran out: take it.
            bulkhead.admitted_after(waited);
            return Poll::Ready(Ok(()));
        }
        bulkhead.stopped_waiting();
        Poll::Ready(Err(bulkhead.refuse(waited)))
    }
}

impl<B: Borrow<Bulkhead> + Clone> Wait for Queued<B> {
    type Permit = ServicePermit<B>;

    fn poll_admit(&mut self, cx: &mut Context<'_>) -> Poll<Result<ServicePermit<B>, Rejection>> {
        self.poll_slot(cx)
            .map_ok(|()| ServicePermit::new(self.bulkhead.clone(), Source::Own))
    }
}

impl<B: Borrow<Bulkhead>> Drop for Queued<B> {
    fn drop(&mut self) {
        if !self.settled {
            let bulkhead = self.bulkhead.borrow();
            bulkhead.stopped_waiting();
            if bulkhead.leave_queue(&self.waiter) {
                bulkhead.release(Source::Own);
            }
        }
    }
}

impl<B: Borrow<Bulkhead>> fmt::Debug for Queued<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queued")
            .field("bulkhead", self.bulkhead.borrow().name())
            .field("started", &self.started)
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

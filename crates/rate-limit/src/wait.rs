//! [`Turn`]: a call's reserved turn, and the sleep until it comes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::Rejection;
use hardy_core::admission::Wait;
use tokio::time::{Instant, Sleep};

/// Gives a reserved turn back; run when a waiting call is dropped before its turn.
pub(crate) type Refund = Box<dyn FnOnce() + Send + Sync>;

/// A call's reserved turn: completes when the turn comes. Dropped before then, it gives
/// the turn back (unless a later call has reserved one since).
#[must_use = "futures do nothing unless polled"]
pub struct Turn {
    sleep: Pin<Box<Sleep>>,
    refund: Option<Refund>,
}

impl Turn {
    pub(crate) fn new(until: Instant, refund: Refund) -> Self {
        Turn {
            sleep: Box::pin(tokio::time::sleep_until(until)),
            refund: Some(refund),
        }
    }
}

impl Future for Turn {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        ready!(self.sleep.as_mut().poll(cx));
        // The turn has come: it is used, whatever happens next.
        self.refund = None;
        Poll::Ready(())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(refund) = self.refund.take() {
            refund();
        }
    }
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn")
            .field("until", &self.sleep.deadline())
            .field("reserved", &self.refund.is_some())
            .finish()
    }
}

/// A rate limit's wait for admission is its turn: nothing is held once it has come.
impl Wait for Turn {
    type Permit = ();

    fn poll_admit(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Rejection>> {
        Pin::new(self).poll(cx).map(Ok)
    }
}

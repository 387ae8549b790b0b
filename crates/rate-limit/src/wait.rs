//! [`Wait`]: a call's reserved turn, and the sleep until it comes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::time::{Instant, Sleep};

/// Gives a reserved turn back; run when a waiting call is dropped before its turn.
pub(crate) type Refund = Box<dyn FnOnce() + Send + Sync>;

/// A call waiting for its reserved turn. Completes at the turn; dropped before then, it
/// gives the turn back (when no later call reserved one since).
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Wait {
    sleep: Pin<Box<Sleep>>,
    refund: Option<Refund>,
}

impl Wait {
    pub(crate) fn new(until: Instant, refund: Refund) -> Self {
        Wait {
            sleep: Box::pin(tokio::time::sleep_until(until)),
            refund: Some(refund),
        }
    }
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        ready!(self.sleep.as_mut().poll(cx));
        // The turn has come: it is used, whatever happens next.
        self.refund = None;
        Poll::Ready(())
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(refund) = self.refund.take() {
            refund();
        }
    }
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("until", &self.sleep.deadline())
            .field("reserved", &self.refund.is_some())
            .finish()
    }
}

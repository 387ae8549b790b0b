//! [`Turn`]: a call's reserved turn, and the sleep until it comes; or, for a limiter
//! whose turns are decided by a shared store, the round trip that decides.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::Rejection;
use hardy_core::admission::Wait;
use sync_wrapper::SyncWrapper;
use tokio::time::{Instant, Sleep};

/// Gives a reserved turn back; run when a waiting call is dropped before its turn.
pub(crate) type Refund = Box<dyn FnOnce() + Send + Sync>;

/// The decision a shared store is making: admitted (after any wait it asked for) or
/// refused.
pub(crate) type Deciding = Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send>>;

/// A call's turn: completes when the turn comes. A turn reserved in the process and
/// dropped before it comes is given back (unless a later call has reserved one since);
/// a turn a shared store is deciding may end in a refusal.
#[must_use = "futures do nothing unless polled"]
pub struct Turn {
    inner: Inner,
}

enum Inner {
    /// Reserved here: the sleep until it comes.
    Reserved {
        sleep: Pin<Box<Sleep>>,
        refund: Option<Refund>,
    },
    /// Being decided by a shared store.
    Deciding(SyncWrapper<Deciding>),
}

impl Turn {
    pub(crate) fn new(until: Instant, refund: Refund) -> Self {
        Turn {
            inner: Inner::Reserved {
                sleep: Box::pin(tokio::time::sleep_until(until)),
                refund: Some(refund),
            },
        }
    }

    pub(crate) fn deciding(decision: Deciding) -> Self {
        Turn {
            inner: Inner::Deciding(SyncWrapper::new(decision)),
        }
    }
}

impl Future for Turn {
    type Output = Result<(), Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            Inner::Reserved { sleep, refund } => {
                ready!(sleep.as_mut().poll(cx));
                // The turn has come: it is used, whatever happens next.
                *refund = None;
                Poll::Ready(Ok(()))
            }
            Inner::Deciding(decision) => decision.get_mut().as_mut().poll(cx),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Inner::Reserved { refund, .. } = &mut self.inner
            && let Some(refund) = refund.take()
        {
            refund();
        }
    }
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Reserved { sleep, refund } => f
                .debug_struct("Turn")
                .field("until", &sleep.deadline())
                .field("reserved", &refund.is_some())
                .finish(),
            Inner::Deciding(_) => f.debug_struct("Turn").field("deciding", &true).finish(),
        }
    }
}

/// A rate limit's wait for admission is its turn: nothing is held once it has come.
impl Wait for Turn {
    type Permit = ();

    fn poll_admit(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Rejection>> {
        Pin::new(self).poll(cx)
    }
}

//! [`Waiting`]: a call's place in a load shedder's queue, until a slot is granted, the
//! wait runs out, or the place is given up (dropped).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hardy_core::admission::{Wait, Waiter};
use hardy_core::{Rejection, ShedReason};
use tokio::time::Sleep;

use crate::LoadShedder;
use crate::permit::{LoadShedPermit, Measured};
use crate::state::Shared;
use crate::sync::Arc;

/// A call waiting in the queue for a slot, until its deadline.
pub(crate) struct Waiting {
    shared: Arc<Shared>,
    waiter: Arc<Waiter>,
    deadline: Pin<Box<Sleep>>,
    level: u8,
    client: u64,
    done: bool,
}

impl Waiting {
    pub(crate) fn new(
        shared: Arc<Shared>,
        waiter: Arc<Waiter>,
        wait: Duration,
        level: u8,
        client: u64,
    ) -> Self {
        Waiting {
            shared,
            waiter,
            deadline: Box::pin(tokio::time::sleep(wait)),
            level,
            client,
            done: false,
        }
    }

    /// Ready with a permit once granted a slot, or with [`ShedReason::QueueDelay`] once
    /// the deadline passes.
    pub(crate) fn poll_admit(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<LoadShedPermit, Rejection>> {
        if self.done {
            panic!("load shedder wait polled after completion");
        }
        if self.waiter.poll_granted(cx).is_ready() {
            return Poll::Ready(Ok(self.granted()));
        }
        ready!(self.deadline.as_mut().poll(cx));
        let now = self.shared.now();
        if self.shared.gate.cancel(&self.waiter, now) {
            return Poll::Ready(Ok(self.granted()));
        }
        self.done = true;
        self.shared.leave(self.client);
        Poll::Ready(Err(self.shared.shed(ShedReason::QueueDelay, self.level)))
    }

    fn granted(&mut self) -> LoadShedPermit {
        self.done = true;
        LoadShedPermit::new(Arc::clone(&self.shared), self.client)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let now = self.shared.now();
        if self.shared.gate.cancel(&self.waiter, now) {
            // Granted as it was dropped: the slot goes to the next waiter.
            self.shared.gate.release(|| now);
        }
        self.shared.leave(self.client);
    }
}

/// A service call's wait: once granted, its slot is held through the service's
/// reference to the shedder, with the classifier that will judge the call.
pub(crate) struct ServiceWait<C> {
    pub(crate) waiting: Box<Waiting>,
    pub(crate) shedder: std::sync::Arc<LoadShedder>,
    pub(crate) classifier: Option<C>,
}

impl<C> Wait for ServiceWait<C> {
    type Permit = Measured<C>;

    fn poll_admit(&mut self, cx: &mut Context<'_>) -> Poll<Result<Measured<C>, Rejection>> {
        let permit = ready!(self.waiting.poll_admit(cx))?;
        Poll::Ready(Ok(Measured {
            permit: permit.into_call(std::sync::Arc::clone(&self.shedder)),
            classifier: self
                .classifier
                .take()
                .expect("the classifier is kept until the call is admitted"),
        }))
    }
}

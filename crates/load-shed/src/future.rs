//! The futures of a call through a load shedder: [`ResponseFuture`] (tower),
//! [`CallFuture`] (direct) and [`AcquireFuture`] (a permit).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hardy_core::{Classify, Error, Rejection, ShedReason};
use pin_project::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::shedder::{Admission, CallPermit, Shared};
use crate::state::Waiter;
use crate::sync::Arc;
use crate::{CallInfo, LoadShedPermit, LoadShedder};

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

/// The future of [`LoadShedder::acquire`]: a permit, or [`Rejection::Shed`].
///
/// # Cancel safety
///
/// Dropping it while it waits leaves the queue (a slot handed to it meanwhile goes to
/// the next waiter).
#[must_use = "futures do nothing unless polled"]
pub struct AcquireFuture {
    admission: Option<Admission>,
}

impl AcquireFuture {
    pub(crate) fn new(admission: Admission) -> Self {
        AcquireFuture {
            admission: Some(admission),
        }
    }
}

impl Future for AcquireFuture {
    type Output = Result<LoadShedPermit, Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(Admission::Wait(waiting)) = &mut self.admission {
            let result = ready!(waiting.poll_admit(cx));
            self.admission = None;
            return Poll::Ready(result);
        }
        match self.admission.take() {
            Some(Admission::Now(permit)) => Poll::Ready(Ok(permit)),
            Some(Admission::Shed(rejection)) => Poll::Ready(Err(rejection)),
            Some(Admission::Wait(_)) | None => {
                panic!("load shedder acquire polled after completion")
            }
        }
    }
}

impl std::fmt::Debug for AcquireFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.admission {
            Some(Admission::Now(_)) => "admitted",
            Some(Admission::Wait(_)) => "waiting",
            Some(Admission::Shed(_)) => "shed",
            None => "done",
        };
        f.debug_struct("AcquireFuture")
            .field("state", &state)
            .finish()
    }
}

#[pin_project(project = StateProj)]
enum State<S, Req, F, C, E> {
    /// Admitted: the inner call runs, holding its slot.
    Running {
        #[pin]
        future: F,
        permit: CallPermit,
        classifier: C,
    },
    /// Waiting for a slot, with the service's reference to the shedder, the readied
    /// service and the request.
    Waiting {
        waiting: Box<Waiting>,
        shedder: std::sync::Arc<LoadShedder>,
        service: S,
        request: Option<Req>,
        classifier: Option<C>,
    },
    /// Shed: the rejection, already made the service's error (so the state holds no
    /// large enum of its own).
    Shed { error: Option<E> },
}

/// The response future of a [`LoadShedService`](crate::LoadShedService): the inner
/// service's response, or its error type made from [`Rejection::Shed`].
///
/// # Cancel safety
///
/// Dropping it while it waits leaves the queue; while the inner call runs, drops the
/// call and frees the slot without measuring it. A finished call frees its slot and is
/// measured at once, before the future is dropped.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    #[pin]
    state: State<S, Req, S::Future, C, S::Error>,
}

impl<S, Req, C> ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    #[inline(always)]
    pub(crate) fn running(future: S::Future, permit: CallPermit, classifier: C) -> Self {
        ResponseFuture {
            state: State::Running {
                future,
                permit,
                classifier,
            },
        }
    }

    pub(crate) fn waiting(
        waiting: Box<Waiting>,
        shedder: std::sync::Arc<LoadShedder>,
        service: S,
        request: Req,
        classifier: C,
    ) -> Self {
        ResponseFuture {
            state: State::Waiting {
                waiting,
                shedder,
                service,
                request: Some(request),
                classifier: Some(classifier),
            },
        }
    }

    pub(crate) fn shed(rejection: Rejection) -> Self
    where
        S::Error: From<Rejection>,
    {
        ResponseFuture {
            state: State::Shed {
                error: Some(rejection.into()),
            },
        }
    }
}

impl<S, Req, C> Future for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
    C: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Running {
                    future,
                    permit,
                    classifier,
                } => {
                    assert!(
                        !permit.is_spent(),
                        "load shedder future polled after completion"
                    );
                    let output = ready!(future.poll(cx));
                    // Frees the slot as soon as the call is done, not when the future is
                    // dropped. The state stays: setting it would run the drop code of
                    // every state, out of line.
                    permit.complete(classifier, &output);
                    return Poll::Ready(output);
                }
                StateProj::Waiting {
                    waiting,
                    shedder,
                    service,
                    request,
                    classifier,
                } => {
                    let next = match ready!(waiting.poll_admit(cx)) {
                        Ok(permit) => State::Running {
                            future: service.call(
                                request
                                    .take()
                                    .expect("the request is kept until the call is admitted"),
                            ),
                            permit: permit.into_call(std::sync::Arc::clone(shedder)),
                            classifier: classifier
                                .take()
                                .expect("the classifier is kept until the call is admitted"),
                        },
                        Err(rejection) => State::Shed {
                            error: Some(rejection.into()),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Shed { error } => {
                    let error = error
                        .take()
                        .expect("load shedder future polled after completion");
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

impl<S, Req, C> std::fmt::Debug for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Running { permit, .. } if permit.is_spent() => "done",
            State::Running { .. } => "running",
            State::Waiting { .. } => "waiting",
            State::Shed { .. } => "shed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

#[pin_project(project = CallProj)]
enum CallState<'a, F, Fut, C> {
    Start {
        operation: Option<F>,
        classifier: Option<C>,
    },
    Waiting {
        waiting: Box<Waiting>,
        operation: Option<F>,
        classifier: Option<C>,
    },
    Running {
        #[pin]
        future: Fut,
        permit: CallPermit<&'a LoadShedder>,
        classifier: C,
    },
    Done,
}

/// The future of a direct [`LoadShedder::call`]: `Result<T, hardy_core::Error<E>>` for
/// an operation returning `Result<T, E>`. Admission happens at the first poll.
///
/// It borrows the shedder, as Tokio's semaphore futures borrow theirs, so a call takes
/// no reference count; a call that must outlive the borrow (a spawned task) moves a
/// clone of the handle in with it.
///
/// # Cancel safety
///
/// Dropping it while it waits leaves the queue; while the operation runs, drops it and
/// frees the slot without measuring the call.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<'a, F, Fut, C> {
    shedder: &'a LoadShedder,
    info: CallInfo,
    #[pin]
    state: CallState<'a, F, Fut, C>,
}

impl<'a, F, Fut, C> CallFuture<'a, F, Fut, C> {
    pub(crate) fn new(
        shedder: &'a LoadShedder,
        info: CallInfo,
        operation: F,
        classifier: C,
    ) -> Self {
        CallFuture {
            shedder,
            info,
            state: CallState::Start {
                operation: Some(operation),
                classifier: Some(classifier),
            },
        }
    }
}

impl<F, Fut, T, E, C> Future for CallFuture<'_, F, Fut, C>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let shedder: &LoadShedder = this.shedder;
        loop {
            match this.state.as_mut().project() {
                CallProj::Start {
                    operation,
                    classifier,
                } => {
                    let operation = operation
                        .take()
                        .expect("load shedder call polled after completion");
                    let classifier = classifier
                        .take()
                        .expect("load shedder call polled after completion");
                    let next = if shedder.admit_fast(this.info) {
                        CallState::Running {
                            future: operation(),
                            permit: CallPermit::new(shedder, 0),
                            classifier,
                        }
                    } else {
                        match shedder.admit(*this.info) {
                            Admission::Now(permit) => CallState::Running {
                                future: operation(),
                                permit: permit.into_call(shedder),
                                classifier,
                            },
                            Admission::Wait(waiting) => CallState::Waiting {
                                waiting,
                                operation: Some(operation),
                                classifier: Some(classifier),
                            },
                            Admission::Shed(rejection) => {
                                this.state.set(CallState::Done);
                                return Poll::Ready(Err(Error::Rejected(rejection)));
                            }
                        }
                    };
                    this.state.set(next);
                }
                CallProj::Waiting {
                    waiting,
                    operation,
                    classifier,
                } => match ready!(waiting.poll_admit(cx)) {
                    Ok(permit) => {
                        let operation = operation
                            .take()
                            .expect("the operation is kept until the call is admitted");
                        let classifier = classifier
                            .take()
                            .expect("the classifier is kept until the call is admitted");
                        this.state.set(CallState::Running {
                            future: operation(),
                            permit: permit.into_call(shedder),
                            classifier,
                        });
                    }
                    Err(rejection) => {
                        this.state.set(CallState::Done);
                        return Poll::Ready(Err(Error::Rejected(rejection)));
                    }
                },
                CallProj::Running {
                    future,
                    permit,
                    classifier,
                } => {
                    let result = ready!(future.poll(cx));
                    permit.complete(classifier, &result);
                    this.state.set(CallState::Done);
                    return Poll::Ready(result.map_err(Error::Inner));
                }
                CallProj::Done => panic!("load shedder call polled after completion"),
            }
        }
    }
}

impl<F, Fut, C> std::fmt::Debug for CallFuture<'_, F, Fut, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            CallState::Start { .. } => "start",
            CallState::Waiting { .. } => "waiting",
            CallState::Running { .. } => "running",
            CallState::Done => "done",
        };
        f.debug_struct("CallFuture")
            .field("shedder", self.shedder.name())
            .field("state", &state)
            .finish()
    }
}

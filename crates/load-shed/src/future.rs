//! The futures of a call through a load shedder: [`ResponseFuture`] (tower),
//! [`CallFuture`] (direct) and [`AcquireFuture`] (a permit).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::admission::{self, Admission};
use hardy_core::{Classify, Error, Rejection};
use pin_project::pin_project;
use tower_service::Service;

use crate::admit::{self, ShedAdmission};
use crate::permit::{CallPermit, LoadShedPermit, Measured};
use crate::wait::{ServiceWait, Waiting};
use crate::{CallInfo, LoadShedder};

/// The future of [`LoadShedder::acquire`]: a permit, or [`Rejection::Shed`].
///
/// # Cancel safety
///
/// Dropping it while it waits leaves the queue (a slot handed to it meanwhile goes to
/// the next waiter).
#[must_use = "futures do nothing unless polled"]
pub struct AcquireFuture {
    admission: Option<ShedAdmission>,
}

impl AcquireFuture {
    pub(crate) fn new(admission: ShedAdmission) -> Self {
        AcquireFuture {
            admission: Some(admission),
        }
    }
}

impl Future for AcquireFuture {
    type Output = Result<LoadShedPermit, Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(Admission::Later(waiting)) = &mut self.admission {
            let result = ready!(waiting.poll_admit(cx));
            self.admission = None;
            return Poll::Ready(result);
        }
        match self.admission.take() {
            Some(Admission::Now(permit)) => Poll::Ready(Ok(permit)),
            Some(Admission::Refused(rejection)) => Poll::Ready(Err(rejection)),
            Some(Admission::Later(_)) | None => {
                panic!("load shedder acquire polled after completion")
            }
        }
    }
}

impl std::fmt::Debug for AcquireFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.admission {
            Some(Admission::Now(_)) => "admitted",
            Some(Admission::Later(_)) => "waiting",
            Some(Admission::Refused(_)) => "shed",
            None => "done",
        };
        f.debug_struct("AcquireFuture")
            .field("state", &state)
            .finish()
    }
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
    inner: admission::ResponseFuture<S, Req, ServiceWait<C>>,
}

impl<S, Req, C> ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    #[inline(always)]
    pub(crate) fn running(future: S::Future, permit: CallPermit, classifier: C) -> Self {
        ResponseFuture {
            inner: admission::ResponseFuture::running(future, Measured { permit, classifier }),
        }
    }

    pub(crate) fn waiting(
        waiting: Box<Waiting>,
        shedder: std::sync::Arc<LoadShedder>,
        service: S,
        request: Req,
        classifier: C,
    ) -> Self {
        let wait = ServiceWait {
            waiting,
            shedder,
            classifier: Some(classifier),
        };
        ResponseFuture {
            inner: admission::ResponseFuture::waiting(wait, service, request),
        }
    }

    pub(crate) fn shed(rejection: Rejection) -> Self
    where
        S::Error: From<Rejection>,
    {
        ResponseFuture {
            inner: admission::ResponseFuture::rejected(rejection),
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

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<S, Req, C> std::fmt::Debug for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
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
                    let next = if admit::admit_fast(&shedder.shared, this.info) {
                        CallState::Running {
                            future: operation(),
                            permit: CallPermit::new(shedder, 0),
                            classifier,
                        }
                    } else {
                        match admit::admit(&shedder.shared, *this.info) {
                            Admission::Now(permit) => CallState::Running {
                                future: operation(),
                                permit: permit.into_call(shedder),
                                classifier,
                            },
                            Admission::Later(waiting) => CallState::Waiting {
                                waiting,
                                operation: Some(operation),
                                classifier: Some(classifier),
                            },
                            Admission::Refused(rejection) => {
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

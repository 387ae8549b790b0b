//! The futures of a call through a bulkhead: [`ResponseFuture`] (tower) and
//! [`CallFuture`] (direct).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::admission::{Admission, Wait};
use hardy_core::{Error, Rejection};
use pin_project::pin_project;
use tower_service::Service;

use crate::Bulkhead;
use crate::permit::{ServicePermit, Source};
use crate::wait::Queued;
use std::sync::Arc;

#[pin_project(project = StateProj)]
enum State<S, Req, F> {
    /// Admitted: the inner call runs, holding its slot until it finishes (`None`
    /// after).
    Running {
        #[pin]
        future: F,
        permit: Option<ServicePermit>,
    },
    /// Waiting for a slot, with the readied service and the request.
    Waiting {
        queued: Box<Queued<Arc<Bulkhead>>>,
        service: S,
        request: Option<Req>,
    },
    /// Refused.
    Rejected { rejection: Option<Rejection> },
}

/// The response future of a [`BulkheadService`](crate::BulkheadService): the inner
/// service's response, or its error type made from [`Rejection::BulkheadFull`].
///
/// # Cancel safety
///
/// Dropping it while it waits leaves the queue (a slot handed to it meanwhile goes to
/// the next waiter); while the inner call runs, drops the call and frees the slot. A
/// finished call frees its slot at once, before the future is dropped.
// The bulkhead's own form of `hardy_core::admission::ResponseFuture`, which the rate
// limit and the load shedder use: built through that one, a bulkhead call's future was
// written to a temporary and copied, 15 to 21 ns per call (see docs/benchmarks.md).
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    #[pin]
    state: State<S, Req, S::Future>,
}

impl<S, Req> ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    #[inline]
    pub(crate) fn running(future: S::Future, permit: ServicePermit) -> Self {
        ResponseFuture {
            state: State::Running {
                future,
                permit: Some(permit),
            },
        }
    }

    pub(crate) fn waiting(queued: Queued<Arc<Bulkhead>>, service: S, request: Req) -> Self {
        ResponseFuture {
            state: State::Waiting {
                queued: Box::new(queued),
                service,
                request: Some(request),
            },
        }
    }

    pub(crate) fn rejected(rejection: Rejection) -> Self {
        ResponseFuture {
            state: State::Rejected {
                rejection: Some(rejection),
            },
        }
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Running { future, permit } => {
                    assert!(permit.is_some(), "bulkhead future polled after completion");
                    let output = ready!(future.poll(cx));
                    // Free the slot as soon as the call is done, not when the future is
                    // dropped. Dropped in place: setting the whole state would run the
                    // drop code of every state, out of line.
                    *permit = None;
                    return Poll::Ready(output);
                }
                StateProj::Waiting {
                    queued,
                    service,
                    request,
                } => {
                    let next = match ready!(queued.poll_admit(cx)) {
                        Ok(permit) => {
                            let request = request
                                .take()
                                .expect("the request is kept until the call is admitted");
                            State::Running {
                                future: service.call(request),
                                permit: Some(permit),
                            }
                        }
                        Err(rejection) => State::Rejected {
                            rejection: Some(rejection),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Rejected { rejection } => {
                    let rejection = rejection
                        .take()
                        .expect("bulkhead future polled after completion");
                    return Poll::Ready(Err(rejection.into()));
                }
            }
        }
    }
}

impl<S, Req> std::fmt::Debug for ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Running {
                permit: Some(_), ..
            } => "running",
            State::Running { permit: None, .. } => "done",
            State::Waiting { .. } => "waiting",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

#[pin_project(project = CallProj)]
enum CallState<'a, F, Fut> {
    Start {
        operation: Option<F>,
    },
    Waiting {
        queued: Queued<&'a Bulkhead>,
        operation: Option<F>,
    },
    Running {
        #[pin]
        future: Fut,
        permit: ServicePermit<&'a Bulkhead>,
    },
    Done,
}

/// The future of a direct [`Bulkhead::call`]: `Result<T, hardy_core::Error<E>>` for an
/// operation returning `Result<T, E>`. Admission happens at the first poll.
///
/// It borrows the bulkhead, as Tokio's semaphore futures borrow theirs, so a call takes
/// no reference count; a call that must outlive the borrow (a spawned task) moves a
/// clone of the handle in with it.
///
/// # Cancel safety
///
/// Dropping it while it waits leaves the queue; while the operation runs, drops it and
/// frees the slot.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<'a, F, Fut> {
    bulkhead: &'a Bulkhead,
    #[pin]
    state: CallState<'a, F, Fut>,
}

impl<'a, F, Fut> CallFuture<'a, F, Fut> {
    pub(crate) fn new(bulkhead: &'a Bulkhead, operation: F) -> Self {
        CallFuture {
            bulkhead,
            state: CallState::Start {
                operation: Some(operation),
            },
        }
    }
}

impl<F, Fut, T, E> Future for CallFuture<'_, F, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let bulkhead: &Bulkhead = this.bulkhead;
        loop {
            match this.state.as_mut().project() {
                CallProj::Start { operation } => {
                    let operation = operation
                        .take()
                        .expect("bulkhead call polled after completion");
                    let next = match bulkhead.admit() {
                        Admission::Now(source) => CallState::Running {
                            future: operation(),
                            permit: ServicePermit::new(bulkhead, source),
                        },
                        Admission::Later(pending) => CallState::Waiting {
                            queued: Queued::new(bulkhead, pending),
                            operation: Some(operation),
                        },
                        Admission::Refused(rejection) => {
                            this.state.set(CallState::Done);
                            return Poll::Ready(Err(Error::Rejected(rejection)));
                        }
                    };
                    this.state.set(next);
                }
                CallProj::Waiting { queued, operation } => match ready!(queued.poll_slot(cx)) {
                    Ok(()) => {
                        let operation = operation
                            .take()
                            .expect("the operation is kept until the call is admitted");
                        this.state.set(CallState::Running {
                            future: operation(),
                            permit: ServicePermit::new(bulkhead, Source::Own),
                        });
                    }
                    Err(rejection) => {
                        this.state.set(CallState::Done);
                        return Poll::Ready(Err(Error::Rejected(rejection)));
                    }
                },
                CallProj::Running { future, .. } => {
                    let result = ready!(future.poll(cx));
                    // Free the slot as soon as the operation is done.
                    this.state.set(CallState::Done);
                    return Poll::Ready(result.map_err(Error::Inner));
                }
                CallProj::Done => panic!("bulkhead call polled after completion"),
            }
        }
    }
}

impl<F, Fut> std::fmt::Debug for CallFuture<'_, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            CallState::Start { .. } => "start",
            CallState::Waiting { .. } => "waiting",
            CallState::Running { .. } => "running",
            CallState::Done => "done",
        };
        f.debug_struct("CallFuture")
            .field("bulkhead", self.bulkhead.name())
            .field("state", &state)
            .finish()
    }
}

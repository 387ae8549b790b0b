//! [`ResponseFuture`]: wait for admission if told to, then call the inner service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project::pin_project;
use tower_service::Service;

use crate::Rejection;

/// A call's wait for admission: polled until it is admitted, with what the call then
/// holds, or refused. Dropping it before then gives its place up (leaves the queue, or
/// gives a reserved turn back).
pub trait Wait {
    /// What the call holds once admitted.
    type Permit;

    /// Ready with the permit once admitted, or with the rejection once the wait is
    /// refused (it ran out).
    fn poll_admit(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::Permit, Rejection>>;
}

/// A boxed wait waits as the wait inside: a future that keeps its wait boxed carries a
/// pointer, not the wait, on the path of calls admitted at once.
impl<W: Wait + ?Sized> Wait for Box<W> {
    type Permit = W::Permit;

    #[inline]
    fn poll_admit(&mut self, cx: &mut Context<'_>) -> Poll<Result<W::Permit, Rejection>> {
        (**self).poll_admit(cx)
    }
}

/// What an admitted call holds while the inner call runs: [`finish`](Self::finish)ed
/// with the call's output when it ends (a slot is freed there, a latency measured),
/// and dropped with the future either way, so that a cancelled call releases it too.
pub trait Hold<T> {
    /// The call ended with `output`.
    fn finish(&mut self, output: &T);

    /// Whether [`finish`](Self::finish) has run: the future is then done, and a poll
    /// of it panics. Never, by default (nothing to tell).
    fn is_finished(&self) -> bool {
        false
    }
}

/// Nothing to hold: a rate limit's turn is spent once the call starts.
impl<T> Hold<T> for () {
    #[inline(always)]
    fn finish(&mut self, _: &T) {}
}

#[pin_project(project = StateProj)]
// A whole word for the tag: with a niche or a one-byte tag, the narrow store that sets
// it is read back by the wide loads that move the future, a store-forwarding stall on
// every call.
#[repr(u64)]
enum State<S, Req, F, W: Wait, E> {
    /// Admitted: the inner call runs, holding what its admission granted.
    Running {
        #[pin]
        future: F,
        hold: W::Permit,
    },
    /// Waiting for admission, with the readied service and the request.
    Waiting {
        wait: W,
        call: Option<Box<(S, Req)>>,
    },
    /// Refused: the rejection, already made the service's error.
    Rejected { error: Option<E> },
}

/// The response future of an admission layer (a bulkhead, a rate limit, a load
/// shedder): the inner service's response, or its error type made from the
/// [`Rejection`] that refused the call.
///
/// # Cancel safety
///
/// Dropping it while it waits drops the wait, which gives its place up, and never calls
/// the inner service; while the inner call runs, drops the call and what it holds.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S: Service<Req>, Req, W: Wait> {
    #[pin]
    state: State<S, Req, S::Future, W, S::Error>,
}

impl<S: Service<Req>, Req, W: Wait> ResponseFuture<S, Req, W> {
    /// A call admitted at once: `future` runs, holding `hold`.
    #[inline(always)]
    pub fn running(future: S::Future, hold: W::Permit) -> Self {
        ResponseFuture {
            state: State::Running { future, hold },
        }
    }

    /// A call that waits for admission, then calls `service` with `request`.
    pub fn waiting(wait: W, service: S, request: Req) -> Self {
        ResponseFuture {
            state: State::Waiting {
                wait,
                call: Some(Box::new((service, request))),
            },
        }
    }

    /// A refused call.
    pub fn rejected(rejection: Rejection) -> Self
    where
        S::Error: From<Rejection>,
    {
        ResponseFuture {
            state: State::Rejected {
                error: Some(rejection.into()),
            },
        }
    }
}

impl<S, Req, W> Future for ResponseFuture<S, Req, W>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
    W: Wait,
    W::Permit: Hold<Result<S::Response, S::Error>>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Running { future, hold } => {
                    assert!(
                        !hold.is_finished(),
                        "admission future polled after completion"
                    );
                    let output = ready!(future.poll(cx));
                    // Released as soon as the call is done, not when the future is
                    // dropped. The state stays: setting it would run the drop code of
                    // every state, out of line.
                    hold.finish(&output);
                    return Poll::Ready(output);
                }
                StateProj::Waiting { wait, call } => {
                    let next = match ready!(wait.poll_admit(cx)) {
                        Ok(hold) => {
                            let (mut service, request) = *call
                                .take()
                                .expect("admission future polled after completion");
                            State::Running {
                                future: service.call(request),
                                hold,
                            }
                        }
                        Err(rejection) => State::Rejected {
                            error: Some(rejection.into()),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Rejected { error } => {
                    let error = error
                        .take()
                        .expect("admission future polled after completion");
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

impl<S, Req, W> fmt::Debug for ResponseFuture<S, Req, W>
where
    S: Service<Req>,
    W: Wait,
    W::Permit: Hold<Result<S::Response, S::Error>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { hold, .. } if hold.is_finished() => "done",
            State::Running { .. } => "running",
            State::Waiting { .. } => "waiting",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

//! The response futures of chaos services and direct calls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hardy_core::future::WrapInner;
use pin_project::pin_project;
use tokio::time::{Sleep, sleep};

use crate::inject::Corrupt;

/// The future of a direct [`Chaos::call`](crate::Chaos::call) or
/// [`Chaos::call_with`](crate::Chaos::call_with): the operation's future with its error
/// wrapped in [`hardy_core::Error`].
pub type CallFuture<Fut, E, C> = ResponseFuture<WrapInner<Fut>, hardy_core::Error<E>, C>;

/// The response future of a [`ChaosService`](crate::ChaosService): waits out an
/// injected delay, then answers with an injected error or rejection, or with the inner
/// future's answer (corrupted when drawn so).
///
/// # Cancel safety
///
/// Dropping it drops the delay and the inner future; nothing is held.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, E, C> {
    // Boxed: only a delayed call pays for a timer, and an undelayed one moves a small
    // future.
    delay: Option<Pin<Box<Sleep>>>,
    #[pin]
    state: State<F, E, C>,
}

#[pin_project(project = StateProj)]
enum State<F, E, C> {
    /// The inner call, its `Ok` answer passed through `corrupt` when set.
    Call {
        #[pin]
        future: F,
        corrupt: Option<C>,
    },
    /// An injected error or rejection, taken when answered.
    Fail { error: Option<E> },
}

impl<F, E, C> ResponseFuture<F, E, C> {
    /// The inner future, untouched.
    #[inline]
    pub(crate) fn pass(future: F) -> Self {
        ResponseFuture {
            delay: None,
            state: State::Call {
                future,
                corrupt: None,
            },
        }
    }

    /// The inner future after `delay`, corrupted by `corrupt` when set.
    pub(crate) fn call(future: F, delay: Option<Duration>, corrupt: Option<C>) -> Self {
        ResponseFuture {
            delay: delay.map(|delay| Box::pin(sleep(delay))),
            state: State::Call { future, corrupt },
        }
    }

    /// `error` after `delay`.
    pub(crate) fn fail(error: E, delay: Option<Duration>) -> Self {
        ResponseFuture {
            delay: delay.map(|delay| Box::pin(sleep(delay))),
            state: State::Fail { error: Some(error) },
        }
    }
}

impl<F, T, E, C> Future for ResponseFuture<F, E, C>
where
    F: Future<Output = Result<T, E>>,
    C: Corrupt<T>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.delay.is_some() {
            ready!(wait_out(this.delay, cx));
        }
        match this.state.project() {
            StateProj::Call { future, corrupt } => {
                let output = ready!(future.poll(cx));
                Poll::Ready(match corrupt.take() {
                    Some(corrupt) => output.map(|response| corrupt.corrupt(response)),
                    None => output,
                })
            }
            StateProj::Fail { error } => Poll::Ready(Err(error
                .take()
                .expect("a chaos response future polled after it completed"))),
        }
    }
}

/// Waits out an injected delay, then drops its timer.
#[cold]
#[inline(never)]
fn wait_out(delay: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    if let Some(timer) = delay.as_mut() {
        ready!(timer.as_mut().poll(cx));
        *delay = None;
    }
    Poll::Ready(())
}

impl<F, E, C> fmt::Debug for ResponseFuture<F, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Call { corrupt, .. } if corrupt.is_some() => "corrupting",
            State::Call { .. } => "calling",
            State::Fail { .. } => "failing",
        };
        f.debug_struct("ResponseFuture")
            .field("delayed", &self.delay.is_some())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

//! Futures shared by the pattern crates' direct calls.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project::pin_project;

use crate::Error;

/// Wraps an operation's future so its error `E` becomes [`Error::Inner`]`(E)`.
///
/// The pattern crates build their direct `call` futures on it: an operation's
/// `Result<T, E>` becomes `Result<T, Error<E>>`, which is `From<Rejection>`, so the same
/// response future serves tower services and direct calls.
///
/// # Examples
///
/// ```
/// use hardy_core::{future::WrapInner, Error};
///
/// # futures_lite_block_on(async {
/// let result: Result<u8, Error<&str>> = WrapInner::new(async { Err("boom") }).await;
/// assert_eq!(result.unwrap_err().into_inner(), Some("boom"));
/// # });
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     loop {
/// #         if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; }
/// #     }
/// # }
/// ```
///
/// # Cancel safety
///
/// Dropping it drops the wrapped future and nothing else.
#[pin_project]
#[derive(Debug, Clone)]
#[must_use = "futures do nothing unless polled"]
pub struct WrapInner<F> {
    #[pin]
    future: F,
}

impl<F> WrapInner<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> Self {
        WrapInner { future }
    }

    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F, T, E> Future for WrapInner<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().future.poll(cx)).map_err(Error::Inner))
    }
}

//! [`Recover`]: what a fallback answers with, and the ready-made answers.

use std::fmt;
use std::future::{Future, Ready, ready};

use tower_service::Service;

/// What a [`Fallback`](crate::Fallback) answers with when the call it guards fails.
///
/// Made by the builder's [`value`](crate::FallbackBuilder::value),
/// [`map_failure`](crate::FallbackBuilder::map_failure),
/// [`or_else`](crate::FallbackBuilder::or_else) and
/// [`service`](crate::FallbackBuilder::service); sealed.
pub trait Recover<Req, T, E>: sealed::Sealed {
    /// The future of the answer.
    #[doc(hidden)]
    type Future: Future<Output = Result<T, E>>;

    /// A copy of the request, for answers that need it (a backup service).
    #[doc(hidden)]
    fn keep(&self, _request: &Req) -> Option<Req> {
        None
    }

    /// The answer to a failed call: `failed` is what the call returned.
    #[doc(hidden)]
    fn recover(&self, request: Option<Req>, failed: Result<T, E>) -> Self::Future;
}

/// Answers with a clone of a value.
#[derive(Debug, Clone)]
pub struct Value<T>(pub(crate) T);

impl<Req, T: Clone, E> Recover<Req, T, E> for Value<T> {
    type Future = Ready<Result<T, E>>;

    fn recover(&self, _: Option<Req>, _: Result<T, E>) -> Self::Future {
        ready(Ok(self.0.clone()))
    }
}

/// Answers with a function of the failed result.
#[derive(Clone)]
pub struct MapFailure<F>(pub(crate) F);

impl<F> fmt::Debug for MapFailure<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapFailure").finish_non_exhaustive()
    }
}

impl<Req, T, E, F> Recover<Req, T, E> for MapFailure<F>
where
    F: Fn(Result<T, E>) -> Result<T, E>,
{
    type Future = Ready<Result<T, E>>;

    fn recover(&self, _: Option<Req>, failed: Result<T, E>) -> Self::Future {
        ready((self.0)(failed))
    }
}

/// Answers with the future an async function of the failed result returns.
#[derive(Clone)]
pub struct OrElse<F>(pub(crate) F);

impl<F> fmt::Debug for OrElse<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrElse").finish_non_exhaustive()
    }
}

impl<Req, T, E, F, Fut> Recover<Req, T, E> for OrElse<F>
where
    F: Fn(Result<T, E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Future = Fut;

    fn recover(&self, _: Option<Req>, failed: Result<T, E>) -> Self::Future {
        (self.0)(failed)
    }
}

/// Answers by calling another service (a backup) with a copy of the request; when the
/// request could not be kept, answers with the failed result.
#[derive(Debug, Clone)]
pub struct Backup<S>(pub(crate) S);

impl<Req, S> Recover<Req, S::Response, S::Error> for Backup<S>
where
    Req: Clone,
    S: Service<Req> + Clone,
{
    type Future = BackupFuture<S, Req>;

    fn keep(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }

    fn recover(&self, request: Option<Req>, failed: Result<S::Response, S::Error>) -> Self::Future {
        match request {
            Some(request) => BackupFuture::Calling {
                call: tower::util::Oneshot::new(self.0.clone(), request),
            },
            None => BackupFuture::Failed {
                failed: Some(failed),
            },
        }
    }
}

/// The future of a [`Backup`] answer.
#[pin_project::pin_project(project = BackupProj)]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub enum BackupFuture<S: Service<Req>, Req> {
    #[doc(hidden)]
    Calling {
        #[pin]
        call: tower::util::Oneshot<S, Req>,
    },
    #[doc(hidden)]
    Failed {
        failed: Option<Result<S::Response, S::Error>>,
    },
}

impl<S: Service<Req>, Req> Future for BackupFuture<S, Req> {
    type Output = Result<S::Response, S::Error>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project() {
            BackupProj::Calling { call } => call.poll(cx),
            BackupProj::Failed { failed } => std::task::Poll::Ready(
                failed
                    .take()
                    .expect("backup future polled after completion"),
            ),
        }
    }
}

/// An answer a [`FallbackBuilder`](crate::FallbackBuilder) can build with: any but
/// none chosen. Sealed.
pub trait Answer: sealed::Sealed {}

impl<T> Answer for Value<T> {}
impl<F> Answer for MapFailure<F> {}
impl<F> Answer for OrElse<F> {}
impl<S> Answer for Backup<S> {}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for super::Value<T> {}
    impl<F> Sealed for super::MapFailure<F> {}
    impl<F> Sealed for super::OrElse<F> {}
    impl<S> Sealed for super::Backup<S> {}
}

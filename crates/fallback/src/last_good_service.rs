//! The futures, layer and service of a [`LastKnownGood`] store: a call's result is
//! remembered when good and served for when the call fails.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hardy_core::{Classify, Error};
use pin_project::pin_project;
use sync_wrapper::SyncWrapper;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::level::Recall;
use crate::{Cause, LastKnownGood};

#[pin_project(project = StateProj)]
enum State<K, T, F: Future> {
    Hit {
        value: Option<T>,
    },
    Calling {
        #[pin]
        future: F,
        key: Option<K>,
        started: Instant,
    },
    /// The call failed and memory had nothing young enough: looking in the shared
    /// level.
    Recalling {
        lookup: SyncWrapper<Recall<T>>,
        failed: Option<(K, F::Output, Cause)>,
    },
}

#[pin_project]
struct Remembering<K, T, F: Future, C> {
    #[pin]
    state: State<K, T, F>,
    store: LastKnownGood<K, T>,
    classifier: C,
}

impl<K, T, F, C, E> Future for Remembering<K, T, F, C>
where
    K: Hash + Eq + Clone,
    T: Clone,
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Hit { value } => {
                    return Poll::Ready(Ok(value
                        .take()
                        .expect("last-known-good future polled after completion")));
                }
                StateProj::Calling {
                    future,
                    key,
                    started,
                } => {
                    let result = ready!(future.poll(cx));
                    let outcome = this.classifier.classify(&result);
                    let key = key
                        .take()
                        .expect("last-known-good future polled after completion");
                    match this.store.settle(key.clone(), *started, result, outcome) {
                        Ok(answer) => return Poll::Ready(answer),
                        Err((result, cause, lookup)) => this.state.set(State::Recalling {
                            lookup: SyncWrapper::new(lookup),
                            failed: Some((key, result, cause)),
                        }),
                    }
                }
                StateProj::Recalling { lookup, failed } => {
                    let found = ready!(lookup.get_mut().as_mut().poll(cx));
                    let (key, result, cause) = failed
                        .take()
                        .expect("last-known-good future polled after completion");
                    return Poll::Ready(this.store.recalled(key, result, cause, found));
                }
            }
        }
    }
}

/// The future of a direct [`LastKnownGood::call`]: `Result<T, hardy_core::Error<E>>`.
///
/// # Cancel safety
///
/// Dropping it drops the operation; nothing is remembered.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct LastGoodCall<K, T, F: Future, C> {
    #[pin]
    inner: Remembering<K, T, F, C>,
}

impl<K, T, Fut: Future, C> LastGoodCall<K, T, Fut, C> {
    /// A direct call for `key`: answered with `fresh` if the store had a fresh
    /// response, else `operation` runs and its result is remembered or served for.
    pub(crate) fn new<F: FnOnce() -> Fut>(
        store: LastKnownGood<K, T>,
        classifier: C,
        fresh: Option<T>,
        key: K,
        operation: F,
    ) -> Self {
        let state = match fresh {
            Some(value) => State::Hit { value: Some(value) },
            None => State::Calling {
                future: operation(),
                key: Some(key),
                started: Instant::now(),
            },
        };
        LastGoodCall {
            inner: Remembering {
                state,
                store,
                classifier,
            },
        }
    }
}

impl<K, T, F, C, E> Future for LastGoodCall<K, T, F, C>
where
    K: Hash + Eq + Clone,
    T: Clone,
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().inner.poll(cx)).map_err(Error::Inner))
    }
}

impl<K, T, F: Future, C> fmt::Debug for LastGoodCall<K, T, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastGoodCall")
            .field("store", &self.inner.store.name())
            .finish_non_exhaustive()
    }
}

/// The response future of a [`LastGoodService`]: the inner service's response (or a
/// fresh one from the store), or the last good response when the call failed.
///
/// # Cancel safety
///
/// Dropping it drops the inner call; nothing is remembered.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct LastGoodFuture<K, T, F: Future, C> {
    #[pin]
    inner: Remembering<K, T, F, C>,
}

impl<K, T, F, C, E> Future for LastGoodFuture<K, T, F, C>
where
    K: Hash + Eq + Clone,
    T: Clone,
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<K, T, F: Future, C> fmt::Debug for LastGoodFuture<K, T, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastGoodFuture")
            .field("store", &self.inner.store.name())
            .finish_non_exhaustive()
    }
}

/// A tower layer remembering good responses per key and serving them for failed
/// calls; made by [`LastKnownGood::layer`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy_fallback::LastKnownGood;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let last_good = LastKnownGood::builder("soil").build::<u8, f64>()?;
/// let mut fails = false;
/// let mut read = ServiceBuilder::new()
///     .layer(last_good.layer(|sensor: &u8| *sensor))
///     .service_fn(move |_sensor: u8| {
///         let failing = std::mem::replace(&mut fails, true);
///         async move { if failing { Err::<f64, BoxError>("no ack".into()) } else { Ok(0.38) } }
///     });
/// assert_eq!(read.ready().await?.call(1).await?, 0.38);
/// assert_eq!(read.ready().await?.call(1).await?, 0.38, "served from the store");
/// assert!(read.ready().await?.call(2).await.is_err(), "nothing remembered for sensor 2");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LastGoodLayer<K, T, X, C> {
    store: LastKnownGood<K, T>,
    key: X,
    classifier: C,
}

impl<K, T, X, C> LastGoodLayer<K, T, X, C> {
    pub(crate) fn new(store: LastKnownGood<K, T>, key: X, classifier: C) -> Self {
        LastGoodLayer {
            store,
            key,
            classifier,
        }
    }
}

impl<K, T, X, C> fmt::Debug for LastGoodLayer<K, T, X, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastGoodLayer")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<S, K, T, X: Clone, C: Clone> Layer<S> for LastGoodLayer<K, T, X, C> {
    type Service = LastGoodService<S, K, T, X, C>;

    fn layer(&self, inner: S) -> Self::Service {
        LastGoodService {
            inner,
            store: self.store.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A tower service remembering good responses per key and serving them for failed
/// calls; made by a [`LastGoodLayer`]. With a TTL, a call whose key has a fresh
/// response is answered from the store and never reaches the inner service.
#[derive(Clone)]
pub struct LastGoodService<S, K, T, X, C> {
    inner: S,
    store: LastKnownGood<K, T>,
    key: X,
    classifier: C,
}

impl<S: fmt::Debug, K, T, X, C> fmt::Debug for LastGoodService<S, K, T, X, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastGoodService")
            .field("inner", &self.inner)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<S, K, T, X, C> LastGoodService<S, K, T, X, C> {
    /// The store.
    pub fn store(&self) -> &LastKnownGood<K, T> {
        &self.store
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, K, T, X, C, Req> Service<Req> for LastGoodService<S, K, T, X, C>
where
    S: Service<Req, Response = T>,
    K: Hash + Eq + Clone,
    T: Clone,
    X: Fn(&Req) -> K,
    C: Classify<T, S::Error> + Clone,
{
    type Response = T;
    type Error = S::Error;
    type Future = LastGoodFuture<K, T, S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let key = (self.key)(&request);
        let state = match self.store.fresh(&key) {
            Some(value) => State::Hit { value: Some(value) },
            None => State::Calling {
                future: self.inner.call(request),
                key: Some(key),
                started: Instant::now(),
            },
        };
        LastGoodFuture {
            inner: Remembering {
                state,
                store: self.store.clone(),
                classifier: self.classifier.clone(),
            },
        }
    }
}

//! [`FallbackLayer`] and [`FallbackService`].

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use hardy_core::{Classify, LocalArc};
use tower_layer::Layer;
use tower_service::Service;

use crate::future::{Guarded, ResponseFuture};
use crate::{Fallback, Recover};

/// A tower layer answering each wrapped service's failed calls with a [`Fallback`];
/// made by [`Fallback::layer`] or [`FallbackLayer::new`].
///
/// # Examples
///
/// ```
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy_fallback::Fallback;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// // A backup sensor answers when the primary cannot.
/// let backup = tower::service_fn(|_sensor: u8| async { Ok::<_, BoxError>(0.40) });
/// let soil = Fallback::builder("soil-1").service(backup).build();
/// let mut read = ServiceBuilder::new()
///     .layer(soil.layer())
///     .service_fn(|_sensor: u8| async { Err::<f64, BoxError>("no ack".into()) });
/// assert_eq!(read.ready().await?.call(1).await?, 0.40);
/// # Ok(())
/// # }
/// ```
pub struct FallbackLayer<A, C> {
    fallback: Fallback<A, C>,
}

impl<A, C> FallbackLayer<A, C> {
    /// A layer answering with `fallback`.
    pub fn new(fallback: Fallback<A, C>) -> Self {
        FallbackLayer { fallback }
    }
}

impl<A, C> Clone for FallbackLayer<A, C> {
    fn clone(&self) -> Self {
        FallbackLayer {
            fallback: self.fallback.clone(),
        }
    }
}

impl<A, C> fmt::Debug for FallbackLayer<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl<S, A, C> Layer<S> for FallbackLayer<A, C> {
    type Service = FallbackService<S, A, C>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService {
            inner,
            fallback: LocalArc::new(self.fallback.clone()),
        }
    }
}

/// A tower service whose failed calls are answered by a [`Fallback`]; made by a
/// [`FallbackLayer`].
///
/// `poll_ready` is the inner service's: a service that cannot be readied fails
/// readiness, which a fallback cannot answer (there is no call yet). Each call runs
/// the inner service; when the result calls for the fallback, its answer is the
/// response.
pub struct FallbackService<S, A, C> {
    inner: S,
    /// The service's own reference to the fallback, per thread, so that services on
    /// different threads do not contend on one reference count.
    fallback: LocalArc<Fallback<A, C>>,
}

impl<S: Clone, A, C> Clone for FallbackService<S, A, C> {
    fn clone(&self) -> Self {
        FallbackService {
            inner: self.inner.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<S: fmt::Debug, A, C> fmt::Debug for FallbackService<S, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService")
            .field("inner", &self.inner)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl<S, A, C> FallbackService<S, A, C> {
    /// The fallback answering failed calls.
    pub fn fallback(&self) -> &Fallback<A, C> {
        self.fallback.handle()
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

impl<S, A, C, Req> Service<Req> for FallbackService<S, A, C>
where
    S: Service<Req>,
    A: Recover<Req, S::Response, S::Error>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, A, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let fallback = Arc::clone(self.fallback.get());
        let kept = fallback.shared.action.keep(&request);
        ResponseFuture::new(Guarded::new(self.inner.call(request), kept, fallback))
    }
}

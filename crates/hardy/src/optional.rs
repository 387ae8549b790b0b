//! [`Optional`]: a layer that is applied or left out, decided when the stack is built.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// A layer that is applied (`Some`) or left out (`None`): the one shape
/// [`Policies::stack`](crate::Policies::stack) gives each pattern of an operation.
///
/// Like tower's `option_layer` (an `Either` with `Identity`), but its service's `call`
/// and its future's `poll` are always inlined, so that a stack of several of them builds
/// its response future in place instead of copying it at every level.
#[derive(Debug, Clone)]
pub struct Optional<L>(Option<L>);

impl<L> Optional<L> {
    /// `layer`, if any.
    pub fn new(layer: Option<L>) -> Self {
        Optional(layer)
    }

    /// The layer, if it is applied.
    pub fn get(&self) -> Option<&L> {
        self.0.as_ref()
    }
}

impl<L: Layer<S>, S> Layer<S> for Optional<L> {
    type Service = OptionalService<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.0 {
            Some(layer) => OptionalService::Applied(layer.layer(inner)),
            None => OptionalService::Skipped(inner),
        }
    }
}

/// The service an [`Optional`] layer makes: the layer's service, or the inner service
/// itself.
#[derive(Debug, Clone)]
pub enum OptionalService<A, S> {
    /// The layer is applied.
    Applied(A),
    /// The layer is left out.
    Skipped(S),
}

impl<A, S, Req> Service<Req> for OptionalService<A, S>
where
    A: Service<Req>,
    S: Service<Req, Response = A::Response, Error = A::Error>,
{
    type Response = A::Response;
    type Error = A::Error;
    type Future = OptionalFuture<A::Future, S::Future>;

    #[inline(always)]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            OptionalService::Applied(service) => service.poll_ready(cx),
            OptionalService::Skipped(service) => service.poll_ready(cx),
        }
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        match self {
            OptionalService::Applied(service) => OptionalFuture::Applied(service.call(request)),
            OptionalService::Skipped(service) => OptionalFuture::Skipped(service.call(request)),
        }
    }
}

/// The response future of an [`OptionalService`].
#[pin_project(project = OptionalProj)]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
// A whole word for the tag: each level's `call` moves the future of the level below
// into its own, and with a one-byte tag the moves copied the tag's seven bytes of
// padding in overlapping loads from the stores that had just written them, a
// store-forwarding stall at every level.
#[repr(u64)]
pub enum OptionalFuture<A, B> {
    /// The applied layer's future.
    Applied(#[pin] A),
    /// The inner service's own future.
    Skipped(#[pin] B),
}

impl<A, B> Future for OptionalFuture<A, B>
where
    A: Future,
    B: Future<Output = A::Output>,
{
    type Output = A::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            OptionalProj::Applied(future) => future.poll(cx),
            OptionalProj::Skipped(future) => future.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tower::util::MapResponseLayer;
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;

    fn double() -> MapResponseLayer<fn(u32) -> u32> {
        MapResponseLayer::new(|n: u32| n * 2)
    }

    #[tokio::test]
    async fn an_applied_layer_wraps_the_service_and_a_skipped_one_passes_through() {
        let inner = tower::service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) });
        let applied = ServiceBuilder::new()
            .layer(Optional::new(Some(double())))
            .service(inner);
        assert!(matches!(applied, OptionalService::Applied(_)));
        assert_eq!(applied.oneshot(1).await.unwrap(), 4);

        let skipped = ServiceBuilder::new()
            .layer(Optional::<MapResponseLayer<fn(u32) -> u32>>::new(None))
            .service(inner);
        assert!(matches!(skipped, OptionalService::Skipped(_)));
        assert_eq!(skipped.oneshot(1).await.unwrap(), 2);
    }

    #[test]
    fn the_layer_says_whether_it_is_applied() {
        assert!(Optional::new(Some(double())).get().is_some());
        assert!(Optional::<()>::new(None).get().is_none());
    }
}

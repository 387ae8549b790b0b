//! [`BreakerService`]: a tower service guarded by a [`CircuitBreaker`].

use std::sync::Arc;
use std::task::{Context, Poll};

use hardy_core::{Classify, DefaultClassifier, LocalArc, Rejection};
use tower_service::Service;

use crate::CircuitBreaker;
use crate::future::{Guarded, ResponseFuture};
use crate::permit::Permit;

/// A tower service guarded by a [`CircuitBreaker`]; made by a
/// [`BreakerLayer`](crate::BreakerLayer).
///
/// `poll_ready` is the inner service's; the breaker decides in `call`: a rejected call
/// never reaches the inner service and ends with its error type made from
/// [`Rejection::CircuitOpen`]. Admitted calls are classified and recorded when they
/// finish.
///
/// Each service made by the layer keeps its own reference to the breaker, so services
/// built for different threads do not contend on one reference count; a clone shares
/// its original's, so cloning a service (as retries and routers do for every call)
/// never allocates.
#[derive(Debug)]
pub struct BreakerService<S, C = DefaultClassifier> {
    inner: S,
    breaker: LocalArc<CircuitBreaker>,
    classifier: C,
}

impl<S: Clone, C: Clone> Clone for BreakerService<S, C> {
    fn clone(&self) -> Self {
        BreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S> BreakerService<S> {
    /// Guards `inner` with `breaker` and the default classifier.
    pub fn new(inner: S, breaker: CircuitBreaker) -> Self {
        BreakerService::with_classifier(inner, breaker, DefaultClassifier)
    }
}

impl<S, C> BreakerService<S, C> {
    /// Guards `inner` with `breaker`, classifying results with `classifier`.
    pub fn with_classifier(inner: S, breaker: CircuitBreaker, classifier: C) -> Self {
        BreakerService {
            inner,
            breaker: LocalArc::new(breaker),
            classifier,
        }
    }

    /// The breaker guarding the service.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.handle()
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

impl<S, C, Req> Service<Req> for BreakerService<S, C>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        // Each arm builds the whole future, so it is written once, in place: building it
        // in parts and moving it costs store-forwarding stalls when it is first polled.
        let breaker = self.breaker.get();
        match breaker.try_acquire() {
            Ok(admission) => {
                let permit = Permit::new(Arc::clone(breaker), admission);
                ResponseFuture::new(Guarded::running(
                    self.inner.call(request),
                    permit,
                    self.classifier.clone(),
                ))
            }
            Err(rejection) => ResponseFuture::new(Guarded::rejected(rejection)),
        }
    }
}

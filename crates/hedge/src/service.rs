//! [`HedgeService`]: a tower service whose slow calls are hedged.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use hardy_breaker::CircuitBreaker;
use hardy_core::{Classify, SpareService};
use hardy_retry::CloneRequest;
use tower_service::Service;

use crate::Hedge;
use crate::future::{Hedging, ServiceAttempts};

/// A tower service whose slow calls are hedged by a [`Hedge`]; made by a
/// [`HedgeLayer`](crate::HedgeLayer).
///
/// `poll_ready` is the inner service's; a call's first attempt goes to it at once, and
/// each extra attempt to a clone of a spare of it, made ready first (the spare is
/// cloned when the service is built and again after [`get_mut`](Self::get_mut)).
pub struct HedgeService<S, C, P> {
    inner: SpareService<Hedge, S>,
    breaker: Option<CircuitBreaker>,
    classifier: C,
    policy: P,
}

impl<S, C, P> HedgeService<S, C, P> {
    pub(crate) fn new(
        inner: SpareService<Hedge, S>,
        breaker: Option<CircuitBreaker>,
        classifier: C,
        policy: P,
    ) -> Self {
        HedgeService {
            inner,
            breaker,
            classifier,
            policy,
        }
    }

    /// The hedge.
    pub fn hedge(&self) -> &Hedge {
        self.inner.handle()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably; extra attempts made after this go to clones of it
    /// as it is at the next call.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S: Clone, C: Clone, P: Clone> Clone for HedgeService<S, C, P> {
    fn clone(&self) -> Self {
        HedgeService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<S: fmt::Debug, C, P> fmt::Debug for HedgeService<S, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeService")
            .field("inner", self.inner.get_ref())
            .field("hedge", self.inner.handle().name())
            .finish()
    }
}

impl<S, C, P, Req> Service<Req> for HedgeService<S, C, P>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error> + Clone,
    P: CloneRequest<Req> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Hedging<ServiceAttempts<S, Req, P>, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.ready_mut().poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let template = self.policy.clone_request(&request);
        let (shared, inner) = self.inner.call();
        shared.handle().started();
        let first = inner.call(request);
        Hedging::new(
            first,
            ServiceAttempts::new(
                Arc::clone(shared),
                self.breaker.clone(),
                template,
                self.policy.clone(),
            ),
            self.classifier.clone(),
        )
    }
}

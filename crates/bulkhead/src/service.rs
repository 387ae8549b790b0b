//! [`BulkheadService`]: a tower service whose calls are admitted by a [`Bulkhead`].

use std::task::{Context, Poll};

use hardy_core::{LocalArc, Rejection};
use tower_service::Service;

use crate::Bulkhead;
use crate::future::ResponseFuture;
use crate::permit::ServicePermit;
use crate::wait::Queued;
use hardy_core::admission::Admission;
use std::sync::Arc;

/// A tower service whose calls are admitted by a [`Bulkhead`]; made by a
/// [`BulkheadLayer`](crate::BulkheadLayer).
///
/// `poll_ready` is the inner service's; the bulkhead decides in `call`. A call admitted
/// at once calls the inner service at once. A call that must wait takes the readied
/// inner service with it (leaving a clone for the next call) and calls it once
/// admitted; a refused call never reaches it and ends with its error type made from
/// [`Rejection::BulkheadFull`].
///
/// Each service made by the layer keeps its own reference to the bulkhead, so services
/// built for different threads do not contend on one reference count; a clone shares
/// its original's, so cloning a service (as retries and routers do for every call)
/// never allocates.
#[derive(Debug)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: LocalArc<Bulkhead>,
}

impl<S: Clone> Clone for BulkheadService<S> {
    fn clone(&self) -> Self {
        BulkheadService {
            inner: self.inner.clone(),
            bulkhead: self.bulkhead.clone(),
        }
    }
}

impl<S> BulkheadService<S> {
    /// Admits the calls of `inner` through `bulkhead`.
    pub fn new(inner: S, bulkhead: Bulkhead) -> Self {
        BulkheadService {
            inner,
            bulkhead: LocalArc::new(bulkhead),
        }
    }

    /// The bulkhead admitting the calls.
    pub fn bulkhead(&self) -> &Bulkhead {
        self.bulkhead.handle()
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

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let bulkhead = self.bulkhead.get();
        match bulkhead.admit() {
            Admission::Now(source) => ResponseFuture::running(
                self.inner.call(request),
                ServicePermit::new(Arc::clone(bulkhead), source),
            ),
            Admission::Later(pending) => {
                let queued = Queued::new(Arc::clone(bulkhead), pending);
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(queued, service, request)
            }
            Admission::Refused(rejection) => ResponseFuture::rejected(rejection),
        }
    }
}

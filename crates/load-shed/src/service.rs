//! [`LoadShedService`]: a tower service whose calls are admitted or shed by a
//! [`LoadShedder`].

use std::task::{Context, Poll};

use hardy_core::{Classify, LocalArc, Rejection, ShedReason};
use tower_service::Service;

use crate::LoadShedder;
use crate::admit;
use crate::extract::{CallInfo, ClientOf, Priority, PriorityOf};
use crate::future::ResponseFuture;
use hardy_core::admission::Admission;

use crate::permit::CallPermit;
use crate::state::Shared;

/// A tower service whose calls are admitted or shed by a [`LoadShedder`]; made by a
/// [`LoadShedLayer`](crate::LoadShedLayer).
///
/// `poll_ready` is the inner service's (unless it sheds when the inner service is not
/// ready: see [`shed_when_not_ready`](Self::shed_when_not_ready)); the shedder decides
/// in `call`, so a shed call returns at once instead of waiting for capacity. A call
/// admitted at once calls the inner service at once; one that waits in the queue takes the readied inner service
/// with it (leaving a clone for the next call); a shed call never reaches it and ends
/// with its error type made from [`Rejection::Shed`].
///
/// Each service made by the layer keeps its own reference to the shedder, so services
/// on different threads do not contend on one reference count; a clone shares its
/// original's, so cloning a service (as retries and routers do for every call) never
/// allocates.
#[derive(Debug, Clone)]
pub struct LoadShedService<S, P, K, C> {
    inner: S,
    shedder: LocalArc<LoadShedder>,
    priority: P,
    client: K,
    classifier: C,
    /// Shed calls made while `inner` was not ready, instead of waiting for it.
    shed_not_ready: bool,
    /// Whether `inner` was ready at the last `poll_ready` (and no call took it since).
    inner_ready: bool,
}

impl<S, P, K, C> LoadShedService<S, P, K, C> {
    /// Sheds the calls of `inner` through `shedder`, reading each request's priority
    /// and client with `priority` and `client` and classifying results with
    /// `classifier`.
    pub fn new(inner: S, shedder: LoadShedder, priority: P, client: K, classifier: C) -> Self {
        LoadShedService {
            inner,
            shedder: LocalArc::new(shedder),
            priority,
            client,
            classifier,
            shed_not_ready: false,
            inner_ready: false,
        }
    }

    /// The same service, shedding calls made while `inner` is not ready instead of
    /// waiting for it (see
    /// [`LoadShedLayer::shed_when_not_ready`](crate::LoadShedLayer::shed_when_not_ready)).
    #[must_use]
    pub fn shed_when_not_ready(mut self) -> Self {
        self.shed_not_ready = true;
        self
    }

    /// The shedder admitting the calls.
    pub fn shedder(&self) -> &LoadShedder {
        self.shedder.handle()
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

impl<S, Req, P, K, C> Service<Req> for LoadShedService<S, P, K, C>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    P: PriorityOf<Req>,
    K: ClientOf<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.shed_not_ready {
            return self.inner.poll_ready(cx);
        }
        // Always ready: whether the inner service is decides the next call.
        self.inner_ready = match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => false,
        };
        Poll::Ready(Ok(()))
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let priority: Priority = self.priority.priority_of(&request);
        let mut info = CallInfo::new().priority(priority);
        if let Some(client) = self.client.client_of(&request) {
            info = info.client_hash(client);
        }
        let shedder = self.shedder.get();
        if self.shed_not_ready && !std::mem::take(&mut self.inner_ready) {
            return ResponseFuture::shed(shed_not_ready(&shedder.shared, priority));
        }
        if admit::admit_fast(&shedder.shared, &info) {
            return ResponseFuture::running(
                self.inner.call(request),
                CallPermit::new(std::sync::Arc::clone(shedder), 0),
                self.classifier.clone(),
            );
        }
        self.call_slowly(request, info)
    }
}

impl<S, P, K, C> LoadShedService<S, P, K, C> {
    /// The full admission: probabilistic stages, fair shares, the queue, shedding.
    ///
    /// Inlined too (its own slow parts are out of line): out of line, it returned the
    /// future through memory, the fast path wrote its future to the same place to share
    /// the copy that follows, and that copy's wide loads stalled on the narrow stores
    /// that had just built the future (29 to 20 ns per call).
    #[inline(always)]
    fn call_slowly<Req>(&mut self, request: Req, info: CallInfo) -> ResponseFuture<S, Req, C>
    where
        S: Service<Req> + Clone,
        S::Error: From<Rejection>,
        C: Clone,
    {
        let shedder = self.shedder.get();
        match admit::admit(&shedder.shared, info) {
            Admission::Now(permit) => ResponseFuture::running(
                self.inner.call(request),
                permit.into_call(std::sync::Arc::clone(shedder)),
                self.classifier.clone(),
            ),
            Admission::Later(waiting) => {
                let shedder = std::sync::Arc::clone(shedder);
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(waiting, shedder, service, request, self.classifier.clone())
            }
            Admission::Refused(rejection) => ResponseFuture::shed(rejection),
        }
    }
}

/// The rejection of a call made while the service behind the shedder was not ready.
#[cold]
#[inline(never)]
fn shed_not_ready(shared: &Shared, priority: Priority) -> Rejection {
    shared.shed(ShedReason::NotReady, shared.level(priority))
}

//! [`RetryService`]: a tower service whose calls are retried by a [`Retry`].

use std::sync::Arc;
use std::task::{Context, Poll};

use hardy_core::{Classify, DefaultClassifier, SpareService};
use hardy_timeout::{ExtractDeadline, NoDeadline};
use tower_service::Service;

use crate::future::{Calls, ResponseFuture};
use crate::retrying::Retrying;
use crate::tries::Tries;
use crate::{CloneRequest, Cloned, Retry};

/// A tower service whose calls are retried by a [`Retry`]; made by a
/// [`RetryLayer`](crate::RetryLayer).
///
/// `poll_ready` is the inner service's. `call` copies the request for the next attempt
/// (with the layer's [`CloneRequest`]) and sends the request to the readied inner
/// service. A retry is made with a clone of a spare of the inner service, made ready
/// before the copy is sent; the spare is cloned from the inner service when the
/// service is built and again after [`get_mut`](Self::get_mut). A call that succeeds
/// at once clones no service, so it touches no reference count of the services below.
///
/// State a service keeps per clone (a `service_fn` closure's captured counter, a
/// connection cached in the service itself rather than behind a shared reference) is
/// therefore the spare's at each retry, not what the first attempt left. The clones of
/// a `RetryService` on one thread share one spare, and a retry clones it under a short
/// lock; the spare's own services take references for the thread it was cloned on, so
/// retries made on other threads share those reference counts (a cost of retries only).
///
/// Each service made by the layer keeps its own reference to the retry and the spare,
/// so services built for different threads do not contend on one reference count; a
/// clone shares its original's, so cloning a service (as routers do for every call)
/// never allocates.
#[derive(Debug)]
pub struct RetryService<S, C = DefaultClassifier, P = Cloned, X = NoDeadline> {
    /// The inner service, and the retry and spare shared with its calls.
    inner: SpareService<Retry, S>,
    classifier: C,
    policy: P,
    deadline: X,
}

impl<S: Clone> RetryService<S> {
    /// Retries the calls of `inner` with `retry`, the default classifier, cloned requests
    /// and no deadline.
    pub fn new(inner: S, retry: Retry) -> Self {
        RetryService::from_parts(inner, retry, DefaultClassifier, Cloned, NoDeadline)
    }
}

impl<S: Clone, C, P, X> RetryService<S, C, P, X> {
    pub(crate) fn from_parts(
        inner: S,
        retry: Retry,
        classifier: C,
        policy: P,
        deadline: X,
    ) -> Self {
        RetryService {
            inner: SpareService::new(retry, inner),
            classifier,
            policy,
            deadline,
        }
    }
}

impl<S, C, P, X> RetryService<S, C, P, X> {
    /// The retry applied to the calls.
    pub fn retry(&self) -> &Retry {
        self.inner.handle()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably. Retries made after this are made with a clone of
    /// the service as it is at the next call.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The inner service, taken out.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S: Clone, C: Clone, P: Clone, X: Clone> Clone for RetryService<S, C, P, X> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            classifier: self.classifier.clone(),
            policy: self.policy.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

impl<S, C, P, X, Req> Service<Req> for RetryService<S, C, P, X>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error> + Clone,
    P: CloneRequest<Req> + Clone,
    X: ExtractDeadline<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.ready_mut().poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let (shared, inner) = self.inner.call();
        let shared = Arc::clone(shared);
        let call = Tries::start(shared.handle(), self.deadline.deadline(&request));
        let copy = self.policy.clone_request(&request);
        let future = inner.call(request);
        ResponseFuture::new(Retrying::running(
            future,
            Calls {
                shared,
                request: copy,
                policy: self.policy.clone(),
            },
            self.classifier.clone(),
            call,
        ))
    }
}

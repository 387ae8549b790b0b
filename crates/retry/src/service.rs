//! [`RetryService`]: a tower service whose calls are retried by a [`Retry`].

use std::sync::Arc;
use std::task::{Context, Poll};

use hardy_core::{Classify, DefaultClassifier, LocalArc};
use hardy_timeout::{ExtractDeadline, NoDeadline};
use tower_service::Service;

use crate::future::{Calls, ResponseFuture, Retrying};
use crate::{CloneRequest, Cloned, Retry};

/// A tower service whose calls are retried by a [`Retry`]; made by a
/// [`RetryLayer`](crate::RetryLayer).
///
/// `poll_ready` is the inner service's. `call` copies the request for the next attempt
/// (with the layer's [`CloneRequest`]), hands the readied inner service to the call
/// and keeps a clone of it for the next call. Each retry makes the call's service ready
/// again before sending the copy.
///
/// Each service made by the layer keeps its own reference to the retry, so services
/// built for different threads do not contend on one reference count; a clone shares
/// its original's, so cloning a service (as retries and routers do for every call)
/// never allocates.
#[derive(Debug)]
pub struct RetryService<S, C = DefaultClassifier, P = Cloned, X = NoDeadline> {
    inner: S,
    retry: LocalArc<Retry>,
    classifier: C,
    policy: P,
    deadline: X,
}

impl<S> RetryService<S> {
    /// Retries the calls of `inner` with `retry`, the default classifier, cloned requests
    /// and no deadline.
    pub fn new(inner: S, retry: Retry) -> Self {
        RetryService::from_parts(inner, retry, DefaultClassifier, Cloned, NoDeadline)
    }
}

impl<S, C, P, X> RetryService<S, C, P, X> {
    pub(crate) fn from_parts(
        inner: S,
        retry: Retry,
        classifier: C,
        policy: P,
        deadline: X,
    ) -> Self {
        RetryService {
            inner,
            retry: LocalArc::new(retry),
            classifier,
            policy,
            deadline,
        }
    }

    /// The retry applied to the calls.
    pub fn retry(&self) -> &Retry {
        self.retry.handle()
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

impl<S: Clone, C: Clone, P: Clone, X: Clone> Clone for RetryService<S, C, P, X> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            retry: self.retry.clone(),
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
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let retry = Arc::clone(self.retry.get());
        let call = retry.start(self.deadline.deadline(&request));
        let copy = self.policy.clone_request(&request);
        let future = self.inner.call(request);
        // Cloned after the call, which moved the services below onto this thread (their
        // `hardy_core::LocalArc`s): the clone carries that on, and the services kept here
        // are the ones called, so a stack built on one thread and called on another takes
        // its own references there once, not on every call.
        let service = self.inner.clone();
        ResponseFuture::new(Retrying::running(
            future,
            Calls {
                service,
                request: copy,
                policy: self.policy.clone(),
            },
            self.classifier.clone(),
            retry,
            call,
        ))
    }
}

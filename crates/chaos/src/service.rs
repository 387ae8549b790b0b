//! [`ChaosService`]: a service with faults injected into its calls.

use std::task::{Context, Poll};

use hardy_core::Rejection;
use tower_service::Service;

use crate::Chaos;
use crate::future::ResponseFuture;
use crate::inject::{Corrupt, MakeError, NoCorrupt, NoError};

/// Injects the faults of a [`Chaos`] handle into an inner service's calls; made by
/// [`ChaosLayer`](crate::ChaosLayer).
///
/// `poll_ready` passes through. Each call draws its fault in `call`: an injected error
/// or rejection answers without calling the inner service; a delay postpones the first
/// poll of the inner future (the inner `call` is made at once); a corruption maps the
/// `Ok` answer. While the handle is disabled a call costs one atomic load.
#[derive(Debug, Clone)]
pub struct ChaosService<S, M = NoError, C = NoCorrupt> {
    inner: S,
    chaos: Chaos,
    make_error: M,
    corrupt: C,
}

impl<S, M, C> ChaosService<S, M, C> {
    /// Wraps `inner`, injecting errors from `make_error` and corruptions from `corrupt`.
    pub fn new(inner: S, chaos: Chaos, make_error: M, corrupt: C) -> Self {
        ChaosService {
            inner,
            chaos,
            make_error,
            corrupt,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, M, C> Service<Req> for ChaosService<S, M, C>
where
    S: Service<Req>,
    S::Error: From<Rejection>,
    M: MakeError<S::Error>,
    C: Corrupt<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, request: Req) -> Self::Future {
        let inner = &mut self.inner;
        self.chaos
            .respond(&self.make_error, &self.corrupt, || inner.call(request))
    }
}

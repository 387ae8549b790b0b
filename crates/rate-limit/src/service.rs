//! [`RateLimitService`]: a tower service whose calls are paced by a [`Limit`].

use std::task::{Context, Poll};

use hardy_core::Rejection;
use tower_service::Service;

use crate::future::ResponseFuture;
use hardy_core::admission::Admission;

use crate::limit::Limit;

/// A tower service whose calls are paced by a limit; made by a
/// [`RateLimitLayer`](crate::RateLimitLayer).
///
/// `poll_ready` is the inner service's; the limit decides in `call`. A call admitted at
/// once calls the inner service at once. A call that must wait for its turn takes the
/// readied inner service with it (leaving a clone for the next call) and calls it when
/// its turn comes; a refused call never reaches it and ends with its error type made
/// from [`Rejection::RateLimited`].
///
/// [`Limit`]: crate::Limit
#[derive(Debug, Clone)]
pub struct RateLimitService<S, L> {
    inner: S,
    limit: L,
}

impl<S, L> RateLimitService<S, L> {
    /// Paces the calls of `inner` with `limit`.
    pub fn new(inner: S, limit: L) -> Self {
        RateLimitService { inner, limit }
    }

    /// The limit pacing the calls.
    pub fn limit(&self) -> &L {
        &self.limit
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

impl<S, L, Req> Service<Req> for RateLimitService<S, L>
where
    S: Service<Req> + Clone,
    S::Error: From<Rejection>,
    L: Limit<Req>,
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
        let later = match self.limit.admit_request(&request) {
            Ok(()) => return ResponseFuture::running(self.inner.call(request)),
            Err(later) => later,
        };
        // Not admitted at once: the limit makes the wait or the refusal out of line.
        match self.limit.admit_later(later) {
            Admission::Now(()) => ResponseFuture::running(self.inner.call(request)),
            Admission::Later(wait) => {
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(wait, service, request)
            }
            Admission::Refused(rejection) => ResponseFuture::rejected(rejection),
        }
    }
}

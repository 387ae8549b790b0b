//! Shared fixtures of the Hardy benchmarks: the bare services every layer wraps, the
//! runtime they run on, and the loop that times calls through a service.
//!
//! Each benchmark file in `benches/` compares a Hardy layer with the bare service and
//! with the peers users would pick instead, in one run, so the ratios between them are
//! meaningful on a noisy machine.

use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tower::{Service, ServiceExt};

/// A current-thread Tokio runtime with time enabled, as a single-task caller sees.
///
/// # Panics
///
/// Panics if the runtime cannot be built (out of file descriptors or threads).
#[must_use]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build the benchmark runtime")
}

/// The cheapest possible service: answers every request at once with the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = tower::BoxError;
    type Future = Ready<Result<u64, tower::BoxError>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: u64) -> Self::Future {
        ready(Ok(request))
    }
}

/// A service whose response is pending at the first poll and ready at the second:
/// the cheapest call that makes a timeout start its timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct YieldOnce;

/// The future of [`YieldOnce`].
#[derive(Debug)]
pub struct YieldOnceFuture {
    request: u64,
    yielded: bool,
}

impl Future for YieldOnceFuture {
    type Output = Result<u64, tower::BoxError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.yielded {
            Poll::Ready(Ok(self.request))
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Service<u64> for YieldOnce {
    type Response = u64;
    type Error = tower::BoxError;
    type Future = YieldOnceFuture;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: u64) -> Self::Future {
        YieldOnceFuture {
            request,
            yielded: false,
        }
    }
}

/// Times `iterations` calls through `service` on `runtime`: readiness, call and
/// response, one after another on one task, as criterion's `iter_custom` wants.
///
/// # Panics
///
/// Panics if the service fails a call: benchmarks measure the success path.
pub fn time_calls<S>(
    runtime: &tokio::runtime::Runtime,
    service: &mut S,
    iterations: u64,
) -> Duration
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    runtime.block_on(async {
        let start = Instant::now();
        for i in 0..iterations {
            let ready = service.ready().await.expect("service ready");
            let response = ready.call(black_box(i)).await.expect("call succeeds");
            black_box(response);
        }
        start.elapsed()
    })
}

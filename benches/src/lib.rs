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

/// An error of no size that a service could return: what a service with a typed,
/// field-less error (an enum of causes, a unit struct) fails with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fault;

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault")
    }
}

impl std::error::Error for Fault {}

/// A fault carries no rejection (a Hardy layer's refusal is mapped to it and lost).
impl hardy_core::AsRejection for Fault {}

/// A refusal by a Hardy layer becomes the service's own error, as a service with an
/// error enum maps it to its "unavailable" case.
impl From<hardy_core::Rejection> for Fault {
    fn from(_: hardy_core::Rejection) -> Self {
        Fault
    }
}

/// [`Echo`] with a zero-size error type ([`Fault`]) instead of `BoxError`: layers
/// whose cost depends on the size of the error (a `Result` moved through each layer, a
/// box made for a peer's error type) are measured with both.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZstEcho;

impl Service<u64> for ZstEcho {
    type Response = u64;
    type Error = Fault;
    type Future = Ready<Result<u64, Fault>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: u64) -> Self::Future {
        ready(Ok(request))
    }
}

/// [`Echo`] holding a reference to shared state, as real clients do (a connection
/// pool, a channel to a worker): cloning it takes a reference count, as cloning a
/// hyper client or a tonic channel does.
#[derive(Debug, Clone, Default)]
pub struct SharedEcho(std::sync::Arc<u64>);

impl Service<u64> for SharedEcho {
    type Response = <Echo as Service<u64>>::Response;
    type Error = <Echo as Service<u64>>::Error;
    type Future = <Echo as Service<u64>>::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Echo.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: u64) -> Self::Future {
        // Reads the shared state, as a client reads its pool or channel.
        Echo.call(request.wrapping_add(*self.0))
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

/// Times `iterations` direct calls on `runtime`: `call(i)` makes the future of call
/// `i`, and the calls are awaited one after another on one task, as criterion's
/// `iter_custom` wants.
///
/// # Panics
///
/// Panics if a call fails: benchmarks measure the success path.
pub fn time_direct_calls<F, Fut, E>(
    runtime: &tokio::runtime::Runtime,
    iterations: u64,
    mut call: F,
) -> Duration
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<u64, E>>,
    E: std::fmt::Debug,
{
    runtime.block_on(async {
        let start = Instant::now();
        for i in 0..iterations {
            let value = call(black_box(i)).await.expect("call succeeds");
            black_box(value);
        }
        start.elapsed()
    })
}

/// Times `iterations` calls on each of two threads at once, each thread with its own
/// current-thread runtime and its own clone of `service` (clones share the layer's
/// state, as the clones of one service do across connections). Returns the wall time,
/// so it compares directly with [`time_calls`] of the same `iterations`: a layer that
/// scales perfectly takes the same time.
///
/// # Panics
///
/// Panics if a thread cannot be spawned or a call fails.
pub fn time_calls_on_two_threads<S>(service: &S, iterations: u64) -> Duration
where
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let service = service.clone();
    on_two_threads(move || {
        let mut service = service.clone();
        let rt = runtime();
        move || time_calls(&rt, &mut service, iterations)
    })
}

/// Runs a timed loop on each of two threads at once and returns the wall time. Each
/// thread first calls `setup` (outside the timing) and then, once both are set up, the
/// loop it returned.
///
/// # Panics
///
/// Panics if a thread cannot be spawned or its loop panics.
pub fn on_two_threads<P, R>(setup: P) -> Duration
where
    P: Fn() -> R + Clone + Send + 'static,
    R: FnOnce() -> Duration,
{
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let setup = setup.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let run = setup();
                barrier.wait();
                run()
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for thread in threads {
        thread.join().expect("benchmark thread");
    }
    start.elapsed()
}

/// Like [`time_calls_on_two_threads`], but the service is built as users build it: on
/// the first of the two calling threads, which then calls through it, while the second
/// gets a clone. Before building, the first thread keeps `skew` small allocations (32
/// bytes each), which moves where the handle's own allocations land in memory: a layout
/// in which a handle's hot data shares a cache line with data the other thread writes
/// shows up at one skew and not at another, so benches run every skew from 0 to 3.
///
/// # Panics
///
/// Panics if a thread cannot be spawned or a call fails.
pub fn time_calls_on_two_threads_built_by_one<S, B>(
    build: B,
    skew: usize,
    iterations: u64,
) -> Duration
where
    B: FnOnce() -> S + Send + 'static,
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let (send, receive) = std::sync::mpsc::channel();
    let builder = {
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            let skew: Vec<Box<[u64; 4]>> = (0..skew).map(|i| Box::new([i as u64; 4])).collect();
            let mut service = build();
            send.send(service.clone()).expect("the other thread waits");
            let rt = runtime();
            barrier.wait();
            let elapsed = time_calls(&rt, &mut service, iterations);
            drop(black_box(skew));
            elapsed
        })
    };
    let other = {
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            let mut service = receive.recv().expect("the builder sends a clone");
            let rt = runtime();
            barrier.wait();
            time_calls(&rt, &mut service, iterations)
        })
    };
    barrier.wait();
    let start = Instant::now();
    builder.join().expect("benchmark thread");
    other.join().expect("benchmark thread");
    start.elapsed()
}

/// A multi-thread Tokio runtime with two workers and time enabled: what a server on a
/// two-core machine runs.
///
/// # Panics
///
/// Panics if the runtime cannot be built.
#[must_use]
pub fn two_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("build the benchmark runtime")
}

/// Runs `run(handle, iterations)` on each of two tasks spawned at once on `runtime` (a
/// [`two_worker_runtime`]) and returns the wall time from when both are released until
/// both are done. The handle is made by `build` inside the first task, which then uses
/// it, as a server builds a handle in a task that also serves; the second task gets a
/// clone.
///
/// Both tasks are released by the thread blocked on the runtime, not by each other: a
/// task woken from a worker goes into that worker's LIFO slot, which no other worker
/// can steal from, so a task released by the other (a `Barrier`'s last arrival) would
/// wait until that one yields, and two loops that never yield would run one after the
/// other on one worker. Woken from outside, both go to the shared queue and both
/// workers run.
///
/// # Panics
///
/// Panics if a task panics.
pub fn on_two_tasks<T, B, F, Fut>(
    runtime: &tokio::runtime::Runtime,
    build: B,
    run: F,
    iterations: u64,
) -> Duration
where
    T: Clone + Send + 'static,
    B: FnOnce() -> T + Send + 'static,
    F: Fn(T, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    runtime.block_on(async move {
        let (ready, mut both_ready) = tokio::sync::mpsc::channel::<()>(2);
        let (release, released) = tokio::sync::watch::channel(false);
        let (send, receive) = tokio::sync::oneshot::channel();
        let first = {
            let (ready, mut released, run) = (ready.clone(), released.clone(), run.clone());
            tokio::spawn(async move {
                let handle = build();
                let _ = send.send(handle.clone());
                ready.send(()).await.expect("the runtime thread waits");
                released.wait_for(|go| *go).await.expect("released");
                run(handle, iterations).await;
            })
        };
        let second = {
            let mut released = released;
            tokio::spawn(async move {
                let handle = receive.await.expect("the first task sends a clone");
                ready.send(()).await.expect("the runtime thread waits");
                released.wait_for(|go| *go).await.expect("released");
                run(handle, iterations).await;
            })
        };
        for _ in 0..2 {
            both_ready.recv().await.expect("both tasks get ready");
        }
        let start = Instant::now();
        release.send_replace(true);
        first.await.expect("benchmark task");
        second.await.expect("benchmark task");
        start.elapsed()
    })
}

/// [`on_two_tasks`] for a service: each task makes `iterations` calls through its
/// clone, readiness, call and response one after another.
///
/// # Panics
///
/// Panics if a call fails or a task panics.
pub fn time_calls_on_two_tasks<S, B>(
    runtime: &tokio::runtime::Runtime,
    build: B,
    iterations: u64,
) -> Duration
where
    B: FnOnce() -> S + Send + 'static,
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    on_two_tasks(
        runtime,
        build,
        |mut service: S, iterations| async move {
            for i in 0..iterations {
                let ready = service.ready().await.expect("service ready");
                let response = ready.call(black_box(i)).await.expect("call succeeds");
                black_box(response);
            }
        },
        iterations,
    )
}

/// Runs any `tower` service under a `failsafe` circuit breaker, which has no tower
/// layer of its own: the adapter a user of failsafe would write.
#[derive(Debug, Clone)]
pub struct Failsafe<S, B> {
    /// The wrapped service.
    pub inner: S,
    /// The failsafe state machine.
    pub breaker: B,
}

impl<S, B> Service<u64> for Failsafe<S, B>
where
    S: Service<u64>,
    S::Future: std::future::Future<Output = Result<S::Response, S::Error>>,
    B: failsafe::futures::CircuitBreaker,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = failsafe::futures::ResponseFuture<
        S::Future,
        B::FailurePolicy,
        B::Instrument,
        failsafe::Any,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    fn call(&mut self, request: u64) -> Self::Future {
        self.breaker.call(self.inner.call(request))
    }
}

/// A tower retry policy that never retries: the cheapest `tower::retry::Retry`.
#[derive(Debug, Clone, Copy)]
pub struct NeverRetry;

impl<E> tower::retry::Policy<u64, u64, E> for NeverRetry {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _: &mut u64, _: &mut Result<u64, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

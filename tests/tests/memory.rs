//! What each pattern costs in memory: heap bytes to build a handle, heap allocations
//! and bytes per call on the success path, and the size of a call's response future
//! (the bytes an in-flight call holds, inline, wherever its caller keeps it). Counted
//! with dhat's global allocator; run with `--nocapture` to see the table that
//! `docs/benchmarks.md` reports.

use std::future::Future;
use std::mem::size_of_val;
use std::time::Duration;

use hardy::prelude::*;
use tower::{BoxError, Service, ServiceExt};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Heap blocks and bytes allocated by `f`.
fn heap_of<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let before = dhat::HeapStats::get();
    let value = f();
    let after = dhat::HeapStats::get();
    (
        value,
        after.total_blocks - before.total_blocks,
        after.total_bytes - before.total_bytes,
    )
}

/// One row: the pattern, handle bytes, and the allocations and bytes of 100 calls
/// through its layer (after a first call has warmed everything up), and the size of a
/// call's future.
struct Row {
    pattern: &'static str,
    handle_bytes: u64,
    call_blocks: u64,
    call_bytes: u64,
    future_bytes: usize,
}

async fn measure<S>(pattern: &'static str, handle_bytes: u64, mut service: S) -> Row
where
    S: Service<u64, Response = u64, Error = BoxError>,
{
    // Warm up: the first call may register metrics, grow a map, start a timer wheel;
    // on another thread than the one a service was built on, the second takes the
    // service's own reference to its handle there.
    for i in 0..2 {
        service.ready().await.expect("ready");
        service.call(i).await.expect("warm-up call");
    }
    let mut future_bytes = 0;
    let before = dhat::HeapStats::get();
    for i in 1..=100u64 {
        service.ready().await.expect("ready");
        let future = service.call(i);
        future_bytes = size_of_val(&future);
        assert_eq!(future.await.expect("call"), i);
    }
    let after = dhat::HeapStats::get();
    Row {
        pattern,
        handle_bytes,
        call_blocks: after.total_blocks - before.total_blocks,
        call_bytes: after.total_bytes - before.total_bytes,
        future_bytes,
    }
}

/// 100 calls on fresh clones of `service`, as a server clones its service for every
/// request: a clone made for one call must not take a reference of its own.
async fn per_call_clones<S>(pattern: &'static str, handle_bytes: u64, service: S) -> Row
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone,
{
    let before = dhat::HeapStats::get();
    let mut future_bytes = 0;
    for i in 0..100u64 {
        let mut clone = service.clone();
        clone.ready().await.expect("ready");
        let future = clone.call(i);
        future_bytes = size_of_val(&future);
        assert_eq!(future.await.expect("call"), i);
    }
    let after = dhat::HeapStats::get();
    Row {
        pattern,
        handle_bytes,
        call_blocks: after.total_blocks - before.total_blocks,
        call_bytes: after.total_bytes - before.total_bytes,
        future_bytes,
    }
}

/// A current-thread runtime on paused time.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn echo() -> impl Service<u64, Response = u64, Error = BoxError, Future: Future + Send> + Clone {
    tower::service_fn(|n: u64| std::future::ready(Ok::<u64, BoxError>(n)))
}

#[test]
fn handles_are_small_and_calls_allocate_nothing() {
    let runtime = paused_runtime();
    let _profiler = dhat::Profiler::builder().testing().build();
    let (mut rows, stack, shed, answered) = runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let mut rows = Vec::new();

        rows.push(measure("bare", 0, echo()).await);

        let (timeout, _, bytes) =
            heap_of(|| Timeout::new("m", Duration::from_secs(30)).expect("valid"));
        rows.push(
            measure(
                "timeout",
                bytes,
                tower::ServiceBuilder::new()
                    .hardy_timeout(&timeout)
                    .service(echo()),
            )
            .await,
        );

        let (retry, _, bytes) =
            heap_of(|| Retry::builder("m").max_attempts(3).build().expect("valid"));
        rows.push(
            measure(
                "retry",
                bytes,
                tower::ServiceBuilder::new()
                    .hardy_retry(&retry)
                    .service(echo()),
            )
            .await,
        );

        let (breaker, _, bytes) = heap_of(|| CircuitBreaker::builder("m").build().expect("valid"));
        rows.push(
            measure(
                "breaker",
                bytes,
                tower::ServiceBuilder::new()
                    .hardy_breaker(&breaker)
                    .service(echo()),
            )
            .await,
        );

        let (bulkhead, _, bytes) = heap_of(|| {
            Bulkhead::builder("m")
                .max_concurrent(100)
                .build()
                .expect("valid")
        });
        rows.push(
            measure(
                "bulkhead",
                bytes,
                tower::ServiceBuilder::new()
                    .hardy_bulkhead(&bulkhead)
                    .service(echo()),
            )
            .await,
        );

        let (limiter, _, bytes) = heap_of(|| {
            RateLimiter::builder("m")
                .per(1_000_000, Duration::from_secs(1))
                .build()
                .expect("valid")
        });
        rows.push(
            measure(
                "rate limit",
                bytes,
                tower::ServiceBuilder::new()
                    .hardy_rate_limit(&limiter)
                    .service(echo()),
            )
            .await,
        );

        let (shedder, _, shed_bytes) =
            heap_of(|| LoadShedder::builder("m").build().expect("valid"));
        let shed = tower::ServiceBuilder::new()
            .hardy_load_shed(&shedder)
            .service(echo());
        rows.push(measure("load shed", shed_bytes, shed.clone()).await);

        let (fallback, _, fallback_bytes) = heap_of(|| Fallback::builder("m").value(0u64).build());
        let answered = tower::ServiceBuilder::new()
            .hardy_fallback(&fallback)
            .service(echo());
        rows.push(measure("fallback", fallback_bytes, answered.clone()).await);

        let (chaos, _, bytes) = heap_of(|| Chaos::builder("m").seed(1).build().expect("valid"));
        rows.push(
            measure(
                "chaos",
                bytes,
                tower::ServiceBuilder::new()
                    .hardy_chaos(&chaos)
                    .service(echo()),
            )
            .await,
        );

        // A call still pending at its first poll allocates its timer, once: the timer
        // is boxed so that calls answered at once carry no inline `Sleep`.
        let mut pending = tower::ServiceBuilder::new()
            .hardy_timeout(&timeout)
            .service(tower::service_fn(|n: u64| async move {
                tokio::task::yield_now().await;
                Ok::<u64, BoxError>(n)
            }));
        for i in 0..2 {
            pending.ready().await.expect("ready");
            pending.call(i).await.expect("warm-up call");
        }
        let (blocks, bytes) = {
            let before = dhat::HeapStats::get();
            for i in 0..100u64 {
                pending.ready().await.expect("ready");
                assert_eq!(pending.call(i).await.expect("call"), i);
            }
            let after = dhat::HeapStats::get();
            (
                after.total_blocks - before.total_blocks,
                after.total_bytes - before.total_bytes,
            )
        };
        let sleep = u64::try_from(std::mem::size_of::<tokio::time::Sleep>()).expect("small");
        assert_eq!(
            (blocks, bytes),
            (100, 100 * sleep),
            "a pending call through a timeout allocates its timer once"
        );

        let stack_bytes = rows[1..6].iter().map(|row| row.handle_bytes).sum();
        let stack = tower::ServiceBuilder::new()
            .hardy_rate_limit(&limiter)
            .hardy_retry(&retry)
            .hardy_breaker(&breaker)
            .hardy_bulkhead(&bulkhead)
            .hardy_timeout(&timeout)
            .service(echo());
        rows.push(
            measure(
                "stack (rate limit, retry, breaker, bulkhead, timeout)",
                stack_bytes,
                stack.clone(),
            )
            .await,
        );
        let pipeline = hardy::Pipeline::new()
            .retry(&retry)
            .breaker(&breaker)
            .rate_limit(&limiter)
            .bulkhead(&bulkhead)
            .timeout(&timeout);
        rows.push(
            measure(
                "pipeline (retry, breaker, rate limit, bulkhead, timeout)",
                stack_bytes,
                tower::ServiceBuilder::new()
                    .hardy_pipeline(&pipeline)
                    .service(echo()),
            )
            .await,
        );
        // The original, never called, for another thread: each service there takes a
        // reference of its own to its handle once, on its second call, and never again;
        // clones made there for one call each take none. The load shedder's and the
        // fallback's services likewise.
        (rows, stack, (shed_bytes, shed), (fallback_bytes, answered))
    });
    let stack_bytes = rows
        .iter()
        .find(|row| row.pattern.starts_with("stack (rate limit"))
        .map_or(0, |row| row.handle_bytes);
    let on_another_thread = std::thread::spawn(move || {
        paused_runtime().block_on(async move {
            let per_call = per_call_clones(
                "the stack, cloned for every call on another thread",
                stack_bytes,
                stack.clone(),
            )
            .await;
            let called = measure("the stack, called on another thread", stack_bytes, stack);
            let (shed_bytes, shed) = shed;
            let shed = measure("load shed, called on another thread", shed_bytes, shed);
            let (fallback_bytes, answered) = answered;
            let answered = measure(
                "fallback, called on another thread",
                fallback_bytes,
                answered,
            );
            [called.await, per_call, shed.await, answered.await]
        })
    })
    .join()
    .expect("the other thread");
    rows.extend(on_another_thread);

    println!(
        "| pattern | heap bytes per handle | allocations per call | heap bytes per call | response future, bytes |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            row.pattern, row.handle_bytes, row.call_blocks, row.call_bytes, row.future_bytes
        );
    }
    for row in &rows {
        assert_eq!(
            row.call_blocks, 0,
            "{}: the success path allocates nothing",
            row.pattern
        );
        // Handles keep per-thread slots (the breaker's count-window runs, the bulkhead's
        // tally of admissions), a cache line each, so their size follows the processors.
        let per_thread = 2 * 128 * u64::try_from(hardy_core::sync::thread_slots()).unwrap_or(64);
        assert!(
            row.handle_bytes < 16 * 1024 + per_thread,
            "{}: {} bytes per handle",
            row.pattern,
            row.handle_bytes
        );
    }
}

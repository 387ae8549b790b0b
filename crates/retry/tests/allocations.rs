//! A retried call allocates nothing per attempt: its timer once, when it first waits,
//! and nothing for the schedule or the retry's bookkeeping; a call that succeeds at
//! once allocates nothing. Counted with dhat's global allocator.

use std::time::Duration;

use hardy_retry::{Backoff, Jitter, Retry};
use tower::{Service, ServiceExt};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Counts the allocations of `run`.
async fn allocations_of<F: std::future::Future>(run: F) -> (u64, F::Output) {
    let before = dhat::HeapStats::get().total_blocks;
    let output = run.await;
    (dhat::HeapStats::get().total_blocks - before, output)
}

#[derive(Debug)]
struct Down;

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("down")
    }
}

impl std::error::Error for Down {}
impl hardy_core::AsRejection for Down {}

fn retry() -> Retry {
    Retry::builder("alloc")
        .max_attempts(10)
        .backoff(Backoff::Exponential {
            initial: Duration::from_millis(10),
            multiplier: 2.0,
        })
        .jitter(Jitter::Full)
        .build()
        .expect("valid retry")
}

#[test]
fn retries_allocate_one_timer_per_call_and_nothing_per_attempt() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let _profiler = dhat::Profiler::builder().testing().build();
    runtime.block_on(async {
        let retry = retry();
        // Warm up the timer wheel once.
        tokio::time::sleep(Duration::from_millis(1)).await;
        for (failures, expected) in [(0, 0), (1, 1), (3, 1), (8, 1)] {
            let mut attempt = 0;
            let (allocations, result) = allocations_of(retry.call(|| {
                attempt += 1;
                let ok = attempt > failures;
                async move { if ok { Ok(attempt) } else { Err(Down) } }
            }))
            .await;
            assert_eq!(result.expect("the last attempt succeeds"), failures + 1);
            assert_eq!(allocations, expected, "direct call, {failures} failures");
        }

        // Through the tower layer with a u64 request, which clones without allocating.
        // Retries call clones of the service, so its clones share the count of tries.
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut service =
            tower::ServiceBuilder::new()
                .layer(retry.layer())
                .service(tower::service_fn(move |request: u64| {
                    let tried = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    let ok = tried.is_multiple_of(4);
                    async move { if ok { Ok(request) } else { Err(Down) } }
                }));
        let ready = service.ready().await.expect("ready");
        let (allocations, result) = allocations_of(ready.call(7)).await;
        assert_eq!(result.expect("the fourth attempt succeeds"), 7);
        assert_eq!(allocations, 1, "tower call, 3 retries: the timer");
    });
}

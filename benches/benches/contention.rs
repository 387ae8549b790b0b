//! Contention: every shared Hardy handle used by two tasks at once on a two-worker
//! multi-thread Tokio runtime, side by side with its peers, in one run.
//!
//! Each sample builds a fresh handle inside the first task, which then calls through
//! it, as a server builds a handle in a task that also serves; the second task gets a
//! clone (see `on_two_tasks`). Each task makes `n` calls and the figure is the wall
//! time of both, so a handle that scales perfectly takes what one task alone takes.
//! Handles and peers are configured as in the single-task benches (`breaker.rs`,
//! `bulkhead.rs`, `rate_limit.rs`, `pool.rs`, `load_shed.rs`, `retry.rs`), so the
//! figures compare:
//!
//! - `contention/breaker`: the bare service, Hardy's breaker (count window, and
//!   consecutive failures only), tower-resilience's breaker and failsafe (its default,
//!   and consecutive failures only), closed, as tower services.
//! - `contention/bulkhead`: the bare service, Hardy's bulkhead, tower's
//!   `ConcurrencyLimit` (its clones share one semaphore) and tower-resilience's
//!   bulkhead, never full.
//! - `contention/rate_limit` and `contention/rate_limit_keyed`: Hardy's limiter and
//!   governor's, checked directly at a rate no call reaches, with each kind of clock;
//!   keyed, each task cycles through keys of its own.
//! - `contention/pool_1` and `contention/pool_8`: Hardy's pool, deadpool and bb8, each
//!   task getting an object and dropping it; with one object the tasks hand it over.
//!   Objects are made before timing; every pool waits at most `ACQUIRE_TIMEOUT`, so a
//!   lost wake-up fails the bench instead of hanging it.
//! - `contention/load_shed`: the bare service, Hardy's shedder (fixed and gradient
//!   limit) and tower's `LoadShed` over `ConcurrencyLimit`, under the limit.
//! - `contention/retry_budget`: the bare service, Hardy's retry with a retry budget and
//!   tower's `Retry` with its `TpsBudget`, success at the first attempt.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::*;
use governor::clock::MonotonicClock;
use hardy_benches::{Echo, on_two_tasks, time_calls_on_two_tasks, two_worker_runtime};
use hardy_rate_limit::Clock;
use tokio::runtime::Runtime;
use tower::{Layer, ServiceBuilder};

fn breaker(c: &mut Criterion) {
    let rt = two_worker_runtime();
    let mut group = c.benchmark_group("contention/breaker");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, || Echo, n));
    });
    group.bench_function("hardy", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, || hardy_window().layer().layer(Echo), n));
    });
    group.bench_function("hardy_consecutive", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_tasks(&rt, || hardy_consecutive().layer().layer(Echo), n)
        });
    });
    group.bench_function("tower_resilience", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_tasks(&rt, || tower_resilience_breaker().layer(Echo), n)
        });
    });
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, failsafe, n));
    });
    group.bench_function("failsafe_consecutive", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, failsafe_consecutive, n));
    });
    group.finish();
}

fn bulkhead(c: &mut Criterion) {
    let rt = two_worker_runtime();
    let mut group = c.benchmark_group("contention/bulkhead");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, || Echo, n));
    });
    group.bench_function("hardy", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_tasks(
                &rt,
                || {
                    ServiceBuilder::new()
                        .layer(hardy_bulkhead().layer())
                        .service(Echo)
                },
                n,
            )
        });
    });
    group.bench_function("tower_concurrency_limit", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_tasks(
                &rt,
                || tower::limit::ConcurrencyLimitLayer::new(CONCURRENCY as usize).layer(Echo),
                n,
            )
        });
    });
    group.bench_function("tower_resilience", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_tasks(&rt, || tower_resilience_bulkhead().layer(Echo), n)
        });
    });
    group.finish();
}

// Rate limit, as in `rate_limit.rs`: direct checks at a rate no call reaches.

/// Keys each task cycles through in the keyed benchmarks; the tasks' keys differ.
const KEYS: u64 = 16;

/// Times `iterations` runs of `check(handle, task, i)` on each of two tasks sharing the
/// handle `build` makes (wall time); `task` is 0 for one task and 1 for the other.
fn time_checks_on_two_tasks<T, B, C>(rt: &Runtime, build: B, check: C, iterations: u64) -> Duration
where
    T: Clone + Send + 'static,
    B: FnOnce() -> T + Send + 'static,
    C: Fn(&T, u64, u64) -> bool + Clone + Send + 'static,
{
    let tasks = Arc::new(AtomicU64::new(0));
    on_two_tasks(
        rt,
        build,
        move |handle: T, iterations| {
            let check = check.clone();
            let task = tasks.fetch_add(1, Ordering::Relaxed);
            async move {
                for i in 0..iterations {
                    assert!(check(&handle, task, black_box(i)), "admitted");
                }
            }
        },
        iterations,
    )
}

/// The key of check `i` of task `task`: each task cycles through `KEYS` keys of its own.
fn key(task: u64, i: u64) -> u64 {
    task * KEYS + i % KEYS
}

fn rate_limit(c: &mut Criterion) {
    let rt = two_worker_runtime();
    let mut group = c.benchmark_group("contention/rate_limit");
    for (name, clock) in [
        ("hardy_fast_clock", Clock::Fast),
        ("hardy_tokio_clock", Clock::Tokio),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|n| {
                time_checks_on_two_tasks(
                    &rt,
                    move || hardy_limiter(clock),
                    |limiter, _, _| limiter.check().is_ok(),
                    n,
                )
            });
        });
    }
    group.bench_function("governor", |b| {
        b.iter_custom(|n| {
            time_checks_on_two_tasks(
                &rt,
                || Arc::new(governor::RateLimiter::direct(quota())),
                |limiter, _, _| limiter.check().is_ok(),
                n,
            )
        });
    });
    group.bench_function("governor_monotonic_clock", |b| {
        b.iter_custom(|n| {
            time_checks_on_two_tasks(
                &rt,
                || {
                    Arc::new(governor::RateLimiter::direct_with_clock(
                        quota(),
                        MonotonicClock,
                    ))
                },
                |limiter, _, _| limiter.check().is_ok(),
                n,
            )
        });
    });
    group.finish();

    let mut group = c.benchmark_group("contention/rate_limit_keyed");
    for (name, clock) in [
        ("hardy_fast_clock", Clock::Fast),
        ("hardy_tokio_clock", Clock::Tokio),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|n| {
                time_checks_on_two_tasks(
                    &rt,
                    move || hardy_keyed_limiter(clock),
                    |limiter, task, i| limiter.check_key(&key(task, i)).is_ok(),
                    n,
                )
            });
        });
    }
    group.bench_function("governor", |b| {
        b.iter_custom(|n| {
            time_checks_on_two_tasks(
                &rt,
                || Arc::new(governor::RateLimiter::keyed(quota())),
                |limiter, task, i| limiter.check_key(&key(task, i)).is_ok(),
                n,
            )
        });
    });
    group.bench_function("governor_monotonic_clock", |b| {
        b.iter_custom(|n| {
            time_checks_on_two_tasks(
                &rt,
                || {
                    Arc::new(governor::RateLimiter::dashmap_with_clock(
                        quota(),
                        MonotonicClock,
                    ))
                },
                |limiter, task, i| limiter.check_key(&key(task, i)).is_ok(),
                n,
            )
        });
    });
    group.finish();
}

// Pool, as in `pool.rs`: managers whose objects cost nothing to make or check.

/// How long any pool waits for an object: never reached when objects come back, and
/// a bound on a lost wake-up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `future` to its end from `on_two_tasks`'s `build`, which is synchronous and
/// runs in a task: how the pools make their objects before timing.
fn block_on_in_task<F: Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// Takes `size` objects out of a pool at once and returns them, so that all are made.
macro_rules! fill {
    ($pool:expr, $size:expr) => {{
        let mut held = Vec::with_capacity($size);
        for _ in 0..$size {
            held.push($pool.get().await.expect("object"));
        }
        drop(held);
    }};
}

fn hardy_pool(size: usize) -> hardy_pool::Pool<HardyManager> {
    block_on_in_task(async {
        let pool = hardy_pool::Pool::builder("bench", HardyManager)
            .max_size(size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .build()
            .expect("valid pool");
        fill!(pool, size);
        pool
    })
}

fn deadpool_pool(size: usize) -> deadpool::managed::Pool<DeadpoolManager> {
    block_on_in_task(async {
        let pool = deadpool::managed::Pool::builder(DeadpoolManager)
            .max_size(size)
            .wait_timeout(Some(ACQUIRE_TIMEOUT))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("valid pool");
        fill!(pool, size);
        pool
    })
}

fn bb8_pool(size: usize) -> bb8::Pool<Bb8Manager> {
    block_on_in_task(async {
        let size32 = u32::try_from(size).expect("small pool");
        let pool = bb8::Pool::builder()
            .max_size(size32)
            .min_idle(Some(size32))
            .connection_timeout(ACQUIRE_TIMEOUT)
            .build(Bb8Manager)
            .await
            .expect("valid pool");
        fill!(pool, size);
        pool
    })
}

/// Times `iterations` get-and-drop cycles on each of two tasks sharing the pool
/// `build` makes (wall time).
macro_rules! time_gets_on_two_tasks {
    ($rt:expr, $build:expr, $iterations:expr) => {
        on_two_tasks(
            $rt,
            $build,
            |pool, iterations| async move {
                for _ in 0..iterations {
                    drop(black_box(pool.get().await.expect("object")));
                }
            },
            $iterations,
        )
    };
}

fn pool(c: &mut Criterion) {
    let rt = two_worker_runtime();
    for size in [1, 8] {
        let mut group = c.benchmark_group(format!("contention/pool_{size}"));
        group.bench_function("hardy", |b| {
            b.iter_custom(|n| time_gets_on_two_tasks!(&rt, move || hardy_pool(size), n));
        });
        group.bench_function("deadpool", |b| {
            b.iter_custom(|n| time_gets_on_two_tasks!(&rt, move || deadpool_pool(size), n));
        });
        group.bench_function("bb8", |b| {
            b.iter_custom(|n| time_gets_on_two_tasks!(&rt, move || bb8_pool(size), n));
        });
        group.finish();
    }
}

fn load_shed(c: &mut Criterion) {
    let rt = two_worker_runtime();
    let mut group = c.benchmark_group("contention/load_shed");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, || Echo, n));
    });
    group.bench_function("hardy_fixed", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, || hardy_fixed().layer().layer(Echo), n));
    });
    group.bench_function("hardy_gradient", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, || hardy_gradient().layer().layer(Echo), n));
    });
    group.bench_function("tower_load_shed_concurrency_limit", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, tower_load_shed, n));
    });
    group.finish();
}

fn retry_budget(c: &mut Criterion) {
    let rt = two_worker_runtime();
    let mut group = c.benchmark_group("contention/retry_budget");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_tasks(&rt, || Echo, n));
    });
    group.bench_function("hardy_budget", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_tasks(
                &rt,
                || {
                    ServiceBuilder::new()
                        .layer(hardy_budgeted().layer())
                        .service(Echo)
                },
                n,
            )
        });
    });
    group.bench_function("tower_budget", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_tasks(
                &rt,
                || tower::retry::RetryLayer::new(tower_budgeted()).layer(Echo),
                n,
            )
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    breaker,
    bulkhead,
    rate_limit,
    pool,
    load_shed,
    retry_budget
);
criterion_main!(benches);

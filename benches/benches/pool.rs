//! Pool, an idle object checked out and returned: HardyManager's pool beside deadpool and
//! bb8, on one task and with two tasks on two threads sharing one pool, in one run.
//! Every pool holds 4 objects, all made before timing starts.

use std::time::{Duration, Instant};

mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::{Bb8Manager, DeadpoolManager, HardyManager};
use hardy_benches::on_two_threads;

const SIZE: usize = 4;

fn runtime() -> tokio::runtime::Runtime {
    hardy_benches::runtime()
}

fn hardy_pool(rt: &tokio::runtime::Runtime) -> hardy_pool::Pool<HardyManager> {
    rt.block_on(async {
        let pool = hardy_pool::Pool::builder("bench", HardyManager)
            .max_size(SIZE)
            .build()
            .expect("valid pool");
        // Make every object before timing.
        let held: Vec<_> = futures_all(&pool).await;
        drop(held);
        pool
    })
}

async fn futures_all(
    pool: &hardy_pool::Pool<HardyManager>,
) -> Vec<hardy_pool::Pooled<HardyManager>> {
    let mut held = Vec::new();
    for _ in 0..SIZE {
        held.push(pool.get().await.expect("object"));
    }
    held
}

fn deadpool_pool(rt: &tokio::runtime::Runtime) -> deadpool::managed::Pool<DeadpoolManager> {
    rt.block_on(async {
        let pool = deadpool::managed::Pool::builder(DeadpoolManager)
            .max_size(SIZE)
            .build()
            .expect("valid pool");
        let mut held = Vec::new();
        for _ in 0..SIZE {
            held.push(pool.get().await.expect("object"));
        }
        drop(held);
        pool
    })
}

fn bb8_pool(rt: &tokio::runtime::Runtime) -> bb8::Pool<Bb8Manager> {
    rt.block_on(async {
        let pool = bb8::Pool::builder()
            .max_size(SIZE as u32)
            .min_idle(Some(SIZE as u32))
            .build(Bb8Manager)
            .await
            .expect("valid pool");
        let mut held = Vec::new();
        for _ in 0..SIZE {
            held.push(pool.get().await.expect("object"));
        }
        drop(held);
        pool
    })
}

/// Times `n` get-and-drop cycles of `get` on `rt`.
fn time_gets<F, Fut, T>(rt: &tokio::runtime::Runtime, n: u64, mut get: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(get().await);
        }
        start.elapsed()
    })
}

fn pool(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("pool/get_drop");
    let hardy = hardy_pool(&rt);
    group.bench_function("hardy", |b| {
        b.iter_custom(|n| time_gets(&rt, n, || async { hardy.get().await.expect("object") }));
    });
    let deadpool = deadpool_pool(&rt);
    group.bench_function("deadpool", |b| {
        b.iter_custom(|n| time_gets(&rt, n, || async { deadpool.get().await.expect("object") }));
    });
    let bb8 = bb8_pool(&rt);
    group.bench_function("bb8", |b| {
        b.iter_custom(|n| time_gets(&rt, n, || async { bb8.get().await.expect("object") }));
    });
    group.finish();

    let mut group = c.benchmark_group("pool/two_threads");
    group.bench_function("hardy", |b| {
        b.iter_custom(|n| {
            let pool = hardy.clone();
            on_two_threads(move || {
                let pool = pool.clone();
                let rt = runtime();
                move || time_gets(&rt, n, || async { pool.get().await.expect("object") })
            })
        });
    });
    group.bench_function("deadpool", |b| {
        b.iter_custom(|n| {
            let pool = deadpool.clone();
            on_two_threads(move || {
                let pool = pool.clone();
                let rt = runtime();
                move || time_gets(&rt, n, || async { pool.get().await.expect("object") })
            })
        });
    });
    group.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);

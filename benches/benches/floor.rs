//! What the machine charges for the operations the patterns cannot avoid: one atomic
//! read-modify-write on a cache line no other thread touches, and a reference count
//! taken and given back (two of them), as a response future does with its handle.
//!
//! No pattern is measured here. The figures say how much of a layer's time is the
//! atomic operations its design needs (a shared permit count, a shared rate, a
//! reference to the handle that outlives the call), which differs from machine to
//! machine far more than the rest of the code does.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};

fn floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.bench_function("atomic_add", |b| {
        let counter = AtomicU64::new(0);
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(&counter).fetch_add(1, Ordering::Relaxed);
            }
            start.elapsed()
        });
    });
    group.bench_function("arc_clone_drop", |b| {
        let handle = Arc::new(0_u64);
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                drop(black_box(Arc::clone(black_box(&handle))));
            }
            start.elapsed()
        });
    });
    group.bench_function("plain_add", |b| {
        let mut counter = 0_u64;
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                counter = black_box(black_box(counter).wrapping_add(1));
            }
            start.elapsed()
        });
    });
    group.finish();
}

criterion_group!(benches, floor);
criterion_main!(benches);

//! Circuit breaker, closed-state success path: the bare service, Hardy's breaker (count
//! window, and consecutive failures only), tower-resilience's breaker and failsafe (its
//! default, and consecutive failures only, like for like with Hardy's), on
//! one thread and with two threads sharing one breaker, as tower services; and as
//! direct calls, Hardy's `CircuitBreaker::call` beside failsafe's own future API; in
//! one run.

mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::{
    failsafe, failsafe_consecutive, failsafe_consecutive_breaker, hardy_consecutive, hardy_window,
    tower_resilience_breaker,
};
use hardy_benches::{
    Echo, runtime, time_calls, time_calls_on_two_threads_built_by_one, time_direct_calls,
};
use tower::{Layer, ServiceBuilder};

fn breaker(c: &mut Criterion) {
    let rt = runtime();

    let mut group = c.benchmark_group("breaker/closed");
    group.bench_function("bare", |b| {
        let mut service = Echo;
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy", |b| {
        let mut service = ServiceBuilder::new()
            .layer(hardy_window().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("hardy_consecutive", |b| {
        let mut service = ServiceBuilder::new()
            .layer(hardy_consecutive().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let mut service = tower_resilience_breaker().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("failsafe", |b| {
        let mut service = failsafe();
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("failsafe_consecutive", |b| {
        let mut service = failsafe_consecutive();
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    // Two threads share one breaker, built as users build it: on one of the calling
    // threads. Hardy's cases run at four heap layouts (`skew`, see
    // `time_calls_on_two_threads_built_by_one`), so a layout in which the breaker's hot
    // data shares a cache line with data the other thread writes cannot hide.
    let mut group = c.benchmark_group("breaker/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads_built_by_one(|| Echo, 0, n));
    });
    for skew in 0..4 {
        let suffix = if skew == 0 {
            String::new()
        } else {
            format!("_skew{skew}")
        };
        group.bench_function(format!("hardy{suffix}"), |b| {
            b.iter_custom(|n| {
                time_calls_on_two_threads_built_by_one(
                    || {
                        ServiceBuilder::new()
                            .layer(hardy_window().layer())
                            .service(Echo)
                    },
                    skew,
                    n,
                )
            });
        });
        group.bench_function(format!("hardy_consecutive{suffix}"), |b| {
            b.iter_custom(|n| {
                time_calls_on_two_threads_built_by_one(
                    || {
                        ServiceBuilder::new()
                            .layer(hardy_consecutive().layer())
                            .service(Echo)
                    },
                    skew,
                    n,
                )
            });
        });
    }
    group.bench_function("tower_resilience", |b| {
        b.iter_custom(|n| {
            time_calls_on_two_threads_built_by_one(|| tower_resilience_breaker().layer(Echo), 0, n)
        });
    });
    group.bench_function("failsafe", |b| {
        b.iter_custom(|n| time_calls_on_two_threads_built_by_one(failsafe, 0, n));
    });
    group.bench_function("failsafe_consecutive", |b| {
        b.iter_custom(|n| time_calls_on_two_threads_built_by_one(failsafe_consecutive, 0, n));
    });
    group.finish();

    let mut group = c.benchmark_group("breaker/direct");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| async move { Ok::<u64, std::io::Error>(i) })
        });
    });
    for (name, breaker) in [
        ("hardy", hardy_window()),
        ("hardy_consecutive", hardy_consecutive()),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|n| {
                time_direct_calls(&rt, n, |i| {
                    breaker.call(move || async move { Ok::<u64, std::io::Error>(i) })
                })
            });
        });
    }
    group.bench_function("failsafe", |b| {
        use failsafe::futures::CircuitBreaker as _;
        let breaker = failsafe::Config::new().build();
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| {
                breaker.call(async move { Ok::<u64, std::io::Error>(i) })
            })
        });
    });
    group.bench_function("failsafe_consecutive", |b| {
        use failsafe::futures::CircuitBreaker as _;
        let breaker = failsafe_consecutive_breaker();
        b.iter_custom(|n| {
            time_direct_calls(&rt, n, |i| {
                breaker.call(async move { Ok::<u64, std::io::Error>(i) })
            })
        });
    });
    group.finish();
}

criterion_group!(benches, breaker);
criterion_main!(benches);

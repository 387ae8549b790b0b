//! Circuit breaker, closed-state success path: the bare service, Hardy's breaker (count
//! window, and consecutive failures only), tower-resilience's breaker and failsafe, on
//! one thread and with two threads sharing one breaker, as tower services; and as
//! direct calls, Hardy's `CircuitBreaker::call` beside failsafe's own future API; in
//! one run.

use criterion::{Criterion, criterion_group, criterion_main};
use hardy_benches::{
    Echo, Failsafe, runtime, time_calls, time_calls_on_two_threads, time_direct_calls,
};
use hardy_breaker::{CircuitBreaker, Window};
use tower::{Layer, ServiceBuilder};

fn hardy_window() -> CircuitBreaker {
    CircuitBreaker::builder("bench")
        .build()
        .expect("valid breaker")
}

fn hardy_consecutive() -> CircuitBreaker {
    CircuitBreaker::builder("bench")
        .window(Window::Off)
        .build()
        .expect("valid breaker")
}

fn tower_resilience() -> tower_resilience_circuitbreaker::CircuitBreakerLayer {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .expect("valid tower-resilience breaker")
}

fn failsafe()
-> Failsafe<Echo, impl failsafe::futures::CircuitBreaker + Clone + Send + Sync + 'static> {
    Failsafe {
        inner: Echo,
        breaker: failsafe::Config::new().build(),
    }
}

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
        let mut service = tower_resilience().layer(Echo);
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.bench_function("failsafe", |b| {
        let mut service = failsafe();
        b.iter_custom(|n| time_calls(&rt, &mut service, n));
    });
    group.finish();

    let mut group = c.benchmark_group("breaker/two_threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|n| time_calls_on_two_threads(&Echo, n));
    });
    group.bench_function("hardy", |b| {
        let service = ServiceBuilder::new()
            .layer(hardy_window().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("hardy_consecutive", |b| {
        let service = ServiceBuilder::new()
            .layer(hardy_consecutive().layer())
            .service(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("tower_resilience", |b| {
        let service = tower_resilience().layer(Echo);
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
    });
    group.bench_function("failsafe", |b| {
        let service = failsafe();
        b.iter_custom(|n| time_calls_on_two_threads(&service, n));
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
    group.finish();
}

criterion_group!(benches, breaker);
criterion_main!(benches);

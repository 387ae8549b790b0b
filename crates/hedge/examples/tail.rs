//! The slow tail, simulated on paused time: a backend whose calls take 8-12 ms, and
//! 3 % of them a second (seeded), called 20,000 times one after another with no
//! hedging, with tower's `Hedge` and with Hardy's, both at the 95th percentile. Prints
//! the latencies' 50th, 99th and 99.9th percentiles and the load each added.
//!
//! `cargo run -p hardy-hedge --example tail`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_hedge::{Hedge, HedgeDelay};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::{Instant, sleep};
use tower::{BoxError, Service, ServiceExt};

const CALLS: usize = 20_000;
const SEED: u64 = 2026;

/// The backend: counts the attempts it starts.
#[derive(Clone)]
struct Backend {
    rng: Arc<Mutex<SmallRng>>,
    attempts: Arc<AtomicU64>,
}

impl Backend {
    fn new() -> Self {
        Backend {
            rng: Arc::new(Mutex::new(SmallRng::seed_from_u64(SEED))),
            attempts: Arc::default(),
        }
    }

    fn latency(&self) -> Duration {
        let mut rng = self.rng.lock().expect("not poisoned");
        if rng.random_bool(0.03) {
            Duration::from_secs(1)
        } else {
            Duration::from_micros(rng.random_range(8_000..=12_000))
        }
    }
}

impl Service<u64> for Backend {
    type Response = u64;
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<u64, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let takes = self.latency();
        Box::pin(async move {
            sleep(takes).await;
            Ok(request)
        })
    }
}

/// tower's hedge policy: every request may be copied and hedged.
#[derive(Clone)]
struct Always;

impl tower::hedge::Policy<u64> for Always {
    fn clone_request(&self, request: &u64) -> Option<u64> {
        Some(*request)
    }

    fn can_retry(&self, _: &u64) -> bool {
        true
    }
}

/// Runs the calls through `service`; the sorted latencies.
async fn run<S>(mut service: S) -> Vec<Duration>
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let mut latencies = Vec::with_capacity(CALLS);
    for request in 0..CALLS as u64 {
        let started = Instant::now();
        let ready = service.ready().await.expect("ready");
        ready.call(request).await.expect("answered");
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn row(name: &str, latencies: &[Duration], attempts: u64) {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1_000.0);
    let added = (attempts as f64 / CALLS as f64 - 1.0) * 100.0;
    println!(
        "| {name} | {} | {} | {} | {added:.1} % |",
        ms(percentile(latencies, 50.0)),
        ms(percentile(latencies, 99.0)),
        ms(percentile(latencies, 99.9)),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        println!("| hedging | p50 | p99 | p99.9 | load added |");
        println!("| --- | --- | --- | --- | --- |");

        let backend = Backend::new();
        let latencies = run(backend.clone()).await;
        row("none", &latencies, backend.attempts.load(Ordering::Relaxed));

        let backend = Backend::new();
        let tower = tower::hedge::Hedge::new::<u64>(
            backend.clone(),
            Always,
            100,
            0.95,
            Duration::from_secs(10),
        );
        let latencies = run(tower).await;
        row(
            "tower `Hedge`, p95",
            &latencies,
            backend.attempts.load(Ordering::Relaxed),
        );

        for (name, budget) in [
            ("Hardy, p95, no budget", false),
            ("Hardy, p95, 10 % budget", true),
        ] {
            let backend = Backend::new();
            let builder = Hedge::builder("replicas").delay(HedgeDelay::Percentile {
                percentile: 95.0,
                min_samples: 100,
                period: Duration::from_secs(10),
            });
            let hedge = if budget { builder } else { builder.no_budget() }
                .build()
                .expect("valid");
            let service = tower::ServiceBuilder::new()
                .layer(hedge.layer())
                .service(backend.clone());
            let latencies = run(service).await;
            row(name, &latencies, backend.attempts.load(Ordering::Relaxed));
        }
    });
}

//! The slow tail on paused time: a backend whose calls are mostly fast and a few very
//! slow, called with and without hedging at its 95th percentile.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_hedge::{Hedge, HedgeDelay};
use hardy_retry::RetryBudgetConfig;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::{Instant, sleep};

const CALLS: usize = 3_000;
const MS: Duration = Duration::from_millis(1);

/// 97 % of calls take 8-12 ms, 3 % a second; draws from one seeded sequence.
#[derive(Clone)]
struct Backend {
    rng: Arc<Mutex<SmallRng>>,
    started: Arc<AtomicU32>,
    dropped: Arc<AtomicU32>,
}

struct Running(Arc<AtomicU32>, bool);

impl Drop for Running {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Backend {
    fn new() -> Self {
        Backend {
            rng: Arc::new(Mutex::new(SmallRng::seed_from_u64(2026))),
            started: Arc::default(),
            dropped: Arc::default(),
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

    fn attempt(&self) -> impl Future<Output = Result<(), std::io::Error>> + use<> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let takes = self.latency();
        let running = Running(self.dropped.clone(), false);
        async move {
            let mut running = running;
            sleep(takes).await;
            running.1 = true;
            Ok(())
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(start_paused = true)]
async fn hedging_at_the_95th_percentile_brings_the_99th_near_it_within_the_budget() {
    // Without hedging: the slow 3 % are the tail.
    let backend = Backend::new();
    let mut plain = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        backend.attempt().await.expect("answers");
        plain.push(started.elapsed());
    }
    plain.sort();
    let p95 = percentile(&plain, 95.0);
    assert!(p95 <= 12 * MS, "{p95:?}");
    assert_eq!(percentile(&plain, 99.0), Duration::from_secs(1));

    // With hedging at the 95th percentile, 10 % of calls in the budget.
    let backend = Backend::new();
    let hedge = Hedge::builder("replicas")
        .delay(HedgeDelay::Percentile {
            percentile: 95.0,
            min_samples: 100,
            period: Duration::from_secs(3_600),
        })
        .budget(RetryBudgetConfig {
            retry_ratio: 0.1,
            min_retries_per_second: 0.0,
            max_balance: 10,
        })
        .build()
        .unwrap();
    let mut hedged = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        hedge.call(|| backend.attempt()).await.expect("answers");
        hedged.push(started.elapsed());
    }
    hedged.sort();
    let p99 = percentile(&hedged, 99.0);
    assert!(p99 <= 2 * p95 + 2 * MS, "p99 {p99:?}, p95 {p95:?}");

    let stats = hedge.stats();
    let calls = CALLS as u64;
    assert_eq!(stats.calls, calls);
    assert!(stats.hedges > 0);
    assert!(
        stats.hedges <= calls / 10 + 10,
        "within the budget: {stats:?}"
    );
    // Every attempt started is a call's first or a hedge; every one dropped unfinished
    // is counted as cancelled, and no call ended with more than one winner.
    let started = u64::from(backend.started.load(Ordering::SeqCst));
    assert_eq!(started, calls + stats.hedges);
    assert_eq!(
        u64::from(backend.dropped.load(Ordering::SeqCst)),
        stats.cancelled
    );
    assert_eq!(stats.cancelled, stats.hedges, "one loser per hedged call");
    assert!(stats.hedge_wins <= stats.hedges);
}

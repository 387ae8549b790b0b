//! Hedged calls on paused time: when an extra attempt starts, which answer wins, what
//! the budget and a breaker allow, what a failure does, and that losers, cancelled and
//! panicking calls give back everything they held.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_breaker::CircuitBreaker;
use hardy_bulkhead::Bulkhead;
use hardy_hedge::{Hedge, HedgeEvent};
use hardy_retry::RetryBudgetConfig;
use tokio::time::{Instant, sleep};

type Io = std::io::Error;

const MS: Duration = Duration::from_millis(1);

/// Counts the attempts it starts and those dropped before they finished.
#[derive(Clone, Default)]
struct Backend {
    started: Arc<AtomicU32>,
    dropped: Arc<AtomicU32>,
}

/// Counts an attempt as dropped unless it finished.
struct Running {
    dropped: Arc<AtomicU32>,
    finished: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Backend {
    /// An attempt taking `takes`, then answering `answer`.
    fn attempt(
        &self,
        takes: Duration,
        answer: Result<u32, &'static str>,
    ) -> impl Future<Output = Result<u32, Io>> + use<> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let running = Running {
            dropped: self.dropped.clone(),
            finished: false,
        };
        async move {
            // The whole guard moves in, dropped with the attempt.
            let mut running = running;
            sleep(takes).await;
            running.finished = true;
            answer.map_err(Io::other)
        }
    }

    fn started(&self) -> u32 {
        self.started.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::SeqCst)
    }
}

fn fixed(delay: Duration) -> hardy_hedge::HedgeBuilder {
    Hedge::builder("replicas").fixed_delay(delay).no_budget()
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_is_hedged_after_the_delay_and_the_first_success_wins() {
    let backend = Backend::default();
    let hedge = fixed(20 * MS).build().unwrap();
    let started = Instant::now();
    let mut attempt = 0;
    let answer = hedge
        .call(|| {
            attempt += 1;
            match attempt {
                1 => backend.attempt(5_000 * MS, Ok(1)),
                _ => backend.attempt(3 * MS, Ok(2)),
            }
        })
        .await
        .unwrap();
    assert_eq!(answer, 2);
    assert_eq!(
        started.elapsed(),
        23 * MS,
        "hedged at 20 ms, answered 3 ms later"
    );
    assert_eq!(
        (backend.started(), backend.dropped()),
        (2, 1),
        "the loser dropped"
    );
    let stats = hedge.stats();
    assert_eq!(
        (stats.calls, stats.hedges, stats.hedge_wins, stats.cancelled),
        (1, 1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_faster_than_the_delay_is_never_hedged() {
    let backend = Backend::default();
    let hedge = fixed(20 * MS).build().unwrap();
    for _ in 0..10 {
        hedge
            .call(|| backend.attempt(19 * MS, Ok(1)))
            .await
            .unwrap();
    }
    assert_eq!(backend.started(), 10);
    let stats = hedge.stats();
    assert_eq!((stats.calls, stats.hedges, stats.cancelled), (10, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn each_extra_attempt_waits_the_delay_again_up_to_max_hedges() {
    let backend = Backend::default();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let hedge = fixed(10 * MS)
        .max_hedges(2)
        .on_event(move |event| sink.lock().unwrap().push(event.clone()))
        .build()
        .unwrap();
    let started = Instant::now();
    let answer = hedge
        .call(|| backend.attempt(100 * MS, Ok(7)))
        .await
        .unwrap();
    assert_eq!(answer, 7);
    assert_eq!(started.elapsed(), 100 * MS, "the first still answers first");
    assert_eq!((backend.started(), backend.dropped()), (3, 2));
    let after: Vec<Duration> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            HedgeEvent::Hedged { after, .. } => Some(*after),
            _ => None,
        })
        .collect();
    assert_eq!(after, [10 * MS, 20 * MS]);
    assert_eq!(hedge.stats().hedge_wins, 0, "the first attempt won");
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_skips_the_extra_attempt() {
    let backend = Backend::default();
    let hedge = Hedge::builder("replicas")
        .fixed_delay(10 * MS)
        .budget(RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries_per_second: 0.0,
            max_balance: 1,
        })
        .build()
        .unwrap();
    for _ in 0..3 {
        hedge
            .call(|| backend.attempt(50 * MS, Ok(1)))
            .await
            .unwrap();
    }
    let stats = hedge.stats();
    assert_eq!(stats.hedges, 1, "the one token the budget started with");
    assert_eq!(stats.skipped_budget, 2);
    assert_eq!(backend.started(), 3 + 1);
}

#[tokio::test(start_paused = true)]
async fn no_extra_attempt_while_the_breaker_is_not_closed() {
    let backend = Backend::default();
    let breaker = CircuitBreaker::builder("replicas").build().unwrap();
    let hedge = fixed(10 * MS).breaker(&breaker).build().unwrap();
    breaker.force_open();
    hedge
        .call(|| backend.attempt(50 * MS, Ok(1)))
        .await
        .unwrap();
    breaker.reset();
    hedge
        .call(|| backend.attempt(50 * MS, Ok(1)))
        .await
        .unwrap();
    let stats = hedge.stats();
    assert_eq!((stats.skipped_breaker, stats.hedges), (1, 1));
    assert_eq!(backend.started(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_waits_for_the_other_attempt_unless_told_to_end_the_call() {
    let backend = Backend::default();
    let hedge = fixed(10 * MS).build().unwrap();
    let mut attempt = 0;
    let answer = hedge
        .call(|| {
            attempt += 1;
            match attempt {
                1 => backend.attempt(100 * MS, Ok(1)),
                _ => backend.attempt(5 * MS, Err("replica down")),
            }
        })
        .await;
    assert_eq!(
        answer.unwrap(),
        1,
        "the hedge's failure did not end the call"
    );

    let ends = fixed(10 * MS).first_failure_ends(true).build().unwrap();
    let started = Instant::now();
    let mut attempt = 0;
    let answer = ends
        .call(|| {
            attempt += 1;
            match attempt {
                1 => backend.attempt(100 * MS, Ok(1)),
                _ => backend.attempt(5 * MS, Err("replica down")),
            }
        })
        .await;
    assert_eq!(answer.unwrap_err().to_string(), "replica down");
    assert_eq!(started.elapsed(), 15 * MS);
    assert_eq!(ends.stats().cancelled, 1);

    // A failure with nothing else running ends the call: hedging is not a retry.
    let started = Instant::now();
    let answer = hedge.call(|| backend.attempt(2 * MS, Err("refused"))).await;
    assert!(answer.is_err());
    assert_eq!(started.elapsed(), 2 * MS);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_hedged_call_gives_back_every_attempts_slot() {
    let bulkhead = Bulkhead::builder("replicas")
        .max_concurrent(4)
        .build()
        .unwrap();
    let hedge = fixed(10 * MS).max_hedges(2).build().unwrap();
    let call = hedge.call(|| {
        let slot = bulkhead.try_acquire();
        async move {
            let _slot = slot.map_err(Io::other)?;
            sleep(1_000 * MS).await;
            Ok::<_, Io>(())
        }
    });
    let cut = tokio::time::timeout(25 * MS, call).await;
    assert!(cut.is_err(), "still running at 25 ms");
    assert_eq!(
        bulkhead.stats().in_flight,
        0,
        "three attempts, three slots back"
    );
    assert_eq!(hedge.stats().cancelled, 3);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_attempt_releases_what_every_attempt_held() {
    let bulkhead = Bulkhead::builder("replicas")
        .max_concurrent(4)
        .build()
        .unwrap();
    let hedge = fixed(10 * MS).build().unwrap();
    let (task_hedge, task_bulkhead) = (hedge.clone(), bulkhead.clone());
    let task = tokio::spawn(async move {
        let attempts = AtomicU32::new(0);
        task_hedge
            .call(|| {
                let number = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                let slot = task_bulkhead.try_acquire();
                async move {
                    let _slot = slot.map_err(Io::other)?;
                    if number == 2 {
                        sleep(MS).await;
                        panic!("the extra attempt panics");
                    }
                    sleep(1_000 * MS).await;
                    Ok::<_, Io>(())
                }
            })
            .await
    });
    let ended = task.await;
    assert!(ended.unwrap_err().is_panic());
    assert_eq!(bulkhead.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn no_hedging_until_enough_latencies_are_known() {
    let backend = Backend::default();
    let hedge = Hedge::builder("replicas")
        .delay(hardy_hedge::HedgeDelay::Percentile {
            percentile: 90.0,
            min_samples: 10,
            period: Duration::from_secs(60),
        })
        .no_budget()
        .build()
        .unwrap();
    assert_eq!(hedge.delay(), None);
    for _ in 0..10 {
        hedge
            .call(|| backend.attempt(100 * MS, Ok(1)))
            .await
            .unwrap();
    }
    assert_eq!(hedge.stats().hedges, 0, "too few to trust a percentile");
    let delay = hedge.delay().expect("ten known");
    assert!(delay >= 99 * MS && delay <= 101 * MS, "{delay:?}");
    hedge
        .call(|| backend.attempt(200 * MS, Ok(1)))
        .await
        .unwrap();
    assert_eq!(hedge.stats().hedges, 1);
    assert_eq!(hedge.stats().cancelled, 1, "the extra attempt lost");
}

//! The hedged call against a model, on paused time: for any attempts' latencies and
//! outcomes, the call ends when, and with what, the rules say, having started the
//! attempts they allow; and many tasks on a multi-threaded runtime sharing one hedge
//! keep its counts exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_hedge::Hedge;
use proptest::prelude::*;
use tokio::time::{Instant, sleep};

const DELAY_MS: u64 = 10;

/// One attempt: how long it takes and whether it succeeds. It takes `5 × steps +
/// attempt + 1` ms: the timer's whole milliseconds, and no two events at once (an
/// attempt's ends fall on its own remainder modulo 5, the hedges start on 0).
#[derive(Debug, Clone, Copy)]
struct Plan {
    steps: u64,
    ok: bool,
}

impl Plan {
    fn takes(self, attempt: usize) -> Duration {
        Duration::from_millis(5 * self.steps + attempt as u64 + 1)
    }
}

/// What the rules say: the attempt whose result ends the call, when, and how many
/// attempts were started.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    ended_by: usize,
    ok: bool,
    at: Duration,
    started: usize,
}

fn model(plans: &[Plan], max_hedges: usize) -> Expected {
    let delay = Duration::from_millis(DELAY_MS);
    let start = |attempt: usize| delay * attempt as u32;
    let end = |attempt: usize| start(attempt) + plans[attempt].takes(attempt);
    let attempts = (max_hedges + 1).min(plans.len());
    // Walk the ends in time order; an attempt starts only while the call runs.
    let mut order: Vec<usize> = (0..attempts).collect();
    order.sort_by_key(|attempt| end(*attempt));
    for attempt in order {
        let at = end(attempt);
        let started = (0..attempts).filter(|a| start(*a) < at).count();
        if plans[attempt].ok {
            return Expected {
                ended_by: attempt,
                ok: true,
                at,
                started,
            };
        }
        // A failure ends the call when no other started attempt is still running.
        let others_running = (0..attempts)
            .filter(|a| *a != attempt && start(*a) < at && end(*a) > at)
            .count();
        if others_running == 0 {
            return Expected {
                ended_by: attempt,
                ok: false,
                at,
                started,
            };
        }
    }
    unreachable!("the last attempt to end ends the call")
}

fn plans() -> impl Strategy<Value = Vec<Plan>> {
    proptest::collection::vec(
        (0u64..12, proptest::bool::weighted(0.6)).prop_map(|(steps, ok)| Plan { steps, ok }),
        4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_hedged_call_ends_as_the_rules_say(plans in plans(), max_hedges in 1usize..=3) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        let hedge = Hedge::builder("model")
            .fixed_delay(Duration::from_millis(DELAY_MS))
            .max_hedges(max_hedges as u32)
            .no_budget()
            .build()
            .expect("valid");
        let started = AtomicU32::new(0);
        let (result, at) = runtime.block_on(async {
            let begun = Instant::now();
            let result = hedge
                .call(|| {
                    let attempt = started.fetch_add(1, Ordering::SeqCst) as usize;
                    let plan = plans[attempt];
                    async move {
                        sleep(plan.takes(attempt)).await;
                        if plan.ok { Ok(attempt) } else { Err(std::io::Error::other(attempt.to_string())) }
                    }
                })
                .await;
            (result, begun.elapsed())
        });
        let expected = model(&plans, max_hedges);
        let ended_by = match &result {
            Ok(attempt) => *attempt,
            Err(error) => error.to_string().parse().expect("an attempt's number"),
        };
        prop_assert_eq!(
            Expected {
                ended_by,
                ok: result.is_ok(),
                at,
                started: started.load(Ordering::SeqCst) as usize,
            },
            expected
        );
        let stats = hedge.stats();
        prop_assert_eq!(stats.hedges as usize + 1, started.load(Ordering::SeqCst) as usize);
    }
}

#[test]
fn many_tasks_on_many_threads_keep_the_counts_exact() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    let hedge = Hedge::builder("stress")
        .fixed_delay(Duration::from_micros(200))
        .max_hedges(2)
        .no_budget()
        .build()
        .expect("valid");
    let started = Arc::new(AtomicU32::new(0));
    let finished = Arc::new(AtomicU32::new(0));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..16u64 {
            let (hedge, started, finished) = (hedge.clone(), started.clone(), finished.clone());
            tasks.push(tokio::spawn(async move {
                for call in 0..50u64 {
                    let answer = hedge
                        .call(|| {
                            started.fetch_add(1, Ordering::SeqCst);
                            let finished = finished.clone();
                            let takes = Duration::from_micros((task * 37 + call * 11) % 700);
                            async move {
                                sleep(takes).await;
                                finished.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, std::io::Error>(call)
                            }
                        })
                        .await;
                    assert_eq!(answer.expect("every attempt succeeds"), call);
                }
            }));
        }
        for task in tasks {
            task.await.expect("no task panicked");
        }
    });
    let stats = hedge.stats();
    let started = u64::from(started.load(Ordering::SeqCst));
    let finished = u64::from(finished.load(Ordering::SeqCst));
    assert_eq!(stats.calls, 16 * 50);
    assert_eq!(started, stats.calls + stats.hedges);
    assert_eq!(
        finished + stats.cancelled,
        started,
        "every attempt ended or was dropped"
    );
    assert!(stats.hedge_wins <= stats.hedges);
}

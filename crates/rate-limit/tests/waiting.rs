//! Calls over the rate that wait for their turn: order, bounds, and turns given back
//! by calls dropped while they wait.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::{Error, Rejection};
use hardy_rate_limit::RateLimiter;
use proptest::prelude::*;
use tokio::time::{Instant, advance};
use tokio_test::{assert_pending, assert_ready, task};

type Io = std::io::Error;

/// One call a second, bursts of 1, waits of up to `max_wait`.
fn limiter(max_wait: Duration) -> RateLimiter {
    RateLimiter::builder("pump")
        .per(1, Duration::from_secs(1))
        .burst(1)
        .max_wait(max_wait)
        .build()
        .expect("valid limiter")
}

const SEC: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn waiters_are_admitted_in_order_one_interval_apart() {
    let pump = limiter(Duration::from_secs(10));
    let start = Instant::now();
    let admitted = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let pump = pump.clone();
            let admitted = admitted.clone();
            tokio::spawn(async move {
                pump.acquire().await.expect("within max_wait");
                admitted
                    .lock()
                    .expect("admitted")
                    .push((i, start.elapsed()));
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(
        *admitted.lock().expect("admitted"),
        [(0, Duration::ZERO), (1, SEC), (2, 2 * SEC), (3, 3 * SEC)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_turn_beyond_max_wait_is_refused_with_its_retry_after() {
    let pump = limiter(Duration::from_millis(1_500));
    pump.acquire().await.expect("first");
    let mut second = task::spawn(pump.acquire());
    assert_pending!(second.poll(), "a second away: waits");
    match pump.acquire().await {
        Err(Rejection::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 2 * SEC),
        other => panic!("expected a refusal, got {other:?}"),
    }
    advance(SEC).await;
    assert_ready!(second.poll()).expect("its turn");
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_gives_its_turn_back() {
    let pump = limiter(Duration::from_secs(10));
    pump.check().expect("first");
    let mut waiting = task::spawn(pump.acquire());
    assert_pending!(waiting.poll());
    assert_eq!(
        pump.time_to_ready(),
        2 * SEC,
        "the next free turn is after it"
    );
    drop(waiting);
    assert_eq!(pump.time_to_ready(), SEC, "its turn is free again");
    let start = Instant::now();
    pump.acquire().await.expect("takes the freed turn");
    assert_eq!(start.elapsed(), SEC);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_behind_another_keeps_its_turn_taken() {
    let pump = limiter(Duration::from_secs(10));
    pump.check().expect("first");
    let mut first = task::spawn(pump.acquire());
    let mut second = task::spawn(pump.acquire());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(first);
    // Giving the first waiter's turn back would let a new call share an instant with
    // the second: the turn stays taken, and the rate is kept.
    assert_eq!(pump.time_to_ready(), 3 * SEC);
    advance(2 * SEC).await;
    assert_ready!(second.poll()).expect("second keeps its own turn");
}

#[tokio::test(start_paused = true)]
async fn a_waiter_whose_turn_came_keeps_it_when_dropped_later() {
    let pump = limiter(Duration::from_secs(10));
    pump.check().expect("first");
    let mut waiting = task::spawn(pump.acquire());
    assert_pending!(waiting.poll());
    advance(SEC).await;
    assert_ready!(waiting.poll()).expect("admitted");
    drop(waiting);
    assert_eq!(pump.time_to_ready(), SEC, "the used turn is not given back");
}

#[tokio::test(start_paused = true)]
async fn a_direct_call_waits_then_runs_the_operation_once() {
    let pump = limiter(Duration::from_secs(10));
    pump.check().expect("first");
    let runs = Arc::new(Mutex::new(0));
    let counter = runs.clone();
    let mut call = task::spawn(pump.call(move || {
        *counter.lock().expect("runs") += 1;
        async { Ok::<_, Io>(250) }
    }));
    assert_pending!(call.poll());
    assert_eq!(*runs.lock().expect("runs"), 0, "not started while waiting");
    advance(SEC).await;
    assert_eq!(assert_ready!(call.poll()).expect("ran"), 250);
    assert_eq!(*runs.lock().expect("runs"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_direct_call_dropped_while_waiting_never_runs_and_gives_its_turn_back() {
    let pump = limiter(Duration::from_secs(10));
    pump.check().expect("first");
    let mut call = task::spawn(pump.call(|| async {
        panic!("must not run");
        #[allow(unreachable_code)]
        Ok::<(), Io>(())
    }));
    assert_pending!(call.poll());
    drop(call);
    assert_eq!(pump.time_to_ready(), SEC);
}

#[tokio::test(start_paused = true)]
async fn a_direct_call_takes_its_turn_at_the_first_poll() {
    let pump = limiter(Duration::ZERO);
    let call = pump.call(|| async { Ok::<_, Io>(()) });
    assert_eq!(
        pump.time_to_ready(),
        Duration::ZERO,
        "not polled: no turn taken"
    );
    call.await.expect("admitted");
    let refused = pump.call(|| async { Ok::<_, Io>(()) }).await;
    assert!(matches!(
        refused,
        Err(Error::Rejected(Rejection::RateLimited { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_direct_call_passes_the_operations_error_through() {
    let pump = limiter(Duration::ZERO);
    let failed = pump
        .call(|| async { Err::<(), _>(Io::other("relay stuck")) })
        .await;
    assert_eq!(
        failed
            .expect_err("failed")
            .into_inner()
            .expect("inner")
            .to_string(),
        "relay stuck"
    );
}

/// What a property run does at one step.
#[derive(Debug, Clone)]
enum Step {
    /// A call arrives and waits for its turn if it must.
    Call,
    /// The oldest waiting call is dropped.
    Cancel,
    /// Time passes: this many ticks of 50 ms (ticks keep the figures round).
    Advance(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Call),
        2 => Just(Step::Cancel),
        3 => (1u32..14).prop_map(Step::Advance),
    ]
}

/// Lets time pass by sleeping on paused time, which jumps from timer to timer: each
/// waiter wakes, and records, at the very instant of its turn.
async fn tick(ticks: u32) {
    tokio::time::sleep(Duration::from_millis(50) * ticks).await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever arrives and whatever is cancelled, the calls admitted within any span
    /// of time never exceed the burst plus the rate over that span.
    #[test]
    fn waits_and_cancellations_never_exceed_the_rate(
        burst in 1u32..4,
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        let admitted = runtime.block_on(async move {
            // 4 a second (one per 250 ms).
            let limiter = RateLimiter::builder("p")
                .per(4, SEC)
                .burst(burst)
                .max_wait(Duration::from_secs(2))
                .build()
                .expect("valid");
            let start = Instant::now();
            let admitted = Arc::new(Mutex::new(Vec::new()));
            let mut waiting = std::collections::VecDeque::new();
            for step in steps {
                match step {
                    Step::Call => {
                        let limiter = limiter.clone();
                        let admitted = admitted.clone();
                        waiting.push_back(tokio::spawn(async move {
                            if limiter.acquire().await.is_ok() {
                                let at = start.elapsed().as_millis() as u64;
                                admitted.lock().expect("admitted").push(at);
                            }
                        }));
                        tokio::task::yield_now().await;
                    }
                    Step::Cancel => {
                        if let Some(task) = waiting.pop_front() {
                            task.abort();
                            let _ = task.await;
                        }
                    }
                    Step::Advance(ticks) => tick(ticks).await,
                }
            }
            tick(200).await;
            for task in waiting {
                let _ = task.await;
            }
            let mut admitted = admitted.lock().expect("admitted").clone();
            admitted.sort_unstable();
            admitted
        });
        for (i, first) in admitted.iter().enumerate() {
            for (j, last) in admitted.iter().enumerate().skip(i) {
                let calls = (j - i + 1) as u64;
                let bound = u64::from(burst) + (last - first) / 250;
                prop_assert!(
                    calls <= bound,
                    "{} calls between {} ms and {} ms (bound {}): {:?}",
                    calls, first, last, bound, admitted
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_direct_call_dropped_while_running_drops_the_operation() {
    struct Flag(Arc<Mutex<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.lock().expect("flag") = true;
        }
    }
    let pump = limiter(Duration::ZERO);
    let dropped = Arc::new(Mutex::new(false));
    let flag = Flag(dropped.clone());
    let mut call = task::spawn(pump.call(move || async move {
        let _flag = flag;
        std::future::pending::<Result<(), Io>>().await
    }));
    assert_pending!(call.poll());
    assert!(!*dropped.lock().expect("flag"));
    drop(call);
    assert!(
        *dropped.lock().expect("flag"),
        "the running operation was dropped"
    );
    assert_eq!(pump.time_to_ready(), SEC, "its turn was used");
}

//! hardy-load-shed: admission, priorities, fairness, the queue, probabilistic stages,
//! adaptive limits, cancellation, the tower layer and configuration.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::{Error, Outcome, Rejection, ShedReason};
use hardy_load_shed::{
    AimdConfig, CallInfo, FixedConfig, GradientConfig, LimitConfig, LoadShedConfig, LoadShedEvent,
    LoadShedder, Priority, QueueConfig, ThrottleConfig,
};
use tokio::time::{Instant, sleep};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const MS: Duration = Duration::from_millis(1);

fn reason_of<T: std::fmt::Debug, E: std::fmt::Debug>(result: Result<T, Error<E>>) -> ShedReason {
    match result {
        Err(Error::Rejected(Rejection::Shed { reason, .. })) => reason,
        other => panic!("expected a shed call, got {other:?}"),
    }
}

async fn ok() -> Result<(), std::io::Error> {
    Ok(())
}

fn fixed(limit: u32) -> hardy_load_shed::LoadShedBuilder {
    LoadShedder::builder("test").fixed_limit(limit)
}

#[tokio::test(start_paused = true)]
async fn a_fixed_limit_sheds_calls_over_it_and_frees_slots_on_completion() {
    let shedder = fixed(2).build().unwrap();
    let a = shedder.try_acquire(CallInfo::new()).unwrap();
    let b = shedder.try_acquire(CallInfo::new()).unwrap();
    let shed = shedder.try_acquire(CallInfo::new()).unwrap_err();
    assert!(matches!(
        &shed,
        Rejection::Shed { name, reason: ShedReason::Overload, retry_after: None } if name.as_str() == "test"
    ));
    assert_eq!(shedder.stats().in_flight, 2);
    a.success();
    b.record(Outcome::IGNORE);
    assert_eq!(shedder.stats().in_flight, 0);
    shedder.call(ok).await.unwrap();
    let stats = shedder.stats();
    assert_eq!(
        (stats.in_flight, stats.shed.overload, stats.shed.total()),
        (0, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn lower_priorities_are_shed_first_and_the_top_tier_keeps_its_share() {
    // Limit 10, reserve 0.2: thresholds 10, 8, 6.
    let shedder = fixed(10).priorities(3).build().unwrap();
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(shedder.try_acquire(CallInfo::new().priority(2)).unwrap());
    }
    let low = shedder
        .try_acquire(CallInfo::new().priority(2))
        .unwrap_err();
    assert!(matches!(
        low,
        Rejection::Shed {
            reason: ShedReason::Priority,
            ..
        }
    ));
    // A priority beyond the last level counts as the last.
    assert!(shedder.try_acquire(CallInfo::new().priority(9)).is_err());
    for _ in 0..2 {
        held.push(shedder.try_acquire(CallInfo::new().priority(1)).unwrap());
    }
    assert!(shedder.try_acquire(CallInfo::new().priority(1)).is_err());
    for _ in 0..2 {
        held.push(shedder.try_acquire(CallInfo::new().priority(0)).unwrap());
    }
    let top = shedder.try_acquire(CallInfo::new()).unwrap_err();
    assert!(matches!(
        top,
        Rejection::Shed {
            reason: ShedReason::Overload,
            ..
        }
    ));
    let stats = shedder.stats();
    assert_eq!((stats.shed.priority, stats.shed.overload), (3, 1));
    drop(held);
    assert_eq!(shedder.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_greedy_client_is_held_to_its_fair_share() {
    let shedder = fixed(10).fairness(0.5).build().unwrap();
    let greedy = CallInfo::new().client(&"greedy");
    let mut held = Vec::new();
    // Alone, the greedy client may fill the limit.
    for _ in 0..6 {
        held.push(shedder.try_acquire(greedy).unwrap());
    }
    // Once another client has a call in flight, the greedy one's share is half.
    let polite = shedder
        .try_acquire(CallInfo::new().client(&"polite"))
        .unwrap();
    assert_eq!(shedder.stats().clients, 2);
    let shed = shedder.try_acquire(greedy).unwrap_err();
    assert!(matches!(
        shed,
        Rejection::Shed {
            reason: ShedReason::Fairness,
            ..
        }
    ));
    for _ in 0..2 {
        held.push(
            shedder
                .try_acquire(CallInfo::new().client(&"polite"))
                .unwrap(),
        );
    }
    assert_eq!(shedder.stats().shed.fairness, 1);
    // Calls without a client are not counted against anyone.
    held.push(shedder.try_acquire(CallInfo::new()).unwrap());
    drop(held);
    drop(polite);
    assert_eq!(shedder.stats().clients, 0);
    assert!(shedder.try_acquire(greedy).is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_runs_when_a_slot_frees() {
    let shedder = fixed(1).queue(4, 5 * MS, 100 * MS).build().unwrap();
    let held = shedder.try_acquire(CallInfo::new()).unwrap();
    let waiter = tokio::spawn({
        let shedder = shedder.clone();
        async move {
            shedder
                .call(|| async { Ok::<_, std::io::Error>(Instant::now()) })
                .await
        }
    });
    sleep(20 * MS).await;
    assert_eq!(shedder.stats().waiting, 1);
    let freed = Instant::now();
    drop(held);
    let ran_at = waiter.await.unwrap().unwrap();
    assert_eq!(ran_at, freed);
    assert_eq!((shedder.stats().in_flight, shedder.stats().waiting), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_shed_after_the_interval_and_a_standing_queue_after_the_target() {
    let shedder = fixed(1).queue(8, 5 * MS, 100 * MS).build().unwrap();
    let _held = shedder.try_acquire(CallInfo::new()).unwrap();
    let start = Instant::now();
    let wait = |shedder: &LoadShedder| {
        let shedder = shedder.clone();
        tokio::spawn(async move { (reason_of(shedder.call(ok).await), Instant::now() - start) })
    };
    let first = wait(&shedder);
    sleep(50 * MS).await;
    let second = wait(&shedder);
    sleep(51 * MS).await;
    // The queue has not been empty for over the interval: a new waiter gets the target.
    let third = wait(&shedder);
    assert_eq!(first.await.unwrap(), (ShedReason::QueueDelay, 100 * MS));
    assert_eq!(third.await.unwrap(), (ShedReason::QueueDelay, 106 * MS));
    assert_eq!(second.await.unwrap(), (ShedReason::QueueDelay, 150 * MS));
    let stats = shedder.stats();
    assert_eq!((stats.shed.queue_delay, stats.waiting), (3, 0));
    // Empty again: the next waiter gets the whole interval.
    let fourth = wait(&shedder);
    assert_eq!(fourth.await.unwrap(), (ShedReason::QueueDelay, 250 * MS));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_sheds_at_once() {
    let shedder = fixed(1).queue(1, 5 * MS, 100 * MS).build().unwrap();
    let _held = shedder.try_acquire(CallInfo::new()).unwrap();
    let mut waiting = Box::pin(shedder.acquire(CallInfo::new()));
    assert!(futures_poll(&mut waiting).is_none());
    let shed = shedder.acquire(CallInfo::new()).await.unwrap_err();
    assert!(matches!(
        shed,
        Rejection::Shed {
            reason: ShedReason::Overload,
            ..
        }
    ));
    // try_acquire never waits.
    assert!(shedder.try_acquire(CallInfo::new()).is_err());
    drop(waiting);
    assert_eq!(shedder.stats().waiting, 0);
}

fn futures_poll<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn random_shedding_is_seeded_spares_the_top_tier_and_changes_at_run_time() {
    let run = |seed| {
        let shedder = fixed(1000)
            .priorities(2)
            .shed_rate(0.3)
            .seed(seed)
            .build()
            .unwrap();
        let outcomes: Vec<bool> = (0..1000)
            .map(|_| shedder.try_acquire(CallInfo::new().priority(1)).is_ok())
            .collect();
        (shedder, outcomes)
    };
    let (shedder, a) = run(7);
    let (_, b) = run(7);
    let (_, c) = run(8);
    assert_eq!(a, b, "the same seed sheds the same calls");
    assert_ne!(a, c);
    let shed = a.iter().filter(|admitted| !**admitted).count();
    assert!((250..350).contains(&shed), "{shed} of 1000 shed at 0.3");
    assert_eq!(shedder.stats().shed.probabilistic, shed as u64);
    for _ in 0..200 {
        assert!(shedder.try_acquire(CallInfo::new().priority(0)).is_ok());
    }
    shedder.set_shed_rate(0.0).unwrap();
    for _ in 0..200 {
        assert!(shedder.try_acquire(CallInfo::new().priority(1)).is_ok());
    }
    let error = shedder.set_shed_rate(1.5).unwrap_err();
    assert_eq!(
        error.to_string(),
        "load_shed \"test\": shed_rate = 1.5: must be within 0..=1"
    );
}

#[tokio::test(start_paused = true)]
async fn adaptive_throttling_sheds_as_the_backend_stops_accepting() {
    let shedder = fixed(1000)
        .throttle(2.0, Duration::from_secs(60))
        .seed(1)
        .build()
        .unwrap();
    let fail = || async { Err::<(), _>(std::io::Error::other("503")) };
    for _ in 0..100 {
        shedder.call(ok).await.unwrap();
    }
    assert_eq!(shedder.stats().throttle_probability, 0.0);
    let mut shed = 0;
    for _ in 0..2000 {
        if let Err(Error::Rejected(_)) = shedder.call(fail).await {
            shed += 1;
        }
    }
    // 100 accepts allow about 200 requests; then the probability climbs with every
    // request, (requests - 200) / (requests + 1), to 0.9 at 2100 requests: about 1350
    // of the 2000 are shed.
    let p = shedder.stats().throttle_probability;
    assert!((0.89..0.91).contains(&p), "probability {p}");
    assert!((1250..1550).contains(&shed), "{shed} shed");
    assert_eq!(shedder.stats().shed.probabilistic, shed);
    // Counts age out with the window.
    sleep(Duration::from_secs(61)).await;
    assert_eq!(shedder.stats().throttle_probability, 0.0);
}

async fn run_calls(shedder: &LoadShedder, calls: usize, latency: Duration) {
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let shedder = shedder.clone();
        tasks.push(tokio::spawn(async move {
            let _ = shedder
                .call(|| async move {
                    sleep(latency).await;
                    Ok::<_, std::io::Error>(())
                })
                .await;
        }));
    }
    for task in tasks {
        task.await.expect("the call task finishes");
    }
}

#[tokio::test(start_paused = true)]
async fn the_gradient_limit_probes_first_then_grows_while_latency_holds() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let shedder = LoadShedder::builder("test")
        .gradient(GradientConfig {
            probe_samples: 6,
            ..GradientConfig::default()
        })
        .on_event({
            let events = Arc::clone(&events);
            move |event| events.lock().unwrap().push(event.clone())
        })
        .build()
        .unwrap();
    let stats = shedder.stats();
    assert!(stats.probing);
    assert_eq!(stats.limit, 3);
    // The probe: three at a time, 10 ms each.
    for _ in 0..3 {
        run_calls(&shedder, 3, 10 * MS).await;
    }
    sleep(100 * MS).await;
    run_calls(&shedder, 3, 10 * MS).await;
    let stats = shedder.stats();
    assert!(!stats.probing);
    assert_eq!(stats.min_rtt, Some(10 * MS));
    assert_eq!(stats.limit, 20);
    assert!(events.lock().unwrap().iter().any(|event| matches!(
        event,
        LoadShedEvent::ProbeFinished { min_rtt, .. } if *min_rtt == 10 * MS
    )));
    // Using the whole limit at the unloaded latency: the limit grows.
    for _ in 0..30 {
        let limit = shedder.stats().limit as usize;
        run_calls(&shedder, limit, 10 * MS).await;
        sleep(100 * MS).await;
    }
    let grown = shedder.stats().limit;
    assert!(grown > 40, "limit {grown}");
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|event| matches!(event, LoadShedEvent::LimitChanged { from: 20, .. }))
    );
    // Latency triples at this concurrency: the limit shrinks.
    for _ in 0..30 {
        let limit = shedder.stats().limit as usize;
        run_calls(&shedder, limit, 30 * MS).await;
        sleep(100 * MS).await;
    }
    let shrunk = shedder.stats().limit;
    assert!(shrunk < grown / 2, "limit {shrunk} after {grown}");
    assert_eq!(shedder.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn aimd_backs_off_on_failures_and_slow_calls() {
    let shedder = LoadShedder::builder("test")
        .aimd(AimdConfig {
            initial_limit: 10,
            min_limit: 2,
            latency_threshold: Some(50 * MS),
            ..AimdConfig::default()
        })
        .build()
        .unwrap();
    // Failures shrink it.
    for _ in 0..5 {
        for _ in 0..4 {
            let _ = shedder
                .call(|| async { Err::<(), _>(std::io::Error::other("boom")) })
                .await;
        }
        sleep(101 * MS).await;
    }
    let after_failures = shedder.stats().limit;
    assert!(after_failures < 10, "{after_failures}");
    // Slow successes shrink it too.
    for _ in 0..5 {
        run_calls(&shedder, 4, 60 * MS).await;
        sleep(101 * MS).await;
    }
    assert!(shedder.stats().limit < after_failures);
    // Ignored results do not count.
    let before = shedder.stats().limit;
    for _ in 0..3 {
        for _ in 0..4 {
            let permit = shedder.try_acquire(CallInfo::new()).unwrap();
            sleep(60 * MS).await;
            permit.record(Outcome::IGNORE);
        }
        sleep(101 * MS).await;
    }
    assert_eq!(shedder.stats().limit, before);
}

#[tokio::test(start_paused = true)]
async fn set_limit_applies_at_once_within_the_bounds() {
    let shedder = fixed(1).queue(4, 5 * MS, 100 * MS).build().unwrap();
    let held = shedder.try_acquire(CallInfo::new()).unwrap();
    let mut waiting = Box::pin(shedder.acquire(CallInfo::new()));
    assert!(futures_poll(&mut waiting).is_none());
    shedder.set_limit(2).unwrap();
    let permit = futures_poll(&mut waiting).expect("granted").unwrap();
    assert_eq!(shedder.stats().in_flight, 2);
    drop((held, permit));
    let gradient = LoadShedder::builder("g")
        .gradient(GradientConfig {
            min_limit: 5,
            max_limit: 50,
            ..GradientConfig::default()
        })
        .build()
        .unwrap();
    assert_eq!(
        gradient.set_limit(60).unwrap_err().to_string(),
        "load_shed \"g\": limit = 60: must be within 5..=50"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_and_panicking_calls_free_their_slots() {
    let shedder = fixed(2)
        .queue(4, 5 * MS, 100 * MS)
        .fairness(0.5)
        .build()
        .unwrap();
    let info = CallInfo::new().client(&"a");
    // Cancelled while running.
    let running = tokio::spawn({
        let shedder = shedder.clone();
        async move {
            shedder
                .call_as(info, || async {
                    sleep(Duration::from_secs(10)).await;
                    Ok::<_, std::io::Error>(())
                })
                .await
        }
    });
    sleep(MS).await;
    let held = shedder.try_acquire(info).unwrap();
    assert_eq!(shedder.stats().in_flight, 2);
    // Cancelled while waiting.
    let waiting = tokio::spawn({
        let shedder = shedder.clone();
        async move { shedder.call_as(CallInfo::new().client(&"b"), ok).await }
    });
    sleep(MS).await;
    assert_eq!(shedder.stats().waiting, 1);
    waiting.abort();
    running.abort();
    let _ = running.await;
    let _ = waiting.await;
    assert_eq!((shedder.stats().in_flight, shedder.stats().waiting), (1, 0));
    drop(held);
    // Panicking inside the operation.
    let panicking = tokio::spawn({
        let shedder = shedder.clone();
        async move {
            shedder
                .call_as(info, || async {
                    panic!("operation panicked");
                    #[allow(unreachable_code)]
                    Ok::<_, std::io::Error>(())
                })
                .await
        }
    });
    assert!(panicking.await.unwrap_err().is_panic());
    let stats = shedder.stats();
    assert_eq!((stats.in_flight, stats.waiting, stats.clients), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_granted_as_it_is_dropped_passes_the_slot_on() {
    let shedder = fixed(1).queue(4, 5 * MS, 100 * MS).build().unwrap();
    let held = shedder.try_acquire(CallInfo::new()).unwrap();
    let mut first = Box::pin(shedder.acquire(CallInfo::new()));
    let mut second = Box::pin(shedder.acquire(CallInfo::new()));
    assert!(futures_poll(&mut first).is_none());
    assert!(futures_poll(&mut second).is_none());
    drop(held); // granted to `first`, which is dropped before it sees it
    drop(first);
    let permit = futures_poll(&mut second)
        .expect("the slot was passed on")
        .unwrap();
    assert_eq!((shedder.stats().in_flight, shedder.stats().waiting), (1, 0));
    drop(permit);
    assert_eq!(shedder.stats().in_flight, 0);
}

#[derive(Debug)]
struct Request {
    user: &'static str,
    priority: u8,
}

#[tokio::test(start_paused = true)]
async fn the_layer_reads_priority_and_client_from_each_request() {
    let shedder = fixed(4)
        .priorities(2)
        .reserve(0.5)
        .fairness(0.0)
        .build()
        .unwrap();
    let running = Arc::new(AtomicU32::new(0));
    let service = ServiceBuilder::new()
        .layer(
            shedder
                .layer()
                .priority(|r: &Request| Priority(r.priority))
                .client(|r: &Request| r.user),
        )
        .service_fn({
            let running = Arc::clone(&running);
            move |r: Request| {
                let running = Arc::clone(&running);
                async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    sleep(Duration::from_secs(1)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, BoxError>(r.user)
                }
            }
        });
    let send = |user, priority| {
        let mut service = service.clone();
        tokio::spawn(async move {
            service
                .ready()
                .await?
                .call(Request { user, priority })
                .await
        })
    };
    // Priority 1 may hold 2 of 4; one user at most its share.
    let a = send("ana", 1);
    let b = send("bo", 1);
    tokio::task::yield_now().await;
    let c = send("cy", 1);
    let d = send("ana", 0);
    let e = send("ana", 0);
    let f = send("dee", 0);
    let results: Vec<Result<&str, BoxError>> = futures_join([a, b, c, d, e, f]).await;
    let reasons: Vec<Option<ShedReason>> = results
        .iter()
        .map(|result| match result {
            Ok(_) => None,
            Err(error) => match hardy_core::find_rejection(error.as_ref()) {
                Some(Rejection::Shed { reason, .. }) => Some(*reason),
                other => panic!("unexpected error {other:?}"),
            },
        })
        .collect();
    assert_eq!(
        reasons,
        [
            None,
            None,
            Some(ShedReason::Priority),
            None,
            Some(ShedReason::Fairness),
            None
        ]
    );
    assert_eq!(shedder.stats().in_flight, 0);
}

async fn futures_join<T: Send + 'static>(
    handles: impl IntoIterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("the request task finishes"));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_layer_keeps_poll_ready_of_the_inner_service() {
    let shedder = fixed(1).build().unwrap();
    let (mut service, mut handle) = tower_test::mock::spawn_layer::<u32, u32, _>(shedder.layer());
    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "the inner service is not ready"
    );
    handle.allow(2);
    assert!(service.poll_ready().is_ready());
    let first = service.call(1);
    let (request, respond) = handle.next_request().await.unwrap();
    assert_eq!(request, 1);
    assert!(service.poll_ready().is_ready());
    let shed = service.call(2).await.unwrap_err();
    assert!(matches!(
        hardy_core::find_rejection(shed.as_ref()),
        Some(Rejection::Shed {
            reason: ShedReason::Overload,
            ..
        })
    ));
    respond.send_response(10);
    assert_eq!(first.await.unwrap(), 10);
    assert_eq!(shedder.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_response_frees_its_slot_once_as_it_answers_and_panics_if_polled_again() {
    let shedder = fixed(2).build().unwrap();
    let mut service = ServiceBuilder::new()
        .layer(shedder.layer())
        .service(tower::service_fn(
            |n: u32| async move { Ok::<_, BoxError>(n) },
        ));
    let held = shedder.try_acquire(CallInfo::new()).unwrap();
    let mut future = Box::pin(service.ready().await.unwrap().call(7));
    assert_eq!(shedder.stats().in_flight, 2);
    assert!(format!("{future:?}").contains("running"));
    let answer = futures_poll(&mut future).expect("the call answers at once");
    assert_eq!(answer.unwrap(), 7);
    // Freed as it answered, before the future is dropped.
    assert_eq!(shedder.stats().in_flight, 1);
    assert!(format!("{future:?}").contains("done"));
    let again =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| futures_poll(&mut future)));
    assert!(again.is_err(), "a second poll panics");
    drop(future);
    assert_eq!(shedder.stats().in_flight, 1, "the slot is freed once");
    drop(held);
    assert_eq!(shedder.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn shed_calls_carry_the_recent_latency_as_retry_after() {
    let shedder = LoadShedder::builder("test")
        .aimd(AimdConfig {
            initial_limit: 4,
            min_limit: 4,
            max_limit: 4,
            ..AimdConfig::default()
        })
        .build()
        .unwrap();
    run_calls(&shedder, 4, 30 * MS).await;
    sleep(100 * MS).await;
    run_calls(&shedder, 4, 30 * MS).await;
    let held: Vec<_> = (0..4)
        .map(|_| shedder.try_acquire(CallInfo::new()).unwrap())
        .collect();
    let shed = shedder.try_acquire(CallInfo::new()).unwrap_err();
    assert_eq!(shed.retry_after(), Some(30 * MS));
    drop(held);
}

#[test]
fn every_config_rule_names_the_field_and_value() {
    let base = LoadShedConfig::default();
    let cases: Vec<(LoadShedConfig, &str)> = vec![
        (
            LoadShedConfig {
                limit: LimitConfig::Fixed(FixedConfig { limit: 0 }),
                ..base.clone()
            },
            "limit.limit = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Fixed(FixedConfig {
                    limit: (1 << 24) + 1,
                }),
                ..base.clone()
            },
            "limit.limit = 16777217: must be at most 16777216",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    min_limit: 16_777_217,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.min_limit = 16777217: must be at most 16777216",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    max_limit: 16_777_217,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.max_limit = 16777217: must be at most 16777216",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    min_limit: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.min_limit = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    max_limit: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.max_limit = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    min_limit: 10,
                    max_limit: 5,
                    initial_limit: 5,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.max_limit = 5: must be at least limit.min_limit (10)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    initial_limit: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.initial_limit = 0: must be at least limit.min_limit (1)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    initial_limit: 2000,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.initial_limit = 2000: must be at most limit.max_limit (1000)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    backoff_ratio: 1.0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.backoff_ratio = 1.0: must be within 0..1, both ends excluded",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    increase: 0,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.increase = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    latency_threshold: Some(Duration::ZERO),
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.latency_threshold = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Aimd(AimdConfig {
                    window: Duration::ZERO,
                    ..AimdConfig::default()
                }),
                ..base.clone()
            },
            "limit.window = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    tolerance: f64::NAN,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.tolerance = NaN: must be a finite number of at least 1",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    smoothing: 0.0,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.smoothing = 0.0: must be a finite number greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    smoothing: 1.5,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.smoothing = 1.5: must be within 0..=1",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    window: Duration::ZERO,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.window = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    probe_interval: Duration::from_millis(100),
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.probe_interval = 100ms: must be longer than limit.window (100ms)",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    probe_jitter: 1.0,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.probe_jitter = 1.0: must be within 0..1",
        ),
        (
            LoadShedConfig {
                limit: LimitConfig::Gradient(GradientConfig {
                    probe_samples: 0,
                    ..GradientConfig::default()
                }),
                ..base.clone()
            },
            "limit.probe_samples = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                priorities: 0,
                ..base.clone()
            },
            "priorities = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                priorities: 17,
                ..base.clone()
            },
            "priorities = 17: must be at most 16",
        ),
        (
            LoadShedConfig {
                reserve: 1.0,
                ..base.clone()
            },
            "reserve = 1.0: must be within 0..1",
        ),
        (
            LoadShedConfig {
                fairness: Some(hardy_load_shed::FairnessConfig { engage_at: -0.1 }),
                ..base.clone()
            },
            "fairness.engage_at = -0.1: must be within 0..=1",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    max_waiting: 0,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.max_waiting = 0: must be greater than zero",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    max_waiting: (1 << 20) + 1,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.max_waiting = 1048577: must be at most 1048576",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    target: Duration::ZERO,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.target = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                queue: Some(QueueConfig {
                    interval: MS,
                    ..QueueConfig::default()
                }),
                ..base.clone()
            },
            "queue.interval = 1ms: must be at least queue.target (5ms)",
        ),
        (
            LoadShedConfig {
                throttle: Some(ThrottleConfig {
                    k: 0.5,
                    ..ThrottleConfig::default()
                }),
                ..base.clone()
            },
            "throttle.k = 0.5: must be a finite number of at least 1",
        ),
        (
            LoadShedConfig {
                throttle: Some(ThrottleConfig {
                    window: Duration::ZERO,
                    ..ThrottleConfig::default()
                }),
                ..base.clone()
            },
            "throttle.window = 0ns: must be greater than zero",
        ),
        (
            LoadShedConfig {
                shed_rate: f64::INFINITY,
                ..base.clone()
            },
            "shed_rate = inf: must be within 0..=1",
        ),
    ];
    assert!(base.validate("api").is_ok());
    for (config, expected) in cases {
        let error = LoadShedder::new("api", config).unwrap_err();
        assert_eq!(error.to_string(), format!("load_shed \"api\": {expected}"));
    }
}

#[test]
fn metrics_count_admitted_and_shed_calls_by_reason_and_priority() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let shedder = fixed(1).priorities(2).build().unwrap();
        let held = shedder.try_acquire(CallInfo::new()).unwrap();
        assert!(shedder.try_acquire(CallInfo::new().priority(1)).is_err());
        assert!(shedder.try_acquire(CallInfo::new()).is_err());
        drop(held);
    });
    let mut shed = Vec::new();
    let (mut admitted, mut shed_calls) = (0, 0);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        match (key.name(), value) {
            ("hardy_load_shed_shed_total", DebugValue::Counter(n)) if n > 0 => {
                shed.push((labels, n));
            }
            ("hardy_load_shed_calls_total", DebugValue::Counter(n))
                if labels
                    .iter()
                    .any(|(k, v)| k == "outcome" && v == "admitted") =>
            {
                admitted = n;
            }
            ("hardy_load_shed_calls_total", DebugValue::Counter(n))
                if labels.iter().any(|(k, v)| k == "outcome" && v == "shed") =>
            {
                shed_calls = n;
            }
            _ => {}
        }
    }
    shed.sort();
    let label = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!((admitted, shed_calls), (1, 2));
    assert_eq!(
        shed,
        [
            (
                vec![
                    label("name", "test"),
                    label("reason", "overload"),
                    label("priority", "0")
                ],
                1
            ),
            (
                vec![
                    label("name", "test"),
                    label("reason", "overload"),
                    label("priority", "1")
                ],
                1
            ),
        ]
    );
}

#[cfg(feature = "serde")]
#[test]
fn configs_load_from_toml_with_human_durations() {
    let config: LoadShedConfig = toml::from_str(
        r#"
        priorities = 3
        reserve = 0.25
        [limit]
        algorithm = "gradient"
        tolerance = 1.5
        probe_interval = "2m"
        [queue]
        max_waiting = 16
        target = "10ms"
        [fairness]
        engage_at = 0.9
        "#,
    )
    .unwrap();
    assert_eq!(config.priorities, 3);
    assert_eq!(
        config.limit,
        LimitConfig::Gradient(GradientConfig {
            tolerance: 1.5,
            probe_interval: Duration::from_secs(120),
            ..GradientConfig::default()
        })
    );
    assert_eq!(config.queue.as_ref().unwrap().target, 10 * MS);
    let back: LoadShedConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    assert_eq!(back, config);
    let aimd: LoadShedConfig =
        serde_json::from_str(r#"{"limit": {"algorithm": "aimd", "latency_threshold": "250ms"}}"#)
            .unwrap();
    assert_eq!(
        aimd.limit,
        LimitConfig::Aimd(AimdConfig {
            latency_threshold: Some(250 * MS),
            ..AimdConfig::default()
        })
    );
    let unknown =
        toml::from_str::<LoadShedConfig>("[limit]\nalgorithm = \"aimd\"\ntolerance = 2.0\n");
    assert!(unknown.unwrap_err().to_string().contains("tolerance"));
    assert!(toml::from_str::<LoadShedConfig>("priority = 2\n").is_err());
}

#[test]
fn bad_run_time_settings_name_the_field_and_value_and_change_nothing() {
    let shedder = fixed(2).build().unwrap();
    for rate in [f64::NAN, f64::INFINITY, -0.5, 1.01] {
        let error = shedder.set_shed_rate(rate).expect_err("out of range");
        assert!(
            error
                .to_string()
                .starts_with(&format!("load_shed \"test\": shed_rate = {rate}: ")),
            "{error}"
        );
    }
    let error = shedder.set_limit(0).expect_err("zero");
    assert!(
        error
            .to_string()
            .starts_with("load_shed \"test\": limit = 0: "),
        "{error}"
    );
    assert_eq!(shedder.stats().limit, 2);
    let held: Vec<_> = (0..2)
        .map(|_| {
            shedder
                .try_acquire(CallInfo::new())
                .expect("nothing shed at random")
        })
        .collect();
    assert!(
        shedder.try_acquire(CallInfo::new()).is_err(),
        "the limit is still 2"
    );
    drop(held);
}

//! Adaptive limits: the gradient limit's probe and growth, AIMD's backoff, limits set
//! at run time, and the recent latency as a shed call's retry-after.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_core::Outcome;
use hardy_load_shed::{AimdConfig, CallInfo, GradientConfig, LoadShedEvent, LoadShedder};
use tokio::time::sleep;

use support::*;

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
async fn the_gradient_limit_measures_first_then_grows_while_latency_holds() {
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
    // The first probe measures at the initial limit, which a light load does not fill.
    let stats = shedder.stats();
    assert!(stats.probing);
    assert_eq!(stats.limit, 20);
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

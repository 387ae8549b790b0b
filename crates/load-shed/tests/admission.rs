//! Admission: a fixed limit, priority tiers, per-client fair shares, and the metrics
//! counting admitted and shed calls.

mod support;

use hardy_core::{Outcome, Rejection, ShedReason};
use hardy_load_shed::CallInfo;

use support::*;

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

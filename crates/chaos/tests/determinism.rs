//! The same seed gives the same injected sequence; the sequence restarts on demand.

use std::time::Duration;

use hardy_chaos::{Chaos, ChaosConfig, Fault, FaultOutcome, InjectedRejection, Latency};
use hardy_core::Error;
use proptest::prelude::*;

fn busy(seed: u64) -> Chaos {
    Chaos::builder("ec2")
        .seed(seed)
        .error_rate(0.2)
        .rejection(0.2, InjectedRejection::Shed)
        .corrupt_rate(0.2)
        .latency(
            0.3,
            Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(50),
            },
        )
        .build()
        .expect("valid")
}

fn faults(chaos: &Chaos, n: usize) -> Vec<Fault> {
    (0..n).map(|_| chaos.next_fault()).collect()
}

/// What each of `n` direct calls returned, and when, on paused time.
async fn run(chaos: &Chaos, n: usize) -> Vec<(String, Duration)> {
    let mut seen = Vec::new();
    for i in 0..n {
        let started = tokio::time::Instant::now();
        let result = chaos
            .call_with(
                || "injected",
                |value: usize| value + 1000,
                || async move { Ok::<_, &str>(i) },
            )
            .await;
        let outcome = match result {
            Ok(value) if value >= 1000 => format!("corrupted {value}"),
            Ok(value) => format!("ok {value}"),
            Err(Error::Inner(error)) => format!("error {error}"),
            Err(Error::Rejected(rejection)) => format!("rejected {}", rejection.kind()),
        };
        seen.push((outcome, started.elapsed()));
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_injects_the_same_sequence() {
    let first = run(&busy(11), 300).await;
    let second = run(&busy(11), 300).await;
    assert_eq!(first, second);
    // Every kind of fault is in it, so the comparison means something.
    for prefix in ["ok", "error", "rejected shed", "corrupted"] {
        assert!(
            first.iter().any(|(outcome, _)| outcome.starts_with(prefix)),
            "{prefix}"
        );
    }
    assert!(first.iter().any(|(_, delay)| !delay.is_zero()));
    assert_ne!(
        first,
        run(&busy(12), 300).await,
        "another seed, another sequence"
    );
}

#[test]
fn restart_replays_the_sequence() {
    let chaos = busy(5);
    let first = faults(&chaos, 100);
    chaos.restart();
    assert_eq!(faults(&chaos, 100), first);
}

#[test]
fn a_new_seed_restarts_the_sequence_and_the_same_seed_keeps_going() {
    let chaos = busy(5);
    let of_five = faults(&chaos, 50);
    chaos.update(|config| config.seed = Some(6)).expect("valid");
    let of_six = faults(&chaos, 50);
    assert_eq!(of_six, faults(&busy(6), 50));
    chaos
        .update(|config| config.error_rate = 0.2)
        .expect("valid");
    assert_ne!(
        faults(&chaos, 50),
        of_six,
        "same seed: the sequence goes on"
    );
    assert_eq!(chaos.seed(), 6);
    assert_ne!(of_five, of_six);
}

#[test]
fn disabled_draws_nothing_and_the_sequence_resumes_where_it_stopped() {
    let chaos = busy(9);
    let reference = faults(&busy(9), 20);
    let mut seen = faults(&chaos, 10);
    chaos.set_enabled(false);
    assert!(faults(&chaos, 10).iter().all(Fault::is_none));
    chaos.set_enabled(true);
    seen.extend(faults(&chaos, 10));
    assert_eq!(seen, reference);
}

#[test]
fn a_seed_from_the_system_can_be_read_back_to_replay() {
    let chaos = Chaos::from_config(
        "ec2",
        ChaosConfig {
            error_rate: 0.5,
            ..ChaosConfig::default()
        },
    )
    .expect("valid");
    let first = faults(&chaos, 64);
    let replay = Chaos::builder("ec2")
        .error_rate(0.5)
        .seed(chaos.seed())
        .build()
        .expect("valid");
    assert_eq!(faults(&replay, 64), first);
}

#[test]
fn concurrent_callers_share_out_the_same_draws() {
    // Each call takes its own number, so two threads together draw exactly the faults
    // one thread would, in some interleaving.
    let mut alone: Vec<String> = faults(&busy(21), 20_000)
        .iter()
        .map(|fault| format!("{fault:?}"))
        .collect();
    let chaos = busy(21);
    let mut together: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| faults(&chaos, 10_000)))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("no panic"))
            .map(|fault| format!("{fault:?}"))
            .collect()
    });
    alone.sort();
    together.sort();
    assert_eq!(together, alone);
}

proptest! {
    /// Whatever the rates, outcomes follow their rates' boundaries: a zero rate never
    /// fires, a rate of one always does, and the same seed repeats itself.
    #[test]
    fn outcomes_respect_zero_and_full_rates(seed in any::<u64>(), pick in 0usize..3) {
        let mut config = ChaosConfig { seed: Some(seed), ..ChaosConfig::default() };
        let expected = match pick {
            0 => { config.error_rate = 1.0; FaultOutcome::Error }
            1 => { config.rejection_rate = 1.0; FaultOutcome::Rejection }
            _ => { config.corrupt_rate = 1.0; FaultOutcome::Corrupt }
        };
        let chaos = Chaos::from_config("p", config.clone()).expect("valid");
        let seen = faults(&chaos, 32);
        prop_assert!(seen.iter().all(|fault| fault.outcome == expected && fault.delay.is_none()));
        let again = Chaos::from_config("p", config).expect("valid");
        prop_assert_eq!(faults(&again, 32), seen);
    }
}

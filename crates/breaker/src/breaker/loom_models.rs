//! Loom models of the packed state word: `RUSTFLAGS="--cfg hardy_loom" cargo test -p
//! hardy-breaker --lib --release loom`.

use super::*;
use crate::permit::Permit;

/// A breaker with one probe slot, opened, whose open time (1 ns) has passed.
fn open_breaker() -> CircuitBreaker {
    let breaker = CircuitBreaker::builder("loom")
        .consecutive_failures(1)
        .window(Window::Off)
        .half_open_calls(1)
        .max_wait_in_half_open(None)
        .open_for(Duration::from_nanos(1))
        .seed(1)
        .build()
        .unwrap();
    let admission = breaker.try_acquire().unwrap();
    Permit::new(breaker.clone(), admission).record(Outcome::RETRYABLE_FAILURE);
    assert_eq!(breaker.state(), BreakerState::Open);
    std::thread::sleep(Duration::from_micros(10));
    breaker
}

/// Two callers race for the one probe slot: exactly one gets it.
#[test]
fn loom_exactly_one_probe_is_admitted() {
    loom::model(|| {
        let breaker = open_breaker();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let breaker = breaker.clone();
                loom::thread::spawn(move || breaker.try_acquire().ok())
            })
            .collect();
        let admitted: Vec<Pass> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(admitted.len(), 1);
        assert!(admitted[0].probe());
        let word = breaker.word();
        assert_eq!((word.state(), word.probes()), (BreakerState::HalfOpen, 1));
    });
}

/// A probe finishing while another caller asks: the breaker ends closed, and the
/// caller was either refused (probe still running) or admitted closed.
#[test]
fn loom_probe_result_races_a_caller() {
    loom::model(|| {
        let breaker = open_breaker();
        let probe = breaker.try_acquire().unwrap();
        assert!(probe.probe());
        let finisher = {
            let breaker = breaker.clone();
            loom::thread::spawn(move || {
                Permit::new(breaker, probe).record(Outcome::Success);
            })
        };
        let caller = {
            let breaker = breaker.clone();
            loom::thread::spawn(move || breaker.try_acquire().ok())
        };
        finisher.join().unwrap();
        let admitted = caller.join().unwrap();
        assert_eq!(breaker.state(), BreakerState::Closed);
        if let Some(admission) = admitted {
            assert!(
                !admission.probe(),
                "no second probe in a one-probe half-open"
            );
        }
    });
}

/// A cancelled probe frees its slot while another caller asks: no slot is lost.
#[test]
fn loom_cancelled_probe_frees_its_slot() {
    loom::model(|| {
        let breaker = open_breaker();
        let probe = breaker.try_acquire().unwrap();
        let canceller = {
            let breaker = breaker.clone();
            loom::thread::spawn(move || drop(Permit::new(breaker, probe)))
        };
        let caller = {
            let breaker = breaker.clone();
            loom::thread::spawn(move || breaker.try_acquire().ok())
        };
        canceller.join().unwrap();
        let admitted = caller.join().unwrap();
        let probes = breaker.word().probes();
        assert_eq!(probes, u32::from(admitted.is_some()));
    });
}

/// A store that takes note of nothing: the model grants probes itself.
#[derive(Debug)]
struct Quiet;

impl BreakerStore for Quiet {
    fn attach(&self, _: crate::FleetLink) {}
    fn changed(&self, _: crate::FleetChange) {}
}

/// A shared breaker half-open, waiting for the fleet's probes: a grant of one races a
/// caller asking twice. No probe passes before the grant, never more than granted.
#[test]
fn loom_a_fleet_grant_races_callers() {
    loom::model(|| {
        let config = BreakerConfig {
            consecutive_failures: 1,
            window: Window::Off,
            half_open_calls: 2,
            max_wait_in_half_open: None,
            open_for: Duration::from_nanos(1),
            seed: Some(1),
            ..BreakerConfig::default()
        };
        let fleet = Fleet::new(std::sync::Arc::new(Quiet));
        let breaker =
            CircuitBreaker::from_parts(Name::from("loom"), config, Listener::none(), Some(fleet));
        let admission = breaker.try_acquire().unwrap();
        Permit::new(breaker.clone(), admission).record(Outcome::RETRYABLE_FAILURE);
        std::thread::sleep(Duration::from_micros(10));
        assert!(
            breaker.try_acquire().is_err(),
            "half-open, no probe granted yet"
        );
        let generation = breaker.word().generation();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);

        let granter = {
            let breaker = breaker.clone();
            loom::thread::spawn(move || breaker.grant_probes(generation, 1))
        };
        let caller = {
            let breaker = breaker.clone();
            loom::thread::spawn(move || (0..2).filter(|_| breaker.try_acquire().is_ok()).count())
        };
        granter.join().unwrap();
        let admitted = caller.join().unwrap();
        assert!(admitted <= 1, "at most the one probe granted: {admitted}");
        let later = usize::from(breaker.try_acquire().is_ok());
        assert_eq!(admitted + later, 1, "the granted probe passes once");
    });
}

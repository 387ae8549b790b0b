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

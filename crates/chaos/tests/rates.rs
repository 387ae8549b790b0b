//! Injected faults come at their configured rates, and rates change at run time.

use std::time::Duration;

use hardy_chaos::{Chaos, FaultOutcome, Latency};

fn count(chaos: &Chaos, n: usize) -> [usize; 5] {
    let mut counts = [0; 5];
    for _ in 0..n {
        let fault = chaos.next_fault();
        let slot = match fault.outcome {
            FaultOutcome::Pass => 0,
            FaultOutcome::Error => 1,
            FaultOutcome::Rejection => 2,
            FaultOutcome::Corrupt => 3,
            _ => unreachable!("no other outcome is configured"),
        };
        counts[slot] += 1;
        if fault.delay.is_some() {
            counts[4] += 1;
        }
    }
    counts
}

fn near(observed: usize, n: usize, rate: f64) -> bool {
    let expected = rate * n as f64;
    // Five standard deviations of a binomial count.
    let slack = 5.0 * (n as f64 * rate * (1.0 - rate)).sqrt() + 1.0;
    (observed as f64 - expected).abs() <= slack
}

#[test]
fn each_fault_comes_at_its_rate() {
    for seed in [1, 2, 3, 99, 12_345] {
        let chaos = Chaos::builder("api")
            .seed(seed)
            .error_rate(0.1)
            .rejection(0.05, Default::default())
            .corrupt_rate(0.02)
            .latency(0.3, Latency::default())
            .build()
            .expect("valid");
        let n = 20_000;
        let [pass, errors, rejections, corrupted, delayed] = count(&chaos, n);
        assert!(near(errors, n, 0.1), "seed {seed}: {errors} errors");
        assert!(
            near(rejections, n, 0.05),
            "seed {seed}: {rejections} rejections"
        );
        assert!(
            near(corrupted, n, 0.02),
            "seed {seed}: {corrupted} corrupted"
        );
        assert!(near(pass, n, 0.83), "seed {seed}: {pass} passed");
        assert!(near(delayed, n, 0.3), "seed {seed}: {delayed} delayed");
    }
}

#[test]
fn rates_change_at_run_time_and_bad_ones_change_nothing() {
    let chaos = Chaos::builder("api").seed(4).build().expect("valid");
    assert_eq!(
        count(&chaos, 1000)[0],
        1000,
        "all rates zero: nothing injected"
    );

    chaos.set_error_rate(0.5).expect("valid");
    assert!(near(count(&chaos, 10_000)[1], 10_000, 0.5));

    let error = chaos.set_rejection_rate(0.7).expect_err("0.5 + 0.7 > 1");
    assert_eq!(
        error.to_string(),
        "chaos \"api\": error_rate + rejection_rate + corrupt_rate = 1.2: must be at most 1"
    );
    assert_eq!(chaos.config().rejection_rate, 0.0, "nothing changed");

    chaos.set_error_rate(0.0).expect("valid");
    chaos.set_corrupt_rate(1.0).expect("valid");
    assert_eq!(count(&chaos, 100)[3], 100);

    chaos
        .set_latency(
            1.0,
            Latency::Fixed {
                delay: Duration::from_millis(5),
            },
        )
        .expect("valid");
    let fault = chaos.next_fault();
    assert_eq!(fault.delay, Some(Duration::from_millis(5)));
    assert!(chaos.set_latency(1.5, Latency::default()).is_err());
}

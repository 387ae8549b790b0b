//! End to end on paused time: a simulated week with harsh faults keeps every plant in
//! its range, never passes the pump's safety limits, and the report agrees with the
//! metrics; the same seed gives the same week.

use plant_care::config::Config;
use plant_care::controller::Totals;
use plant_care::hardware::Faults;
use plant_care::simulate::{self, sum};

#[test]
fn a_harsh_week_keeps_every_plant_in_range_and_within_the_pump_limits() {
    let config = Config::default();
    let report = simulate::run(&config, 7, Faults::Harsh, false).expect("simulates");
    assert_eq!(report.plants.len(), 3);
    for (plant, configured) in report.plants.iter().zip(&config.plants) {
        assert!(
            plant.in_range >= 0.95,
            "{}: in range {:.1} % of the time",
            plant.id,
            plant.in_range * 100.0
        );
        assert!(plant.waterings > 0, "{} was watered", plant.id);
        assert_eq!(plant.within_pump_limits(&configured.pump), Ok(()));
        assert_eq!(plant.moisture.len(), 7 * 144, "a sample every 10 minutes");
    }
    // The faults were real, and the layers absorbed them.
    let totals = report.totals;
    assert!(totals.retries > 0);
    assert!(totals.backup_reads > 0);
    assert!(totals.stale_reads > 0);
    assert!(totals.breaker_trips > 0);
    // The report agrees with the metrics and with the controller.
    assert_eq!(totals.reads, 3 * 7 * 144, "one read a plant a round");
    let metric = |name: &str, labels: &[(&str, &str)]| sum(&report.metrics, name, labels);
    assert_eq!(totals.reads, metric("hardy_retry_calls_total", &[]));
    assert_eq!(totals.retries, metric("hardy_retry_retries_total", &[]));
    assert_eq!(
        totals.backup_reads,
        metric("hardy_fallback_used_total", &[])
    );
    assert_eq!(
        totals.stale_reads,
        metric("hardy_fallback_stale_total", &[("result", "served")])
    );
    assert_eq!(
        totals.breaker_trips,
        metric("hardy_breaker_transitions_total", &[("to", "open")])
    );
    assert_eq!(
        totals.rate_limited,
        metric("hardy_rate_limit_calls_total", &[("outcome", "rejected")])
    );
    assert_eq!(
        totals.read_timeouts + totals.water_timeouts,
        metric("hardy_timeout_timeouts_total", &[])
    );
    let admitted = sum(
        &report.metrics,
        "hardy_rate_limit_calls_total",
        &[("outcome", "admitted")],
    );
    let waterings: u32 = report.plants.iter().map(|p| p.waterings).sum();
    assert_eq!(
        admitted,
        u64::from(waterings),
        "every watering passed the limit"
    );
    for plant in &report.plants {
        let name = format!("water:{}", plant.id);
        let admitted = sum(
            &report.metrics,
            "hardy_rate_limit_calls_total",
            &[("name", name.as_str()), ("outcome", "admitted")],
        );
        assert_eq!(admitted, u64::from(plant.waterings), "{}", plant.id);
    }
    let text = report.text();
    assert!(text.contains("breaker trips"), "{text}");
    assert!(report.svg().expect("drawn").starts_with("<svg"));
}

#[test]
fn the_same_seed_gives_the_same_week() {
    let config = Config::default();
    let first = simulate::run(&config, 2, Faults::Mild, false).expect("simulates");
    let again = simulate::run(&config, 2, Faults::Mild, false).expect("simulates");
    assert!(
        first.plants == again.plants,
        "the same plants, to the last sample"
    );
    assert_eq!(first.totals, again.totals);
}

#[test]
fn a_perfect_garden_needs_no_resilience() {
    let report = simulate::run(&Config::default(), 3, Faults::None, false).expect("simulates");
    assert_eq!(
        report.totals,
        Totals {
            reads: 3 * 3 * 144,
            ..Totals::default()
        },
        "every read answered at once, nothing refused, nothing timed out"
    );
    assert!(report.plants.iter().all(|p| p.in_range >= 0.99), "in range");
}

#[test]
fn check_config_lists_every_error() {
    let dir = std::env::temp_dir().join(format!("plant-care-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[[plants]]\nid = \"basil\"\nmin_moisture = 70\nmax_moisture = 40\ndose_ml = 9000\n",
    )
    .expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_plant-care"))
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("min_moisture = 70: must be below max_moisture (40)"),
        "{stderr}"
    );
    assert!(stderr.contains("dose_ml = 9000"), "{stderr}");
    let good = dir.join("good.toml");
    std::fs::write(&good, "seed = 3\n").expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_plant-care"))
        .arg("check-config")
        .arg(&good)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! Left alone: three simulated years of mild faults, the probes drifting all the while,
//! keep every plant in its range each year; harsh faults never push a pump past its
//! limits, and a plant that cannot be cared for is flagged within a day. On paused
//! time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use plant_care::config::Config;
use plant_care::controller::Controller;
use plant_care::hardware::{self, Faults};
use plant_care::history::Source;
use plant_care::simulate;
use plantos_hal::{DeviceError, Dispensed, ErrorKind, Reading, Sensor, SensorId, SensorService};
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

/// A probe that is not there.
struct Dead(SensorId);

impl Sensor for Dead {
    fn id(&self) -> &SensorId {
        &self.0
    }

    fn read(&mut self) -> Result<Vec<Reading>, DeviceError> {
        Err(DeviceError::new(
            ErrorKind::Disconnected,
            self.0.as_str(),
            "unplugged",
        ))
    }
}

#[test]
fn three_years_of_drifting_probes_keep_every_plant_in_range_each_year() {
    let config = Config::default();
    let report = simulate::run(&config, 3 * 365, Faults::Mild, false).expect("simulates");
    for (plant, configured) in report.plants.iter().zip(&config.plants) {
        assert_eq!(plant.in_range_by_year.len(), 3, "{}", plant.id);
        for (year, share) in plant.in_range_by_year.iter().enumerate() {
            assert!(
                *share >= 0.95,
                "{}: in range {:.1} % of year {}",
                plant.id,
                share * 100.0,
                year + 1
            );
        }
        // The probes drifted 0.002 V a day, 109.5 % of their 2 V span in three years:
        // the probe's correction follows it, and the backup's matches the probe.
        let drifted = 0.002 * 1095.0 / 2.0 * 100.0;
        assert!(
            (plant.drift_correction - drifted).abs() < 5.0,
            "{}: corrected {:.1} %, drifted {drifted:.1} %",
            plant.id,
            plant.drift_correction
        );
        assert!(
            (plant.backup_correction - plant.drift_correction).abs() < 3.0,
            "{}: backup {:.1} %, probe {:.1} %",
            plant.id,
            plant.backup_correction,
            plant.drift_correction
        );
        assert!(
            plant
                .needs_attention
                .as_deref()
                .is_some_and(|why| why.contains("recalibrate")),
            "{}: {:?}",
            plant.id,
            plant.needs_attention
        );
        assert_eq!(plant.within_pump_limits(&configured.pump), Ok(()));
    }
}

#[tokio::test(start_paused = true)]
async fn under_harsh_faults_a_plant_without_trustworthy_readings_is_flagged_within_a_day() {
    let config = Config::default();
    let recorder = PrometheusBuilder::new().build_recorder();
    let (controller, relays) = metrics::with_local_recorder(&recorder, || {
        let mut hardware = hardware::build(&config, Faults::Harsh).expect("hardware");
        // The fern's probes are dead (both unplugged): it cannot be cared for.
        let dead = |name: &str| {
            let lane = hardy::bulkhead::Bulkhead::builder(format!("bus:{name}"))
                .max_concurrent(1)
                .build()
                .expect("valid");
            let sensor: Box<dyn Sensor> = Box::new(Dead(name.into()));
            SensorService::in_place(sensor, lane)
        };
        hardware.plants[1].probe = dead("soil:fern");
        hardware.plants[1].backup = Some(dead("soil-backup:fern"));
        let relays = hardware.relays.clone();
        (
            Controller::new(&config, hardware).expect("controller"),
            relays,
        )
    });
    let start = Instant::now();
    let mut last_trusted = vec![start; config.plants.len()];
    let mut flagged_rounds = 0;
    let mut untrusted_rounds = 0;
    for round in 1..=(60 * 144) {
        controller.tick().await;
        let now = Instant::now();
        for (i, status) in controller.status().iter().enumerate() {
            let trusted = status.quality.is_some_and(|q| q >= config.min_quality)
                && matches!(status.source, Some(Source::Probe | Source::Backup))
                && status.reading_age_s.is_some_and(|age| age < 60.0);
            if trusted {
                last_trusted[i] = now;
            }
            if now.duration_since(last_trusted[i]) > Duration::from_secs(86_400) {
                untrusted_rounds += 1;
                assert!(
                    status.needs_attention.is_some(),
                    "{}: no trustworthy reading for a day, and not flagged",
                    status.id
                );
            }
            if status.needs_attention.is_some() {
                flagged_rounds += 1;
            }
        }
        tokio::time::sleep_until(start + config.read_every * round).await;
    }
    assert!(
        flagged_rounds > 0,
        "harsh faults needed a person at some point"
    );
    assert!(
        untrusted_rounds > 0,
        "the fern went days without a trustworthy reading"
    );
    let fern = &controller.status()[1];
    assert!(
        fern.needs_attention
            .as_deref()
            .is_some_and(|why| why.starts_with("no trustworthy reading for")),
        "{:?}",
        fern.needs_attention
    );
    assert_eq!(fern.waterings, 0, "never watered blind");
    for (relay, plant) in relays.iter().zip(&config.plants) {
        let mut on = None;
        for (at, high) in relay.changes() {
            match (high, on) {
                (true, None) => on = Some(at),
                (false, Some(began)) => {
                    assert!(
                        at - began <= plant.pump.max_run,
                        "{}: a run past max_run",
                        plant.id
                    );
                    on = None;
                }
                _ => {}
            }
        }
        assert!(!relay.is_high(), "{}: the pump is off", plant.id);
    }
}

#[tokio::test(start_paused = true)]
async fn waterings_that_stop_reaching_the_pot_are_flagged_after_two() {
    let config = Config::default();
    let recorder = PrometheusBuilder::new().build_recorder();
    let controller = metrics::with_local_recorder(&recorder, || {
        let mut hardware = hardware::build(&config, Faults::None).expect("hardware");
        // After four waterings the basil's hose slips: the pump runs, the water goes
        // elsewhere.
        let calls = Arc::new(AtomicU32::new(0));
        let pump = hardware.plants[0].pump.clone();
        hardware.plants[0].pump =
            BoxCloneSyncService::new(tower::service_fn(move |ml: plantos_hal::Millilitres| {
                let mut pump = pump.clone();
                let call = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if call < 4 {
                        return pump.ready().await?.call(ml).await;
                    }
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(Dispensed {
                        ml: ml.get(),
                        ran: Duration::from_secs(10),
                    })
                }
            }));
        Controller::new(&config, hardware).expect("controller")
    });
    let start = Instant::now();
    let mut flagged_after = None;
    for round in 1..=(30 * 144) {
        controller.tick().await;
        let basil = &controller.status()[0];
        let flagged = basil
            .needs_attention
            .as_deref()
            .is_some_and(|why| why.contains("did not raise the reading"));
        if flagged && flagged_after.is_none() {
            flagged_after = Some(basil.waterings);
        }
        tokio::time::sleep_until(start + config.read_every * round).await;
    }
    assert_eq!(
        flagged_after,
        Some(6),
        "flagged once the two waterings after the slip did nothing"
    );
}

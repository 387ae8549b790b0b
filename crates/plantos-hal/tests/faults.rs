//! Seeded fault plans: the same seed gives the same faults; each kind of fault shows
//! through the real drivers with the error kind a resilience layer expects.

use std::sync::Arc;
use std::time::Duration;

use plantos_hal::sim::{FakeAds1115, FaultPlan, NoDelay, SimBus, Source};
use plantos_hal::{AdcAddress, Calibration, Error, ErrorKind, Sensor, SoilMoisture};
use tokio::time::advance;

const MINUTE: Duration = Duration::from_secs(60);

/// A probe reading a constant 1.4 V (50 %) through an ADC with `plan`'s faults.
fn faulty_probe(plan: &FaultPlan) -> SoilMoisture<SimBus, NoDelay> {
    let input: Source<f64> = plan.on_source(Arc::new(|| 1.4));
    let zero: Source<f64> = Arc::new(|| 0.0);
    let adc = FakeAds1115::new([input, zero.clone(), zero.clone(), zero]);
    let stall = adc.stall_switch();
    let bus = SimBus::new();
    bus.attach(0x48, plan.on_chip(adc, Some(stall)));
    // Configuring writes to the chip, which may meet a fault too: try a few times.
    (0..10)
        .find_map(|_| {
            SoilMoisture::new(
                "soil-1",
                bus.clone(),
                AdcAddress::default(),
                0,
                Calibration {
                    dry: 19_200,
                    wet: 3_200,
                },
                NoDelay,
            )
            .ok()
        })
        .expect("configured")
}

/// The kinds of error (or `None` for a good read) of a read a minute for a day.
async fn day_of_reads(plan: &FaultPlan) -> Vec<Option<ErrorKind>> {
    let mut soil = faulty_probe(plan);
    let mut seen = Vec::new();
    for _ in 0..24 * 60 {
        advance(MINUTE).await;
        seen.push(soil.read().err().map(|error| error.kind()));
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_faults() {
    let plan = FaultPlan::mild(9);
    let first = day_of_reads(&plan).await;
    assert_eq!(first, day_of_reads(&plan).await);
    assert_ne!(first, day_of_reads(&FaultPlan::mild(10)).await);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_come_at_their_rate() {
    let plan = FaultPlan {
        error_rate: 0.05,
        ..FaultPlan::none(3)
    };
    let seen = day_of_reads(&plan).await;
    let bus = seen.iter().filter(|k| **k == Some(ErrorKind::Bus)).count();
    assert_eq!(seen.iter().flatten().count(), bus, "only bus errors");
    // A read is 4 to 6 operations: about 1 read in 4 meets a 5 % fault.
    let share = bus as f64 / seen.len() as f64;
    assert!((0.15..=0.35).contains(&share), "{share}");
}

#[tokio::test(start_paused = true)]
async fn disconnects_and_stalls_come_in_windows() {
    let plan = FaultPlan {
        disconnect_every: Some(Duration::from_secs(6 * 3600)),
        disconnect_for: 10 * MINUTE,
        stall_every: Some(Duration::from_secs(8 * 3600)),
        stall_for: 5 * MINUTE,
        ..FaultPlan::none(5)
    };
    let seen = day_of_reads(&plan).await;
    let runs = |kind: ErrorKind| {
        let mut runs = Vec::new();
        let mut length = 0;
        for k in &seen {
            if *k == Some(kind) {
                length += 1;
            } else if length > 0 {
                runs.push(length);
                length = 0;
            }
        }
        runs
    };
    let disconnects = runs(ErrorKind::Disconnected);
    assert!(!disconnects.is_empty(), "{seen:?}");
    assert!(disconnects.iter().all(|run| *run <= 10), "{disconnects:?}");
    let stalls = runs(ErrorKind::Stalled);
    assert!(!stalls.is_empty());
    assert!(stalls.iter().all(|run| *run <= 5), "{stalls:?}");
    assert!(
        seen.iter().filter(|k| k.is_none()).count() > 20 * 60,
        "mostly good"
    );
}

#[tokio::test(start_paused = true)]
async fn spikes_are_out_of_range_and_drift_moves_the_value() {
    let spiky = FaultPlan {
        spike_rate: 0.1,
        spike: 3.0,
        ..FaultPlan::none(1)
    };
    let seen = day_of_reads(&spiky).await;
    let spikes = seen
        .iter()
        .filter(|k| **k == Some(ErrorKind::OutOfRange))
        .count();
    assert!((80..=220).contains(&spikes), "{spikes} of 1440");

    let drifting = FaultPlan {
        drift_per_day: 0.2,
        ..FaultPlan::none(1)
    };
    let mut soil = faulty_probe(&drifting);
    let start = soil.read().expect("read").remove(0).value;
    advance(Duration::from_secs(86_400)).await;
    let later = soil.read().expect("read").remove(0).value;
    // +0.2 V toward dry (2.4 V) over a 2 V span: 10 points drier.
    assert!((start - later - 10.0).abs() < 0.5, "{start} → {later}");
}

#[tokio::test(start_paused = true)]
async fn a_stuck_value_stays_while_the_world_moves() {
    let level = Arc::new(parking_lot::Mutex::new(1.4));
    let moving = level.clone();
    let plan = FaultPlan {
        stuck_every: Some(Duration::from_secs(3600)),
        stuck_for: Duration::from_secs(24 * 3600),
        ..FaultPlan::none(2)
    };
    let source = plan.on_source(Arc::new(move || *moving.lock()));
    // Before the first window the value follows; inside it, it does not.
    let mut values = Vec::new();
    for step in 0..48 {
        *level.lock() = 1.0 + f64::from(step) * 0.01;
        values.push(source());
        advance(Duration::from_secs(1800)).await;
    }
    let repeats = values.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(repeats >= 20, "stuck for a day: {values:?}");
    assert!(repeats < 47, "it moved before getting stuck: {values:?}");
}

#[test]
fn a_plan_without_faults_changes_nothing() {
    let plan = FaultPlan::none(1);
    assert!(!plan.is_faulty());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let seen = day_of_reads(&plan).await;
        assert!(seen.iter().all(Option::is_none));
    });
}

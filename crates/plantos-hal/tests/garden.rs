//! The simulated garden: deterministic for a seed, drying with time and heat, wetter
//! with water after it soaks in, a day cycle; read through the real drivers.

use std::time::Duration;

use plantos_hal::sim::{FakeAds1115, Garden, NoDelay, PotModel, SimBus, SimPin, Weather};
use plantos_hal::{
    AdcAddress, Calibration, Millilitres, PlantId, Pump, PumpConfig, Sensor, SoilMoisture,
};
use tokio::time::{advance, sleep};

const HOUR: Duration = Duration::from_secs(3600);

fn basil() -> PlantId {
    PlantId::from("basil")
}

/// A probe for basil through a simulated ADS1115, read by the real driver.
fn soil(garden: &Garden) -> SoilMoisture<SimBus, NoDelay> {
    let bus = SimBus::new();
    let zero = std::sync::Arc::new(|| 0.0);
    bus.attach(
        0x48,
        FakeAds1115::new([
            garden.probe(basil(), 2.4, 0.4),
            zero.clone(),
            zero.clone(),
            zero,
        ]),
    );
    SoilMoisture::new(
        "soil-1",
        bus,
        AdcAddress::default(),
        0,
        Calibration {
            dry: 19_200,
            wet: 3_200,
        },
        NoDelay,
    )
    .expect("configured")
}

/// Hourly readings over two days.
async fn trace(seed: u64) -> Vec<f64> {
    let garden = Garden::new(seed, Weather::default(), vec![PotModel::new("basil")]);
    let mut soil = soil(&garden);
    let mut values = Vec::new();
    for _ in 0..48 {
        advance(HOUR).await;
        values.push(soil.read().expect("read").remove(0).value);
    }
    values
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_trace() {
    let first = trace(42).await;
    let again = trace(42).await;
    assert_eq!(first, again);
    assert_ne!(first, trace(43).await, "another seed, other noise");
}

#[tokio::test(start_paused = true)]
async fn soil_dries_and_faster_when_hot() {
    let mild = Garden::new(1, Weather::default(), vec![PotModel::new("basil")]);
    let hot = Garden::new(
        1,
        Weather {
            mean_celsius: 32.0,
            ..Weather::default()
        },
        vec![PotModel::new("basil")],
    );
    advance(48 * HOUR).await;
    let (mild, hot) = (
        mild.moisture(&basil()).expect("pot"),
        hot.moisture(&basil()).expect("pot"),
    );
    assert!(mild < 0.6, "it dried: {mild}");
    assert!(hot < mild, "heat dries faster: {hot} < {mild}");
    assert!(mild > 0.0);
}

#[tokio::test(start_paused = true)]
async fn water_soaks_in_then_shows() {
    let garden = Garden::new(1, Weather::default(), vec![PotModel::new("basil")]);
    let relay = SimPin::new();
    assert!(garden.connect_pump(&basil(), relay.clone(), 20.0));
    let mut pump = Pump::new("pump-1", relay, PumpConfig::default()).expect("valid");
    let before = garden.moisture(&basil()).expect("pot");
    pump.dispense(Millilitres::new(300).expect("ml"))
        .await
        .expect("ran");
    assert!(
        garden.moisture(&basil()).expect("pot") <= before,
        "not yet soaked in"
    );
    sleep(Duration::from_secs(11 * 60)).await;
    let after = garden.moisture(&basil()).expect("pot");
    // 300 ml into a 1.5 l pot: +0.2, less a little drying.
    assert!((after - before - 0.2).abs() < 0.01, "{before} → {after}");
    assert!(garden.pour(&basil(), 1_500.0));
    sleep(Duration::from_secs(11 * 60)).await;
    let soaked = garden.moisture(&basil()).expect("pot");
    assert!(
        (0.99..=1.0).contains(&soaked),
        "saturated, never more: {soaked}"
    );
    assert!(!garden.pour(&"fern".into(), 100.0), "no such plant");
}

#[tokio::test(start_paused = true)]
async fn temperature_and_light_follow_the_day() {
    // Starts at 06:00: dark, cooling toward the 03:00 low... warmest at 15:00.
    let garden = Garden::new(1, Weather::default(), vec![]);
    let mut by_hour = Vec::new();
    for hour in 0..24 {
        by_hour.push((hour + 6, garden.climate().celsius, garden.light()));
        advance(HOUR).await;
    }
    let warmest = by_hour
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("hours");
    assert_eq!(warmest.0 % 24, 15);
    let brightest = by_hour
        .iter()
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .expect("hours");
    assert_eq!(brightest.0 % 24, 12);
    let midnight = by_hour.iter().find(|h| h.0 % 24 == 0).expect("midnight");
    assert_eq!(midnight.2, 0.0, "dark at night");
    assert!(by_hour.iter().all(|h| (17.0..=25.0).contains(&h.1)));
}

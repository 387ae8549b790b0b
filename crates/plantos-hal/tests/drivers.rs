//! The drivers against embedded-hal-mock expectations (the exact bus traffic) and
//! against the register-level fakes (faults: stalls, disconnects, bad checksums).

use std::sync::Arc;

use embedded_hal::i2c::ErrorKind as I2cKind;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction};
use plantos_hal::sim::{Climate, FakeAds1115, FakeSht4x, NoDelay, SimBus, sensirion_crc};
use plantos_hal::{
    AdcAddress, Calibration, ClimateSensor, Error, ErrorKind, Kind, Sensor, SoilMoisture,
};

const ADC: u8 = 0x48;
const CALIBRATION: Calibration = Calibration {
    dry: 19_200,
    wet: 3_200,
};

#[test]
fn the_moisture_driver_speaks_the_ads1115_protocol() {
    // Config: default 0x8583 with the ±4.096 V range (PGA 001) is 0x8383; a one-shot
    // read of input 0 sets MUX 100 and OS: 0xC383.
    let expectations = [
        Transaction::write(ADC, vec![0x01, 0x83, 0x83]),
        // Not busy (OS high), so the conversion starts.
        Transaction::write_read(ADC, vec![0x01], vec![0x83, 0x83]),
        Transaction::write(ADC, vec![0x01, 0xc3, 0x83]),
        // Busy once, then done: the conversion register holds 11 200 (2.8 V / 4.096).
        Transaction::write_read(ADC, vec![0x01], vec![0x43, 0x83]),
        Transaction::write_read(ADC, vec![0x01], vec![0xc3, 0x83]),
        Transaction::write_read(ADC, vec![0x00], 11_200u16.to_be_bytes().to_vec()),
    ];
    let mut bus = I2cMock::new(&expectations);
    let mut soil = SoilMoisture::new(
        "soil-1",
        bus.clone(),
        AdcAddress::default(),
        0,
        CALIBRATION,
        NoopDelay::new(),
    )
    .expect("configured");
    let reading = soil.read().expect("read").remove(0);
    assert_eq!(reading.kind, Kind::Moisture);
    assert_eq!(reading.value, 50.0, "half way from dry to wet");
    assert_eq!(reading.quality, 1.0);
    bus.done();
}

#[test]
fn a_bus_error_has_its_kind() {
    let expectations =
        [
            Transaction::write(ADC, vec![0x01, 0x83, 0x83]).with_error(I2cKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            )),
        ];
    let mut bus = I2cMock::new(&expectations);
    let error = SoilMoisture::new(
        "soil-1",
        bus.clone(),
        AdcAddress::default(),
        0,
        CALIBRATION,
        NoopDelay::new(),
    )
    .expect_err("no chip");
    assert_eq!(error.kind(), ErrorKind::Disconnected);
    assert_eq!(error.device(), "soil-1");
    bus.done();
}

fn volts(v: f64) -> [plantos_hal::sim::Source<f64>; 4] {
    [
        Arc::new(move || v),
        Arc::new(|| 0.0),
        Arc::new(|| 0.0),
        Arc::new(|| 0.0),
    ]
}

fn probe(bus: &SimBus) -> SoilMoisture<SimBus, NoDelay> {
    SoilMoisture::new(
        "soil-1",
        bus.clone(),
        AdcAddress::default(),
        0,
        CALIBRATION,
        NoDelay,
    )
    .expect("configured")
}

#[test]
fn the_calibration_maps_dry_to_0_and_wet_to_100_with_slack() {
    for (v, percent, quality) in [(2.4, 0.0, 1.0), (0.4, 100.0, 1.0), (1.9, 25.0, 1.0)] {
        let bus = SimBus::new();
        bus.attach(ADC, FakeAds1115::new(volts(v)));
        let reading = probe(&bus).read().expect("read").remove(0);
        assert!(
            (reading.value - percent).abs() < 0.01,
            "{v} V: {}",
            reading.value
        );
        assert_eq!(reading.quality, quality);
    }
    // 5 % past dry: clamped to 0 with half the quality.
    let bus = SimBus::new();
    bus.attach(ADC, FakeAds1115::new(volts(2.5)));
    let reading = probe(&bus).read().expect("read").remove(0);
    assert_eq!(reading.value, 0.0);
    assert!((reading.quality - 0.5).abs() < 0.01, "{}", reading.quality);
    // Far past: out of range (a probe out of the soil, a broken wire).
    let bus = SimBus::new();
    bus.attach(ADC, FakeAds1115::new(volts(3.3)));
    let error = probe(&bus).read().expect_err("implausible");
    assert_eq!(error.kind(), ErrorKind::OutOfRange);
}

#[test]
fn a_stalled_adc_is_reported_as_stalled() {
    let bus = SimBus::new();
    let adc = FakeAds1115::new(volts(1.4));
    let stall = adc.stall_switch();
    bus.attach(ADC, adc);
    let mut soil = probe(&bus).max_polls(5);
    soil.read().expect("works");
    *stall.lock() = true;
    let error = soil.read().expect_err("stalled");
    assert_eq!(error.kind(), ErrorKind::Stalled);
    assert!(error.kind().is_transient());
    *stall.lock() = false;
    soil.read().expect("recovers");
}

#[test]
fn a_disconnected_or_glitching_chip_is_reported_by_kind() {
    let bus = SimBus::new();
    bus.attach(ADC, FakeAds1115::new(volts(1.4)));
    let mut soil = probe(&bus);
    bus.set_disconnected(ADC, true);
    assert_eq!(
        soil.read().expect_err("gone").kind(),
        ErrorKind::Disconnected
    );
    bus.set_disconnected(ADC, false);
    bus.fail_next(ADC, 1, I2cKind::Bus);
    assert_eq!(soil.read().expect_err("glitch").kind(), ErrorKind::Bus);
    soil.read().expect("the next read works");
}

#[test]
fn bad_inputs_are_refused_when_built() {
    let bus = SimBus::new();
    let error = SoilMoisture::new(
        "s",
        bus.clone(),
        AdcAddress::default(),
        4,
        CALIBRATION,
        NoDelay,
    )
    .expect_err("no input 4");
    assert_eq!(error.kind(), ErrorKind::OutOfRange);
    let same = Calibration { dry: 100, wet: 100 };
    assert!(SoilMoisture::new("s", bus, AdcAddress::default(), 0, same, NoDelay).is_err());
}

#[test]
fn the_climate_driver_reads_the_sht4x_protocol() {
    // 25 °C → raw 26 214; 50 % → raw 29 360 (by the datasheet formulas).
    let t = 26_214u16.to_be_bytes();
    let rh = 29_360u16.to_be_bytes();
    let expectations = [
        Transaction::write(0x44, vec![0xfd]),
        Transaction::read(
            0x44,
            vec![
                t[0],
                t[1],
                sensirion_crc(t),
                rh[0],
                rh[1],
                sensirion_crc(rh),
            ],
        ),
    ];
    let mut bus = I2cMock::new(&expectations);
    let mut climate = ClimateSensor::new("climate", bus.clone(), NoopDelay::new());
    let (celsius, humidity) = climate.measure().expect("measured");
    assert!((celsius - 25.0).abs() < 0.01, "{celsius}");
    assert!((humidity - 50.0).abs() < 0.01, "{humidity}");
    bus.done();
}

#[test]
fn a_bad_checksum_is_a_bus_error() {
    let expectations = [
        Transaction::write(0x44, vec![0xfd]),
        Transaction::read(0x44, vec![0x66, 0x66, 0x00, 0x6a, 0x7f, 0x00]),
    ];
    let mut bus = I2cMock::new(&expectations);
    let mut climate = ClimateSensor::new("climate", bus.clone(), NoopDelay::new());
    let error = climate.read().expect_err("bad crc");
    assert_eq!(error.kind(), ErrorKind::Bus);
    assert_eq!(error.message(), "bad checksum");
    bus.done();
}

#[test]
fn the_climate_driver_runs_against_the_fake_chip() {
    let bus = SimBus::new();
    bus.attach(
        0x44,
        FakeSht4x::new(Arc::new(|| Climate {
            celsius: -3.25,
            humidity: 91.0,
        })),
    );
    let readings = ClimateSensor::new("climate", bus.clone(), NoDelay)
        .read()
        .expect("read");
    assert_eq!(readings.len(), 2);
    assert!((readings[0].value + 3.25).abs() < 0.01);
    assert_eq!(readings[1].kind, Kind::Humidity);
    assert!((readings[1].value - 91.0).abs() < 0.01);
    assert_eq!(bus.transactions(), 2, "one write, one read");
}

#[test]
fn a_probe_in_use_is_recalibrated_through_its_shared_calibration() {
    // 3.3 V: a probe that drifted far past its dry end (1.9 V, 25 %, when new).
    let bus = SimBus::new();
    bus.attach(ADC, FakeAds1115::new(volts(3.3)));
    let mut soil = probe(&bus);
    let shared = soil.calibration();
    assert_eq!(
        soil.read().expect_err("out of range").kind(),
        ErrorKind::OutOfRange
    );
    // The drift measured: 70 % (1.4 V of the 2 V span). Shifted, it reads 25 % again,
    // past where any calibration's counts could reach.
    assert_eq!(shared.shift(70.0), 70.0);
    let reading = soil.read().expect("read").remove(0);
    assert!((reading.value - 25.0).abs() < 0.01, "{}", reading.value);
    assert_eq!(reading.quality, 1.0);
    // A person recalibrates it by hand: the shift is gone, the new ends hold.
    shared.set(Calibration {
        dry: 30_400,
        wet: 14_400,
    });
    assert_eq!(shared.shifted(), 0.0);
    let reading = soil.read().expect("read").remove(0);
    assert!((reading.value - 25.0).abs() < 0.1, "{}", reading.value);
    // Ends that are equal, and a shift that is not a number, change nothing.
    shared.set(Calibration { dry: 5, wet: 5 });
    assert_eq!(shared.shift(f64::NAN), 0.0);
    assert_eq!(
        shared.get(),
        Calibration {
            dry: 30_400,
            wet: 14_400
        }
    );
}

//! The devices of each plant: simulated (a seeded garden with faults) or, with the
//! `linux` feature, a Raspberry Pi's.

use std::sync::Arc;

use hardy::bulkhead::Bulkhead;
use hardy::core::{ConfigError, Error};
use plantos_hal::sim::{
    Climate, FakeAds1115, FakeSht4x, FaultPlan, Garden, NoDelay, PotModel, SimBus, SimPin, Source,
    Weather,
};
use plantos_hal::{
    AdcAddress, ClimateSensor, DeviceError, Dispensed, Millilitres, Pump, PumpService, Sensor,
    SensorService, SharedCalibration, SoilMoisture,
};
use tower::util::BoxCloneSyncService;

use crate::config::{Backend, Config};

/// A sensor as a service, whatever it is.
pub type SensorSvc = SensorService<Box<dyn Sensor>>;
/// A pump as a service, whatever drives it.
pub type PumpSvc = BoxCloneSyncService<Millilitres, Dispensed, Error<DeviceError>>;

/// How faulty the simulated devices are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Faults {
    /// Perfect devices.
    None,
    /// What a garden sees over weeks.
    Mild,
    /// Devices that fail all the time.
    Harsh,
}

impl Faults {
    /// The plan for one device.
    pub fn plan(self, seed: u64) -> FaultPlan {
        use std::time::Duration;
        match self {
            Faults::None => FaultPlan::none(seed),
            Faults::Mild => FaultPlan::mild(seed),
            Faults::Harsh => FaultPlan {
                error_rate: 0.08,
                disconnect_every: Some(Duration::from_secs(4 * 3600)),
                disconnect_for: Duration::from_secs(20 * 60),
                stall_every: Some(Duration::from_secs(8 * 3600)),
                stall_for: Duration::from_secs(10 * 60),
                stuck_every: Some(Duration::from_secs(24 * 3600)),
                stuck_for: Duration::from_secs(3600),
                spike_rate: 0.02,
                spike: 1.5,
                drift_per_day: 0.003,
                seed,
            },
        }
    }
}

/// One plant's devices.
pub struct PlantDevices {
    /// The primary probe.
    pub probe: SensorSvc,
    /// The primary probe's calibration, which the controller corrects as the probe
    /// drifts (`None` for a probe whose calibration cannot be reached).
    pub calibration: Option<SharedCalibration>,
    /// The backup probe, if any.
    pub backup: Option<SensorSvc>,
    /// The backup probe's calibration, which the controller corrects to match the
    /// probe.
    pub backup_calibration: Option<SharedCalibration>,
    /// The pump.
    pub pump: PumpSvc,
}

impl std::fmt::Debug for PlantDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlantDevices")
            .field("backup", &self.backup.is_some())
            .finish_non_exhaustive()
    }
}

/// Every device of the garden.
pub struct Hardware {
    /// Each plant's devices, in the config's order.
    pub plants: Vec<PlantDevices>,
    /// The climate sensor.
    pub climate: SensorSvc,
    /// The simulated garden, when simulated.
    pub garden: Option<Garden>,
    /// The pumps' relays, when simulated (to check the safety limits).
    pub relays: Vec<SimPin>,
}

impl std::fmt::Debug for Hardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hardware")
            .field("plants", &self.plants.len())
            .field("simulated", &self.garden.is_some())
            .finish_non_exhaustive()
    }
}

fn device(error: ConfigError) -> DeviceError {
    DeviceError::new(
        plantos_hal::ErrorKind::Other,
        error.instance().to_string(),
        error.to_string(),
    )
}

/// Builds the devices the config describes.
///
/// # Errors
///
/// A device that cannot be opened or configured, or the linux backend in a binary
/// built without it.
pub fn build(config: &Config, faults: Faults) -> Result<Hardware, DeviceError> {
    match config.backend {
        Backend::Sim => simulated(config, faults),
        Backend::Linux => linux(config),
    }
}

fn simulated(config: &Config, faults: Faults) -> Result<Hardware, DeviceError> {
    let pots = config
        .plants
        .iter()
        .enumerate()
        .map(|(i, plant)| PotModel {
            // Start each pot a little differently: well watered to half dry.
            moisture: 0.75 - 0.1 * i as f64,
            ..PotModel::new(plant.id.as_str())
        })
        .collect();
    let garden = Garden::new(config.seed, Weather::default(), pots);
    let mut plants = Vec::new();
    let mut relays = Vec::new();
    for (i, plant) in config.plants.iter().enumerate() {
        let seed = config.seed.wrapping_mul(1_000).wrapping_add(i as u64);
        let probe = |which: u64| -> Result<(SensorSvc, SharedCalibration), DeviceError> {
            let plan = faults.plan(seed.wrapping_mul(7).wrapping_add(which));
            let volts = plan.on_source(garden.probe(plant.id.as_str().into(), 2.4, 0.4));
            let zero: Source<f64> = Arc::new(|| 0.0);
            let mut inputs = [zero.clone(), zero.clone(), zero.clone(), zero];
            inputs[usize::from(plant.channel.min(3))] = volts;
            let adc = FakeAds1115::new(inputs);
            let stall = adc.stall_switch();
            let bus = SimBus::new();
            bus.attach(0x48, plan.on_chip(adc, Some(stall)));
            let name = if which == 0 {
                format!("soil:{}", plant.id)
            } else {
                format!("soil-backup:{}", plant.id)
            };
            // A configuration write can meet a simulated fault: try a few times.
            let mut last = None;
            for _ in 0..10 {
                match SoilMoisture::new(
                    name.as_str(),
                    bus.clone(),
                    AdcAddress::default(),
                    plant.channel,
                    plant.calibration,
                    NoDelay,
                ) {
                    Ok(sensor) => {
                        let lane = Bulkhead::builder(format!("bus:{name}"))
                            .max_concurrent(1)
                            .build()
                            .map_err(device)?;
                        let calibration = sensor.calibration();
                        let sensor: Box<dyn Sensor> = Box::new(sensor);
                        return Ok((SensorService::in_place(sensor, lane), calibration));
                    }
                    Err(error) => last = Some(error),
                }
            }
            Err(last.unwrap_or_else(|| {
                DeviceError::new(plantos_hal::ErrorKind::Other, name, "no probe")
            }))
        };
        let (primary, calibration) = probe(0)?;
        let (backup, backup_calibration) = if plant.backup_probe {
            let (backup, calibration) = probe(1)?;
            (Some(backup), Some(calibration))
        } else {
            (None, None)
        };
        let relay = SimPin::new();
        garden.connect_pump(
            &plant.id.as_str().into(),
            relay.clone(),
            plant.pump.flow_ml_per_s,
        );
        let pump = Pump::new(
            format!("pump:{}", plant.id),
            relay.clone(),
            plant.pump.clone(),
        )?;
        relays.push(relay);
        plants.push(PlantDevices {
            probe: primary,
            calibration: Some(calibration),
            backup,
            backup_calibration,
            pump: BoxCloneSyncService::new(PumpService::new(pump)),
        });
    }
    let bus = SimBus::new();
    let climate_source: Source<Climate> = garden.climate_source();
    bus.attach(0x44, FakeSht4x::new(climate_source));
    let climate: Box<dyn Sensor> = Box::new(ClimateSensor::new("climate", bus, NoDelay));
    let lane = Bulkhead::builder("bus:climate")
        .max_concurrent(1)
        .build()
        .map_err(device)?;
    Ok(Hardware {
        plants,
        // Simulated devices never block: read them in place, not on blocking threads.
        climate: SensorService::in_place(climate, lane),
        garden: Some(garden),
        relays,
    })
}

#[cfg(not(feature = "linux"))]
fn linux(_: &Config) -> Result<Hardware, DeviceError> {
    Err(DeviceError::new(
        plantos_hal::ErrorKind::Other,
        "backend",
        "the config selects the linux backend: build with `--features linux`",
    ))
}

#[cfg(feature = "linux")]
fn linux(config: &Config) -> Result<Hardware, DeviceError> {
    use plantos_hal::linux;
    let mut plants = Vec::new();
    let lane = Bulkhead::builder("bus:i2c-1")
        .max_concurrent(1)
        .build()
        .map_err(device)?;
    for plant in &config.plants {
        let probe =
            |channel: u8, name: String| -> Result<(SensorSvc, SharedCalibration), DeviceError> {
                let bus = linux::open_i2c("/dev/i2c-1")?;
                let sensor = SoilMoisture::new(
                    name.as_str(),
                    bus,
                    AdcAddress::default(),
                    channel,
                    plant.calibration,
                    linux::Delay,
                )?;
                let calibration = sensor.calibration();
                let sensor: Box<dyn Sensor> = Box::new(sensor);
                Ok((SensorService::new(sensor, lane.clone()), calibration))
            };
        let (primary, calibration) = probe(plant.channel, format!("soil:{}", plant.id))?;
        let (backup, backup_calibration) = if plant.backup_probe {
            let (backup, calibration) =
                probe(plant.channel + 1, format!("soil-backup:{}", plant.id))?;
            (Some(backup), Some(calibration))
        } else {
            (None, None)
        };
        let line = plant.pump_line.as_deref().unwrap_or("GPIO17");
        let relay = linux::output_line(line, "plant-care")?;
        let pump = Pump::new(format!("pump:{}", plant.id), relay, plant.pump.clone())?;
        plants.push(PlantDevices {
            probe: primary,
            calibration: Some(calibration),
            backup,
            backup_calibration,
            pump: BoxCloneSyncService::new(PumpService::new(pump)),
        });
    }
    let climate: Box<dyn Sensor> = Box::new(ClimateSensor::new(
        "climate",
        linux::open_i2c("/dev/i2c-1")?,
        linux::Delay,
    ));
    Ok(Hardware {
        plants,
        climate: SensorService::new(climate, lane),
        garden: None,
        relays: Vec::new(),
    })
}

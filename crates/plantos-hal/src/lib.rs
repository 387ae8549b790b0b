//! Plant-care hardware on embedded-hal 1.0: real on a Raspberry Pi, simulated
//! everywhere.
//!
//! - **Domain**: [`PlantId`], [`SensorId`], [`PumpId`], [`Reading`] (value, unit,
//!   time, quality), [`Millilitres`] (checked when made).
//! - **Errors** in the manner of embedded-hal: [`DeviceError`] with
//!   [`Error::kind`] → [`ErrorKind`], transient or not, and [`DeviceClassifier`] for
//!   hardy's layers.
//! - **Drivers**, generic over embedded-hal: [`SoilMoisture`] (a capacitive probe on
//!   an ADS1115 through the `ads1x1x` driver, calibrated dry to wet),
//!   [`ClimateSensor`] (an SHT4x through the `sht4x` driver), [`Pump`] (a relay with
//!   a hard run-time limit, cooldown, daily budget and tank interlock, switched off on
//!   every exit path).
//! - **Services**: [`SensorService`] reads on blocking threads behind a
//!   hardy-bulkhead, [`PumpService`] dispenses; both are tower services.
//! - **Simulation** ([`sim`], always compiled): a seeded [`Garden`](sim::Garden) on
//!   Tokio's clock, a simulated I2C bus with register-level fakes of the chips, relay
//!   pins.
//! - **Linux** (feature `linux`): `/dev/i2c-N` and GPIO lines by name.
//!
//! # Example: a simulated pot, read and watered
//!
//! ```
//! use std::time::Duration;
//! use plantos_hal::sim::{FakeAds1115, Garden, NoDelay, PotModel, SimBus, SimPin, Weather};
//! use plantos_hal::{AdcAddress, Calibration, Millilitres, Pump, PumpConfig, Sensor, SoilMoisture};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let garden = Garden::new(1, Weather::default(), vec![PotModel::new("basil")]);
//! let bus = SimBus::new();
//! let probe = garden.probe("basil".into(), 2.4, 0.4);
//! let zero = std::sync::Arc::new(|| 0.0);
//! bus.attach(0x48, FakeAds1115::new([probe, zero.clone(), zero.clone(), zero]));
//! let calibration = Calibration { dry: 19_200, wet: 3_200 };
//! let mut soil = SoilMoisture::new("soil-1", bus, AdcAddress::default(), 0, calibration, NoDelay)?;
//! let before = soil.read()?.remove(0).value;
//!
//! let relay = SimPin::new();
//! garden.connect_pump(&"basil".into(), relay.clone(), 20.0);
//! let mut pump = Pump::new("pump-1", relay, PumpConfig::default())?;
//! pump.dispense(Millilitres::new(300)?).await?;
//! tokio::time::sleep(Duration::from_secs(15 * 60)).await; // soak in
//! let after = soil.read()?.remove(0).value;
//! assert!(after > before + 15.0, "{before:.1} % → {after:.1} %");
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for ids, kinds, configs and calibrations |
//! | `linux` | no | [`linux`]: the Raspberry Pi backend |

mod climate;
mod domain;
mod error;
#[cfg(feature = "linux")]
pub mod linux;
mod moisture;
mod pump;
mod service;
pub mod sim;

pub use climate::ClimateSensor;
pub use domain::{Kind, MAX_DISPENSE, Millilitres, PlantId, PumpId, Reading, SensorId, Unit};
pub use error::{DeviceClassifier, DeviceError, Error, ErrorKind};
pub use moisture::{AdcAddress, Calibration, DEFAULT_MAX_POLLS, SharedCalibration, SoilMoisture};
pub use pump::{
    DEFAULT_COOLDOWN, DEFAULT_DAILY_BUDGET_ML, DEFAULT_FLOW_ML_PER_S, DEFAULT_INTERLOCK_EVERY,
    DEFAULT_MAX_RUN, Dispensed, FLOW_ML_PER_S_RANGE, INTERLOCK_EVERY_RANGE, Interlock,
    MAX_COOLDOWN, MAX_RUN_RANGE, Pump, PumpConfig,
};
pub use service::{DeviceFuture, PumpService, SensorService};

/// A sensor: one read gives one reading per quantity it measures. Reads are blocking
/// bus I/O; run them through a [`SensorService`].
pub trait Sensor: Send {
    /// The sensor's id.
    fn id(&self) -> &SensorId;

    /// Reads the sensor once.
    ///
    /// # Errors
    ///
    /// A [`DeviceError`] whose kind says whether trying again may help.
    fn read(&mut self) -> Result<Vec<Reading>, DeviceError>;
}

impl<S: Sensor + ?Sized> Sensor for Box<S> {
    fn id(&self) -> &SensorId {
        (**self).id()
    }

    fn read(&mut self) -> Result<Vec<Reading>, DeviceError> {
        (**self).read()
    }
}

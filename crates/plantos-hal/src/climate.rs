//! [`Climate`]: air temperature and humidity from a Sensirion SHT4x.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use sht4x::{Precision, Sht4x};

use crate::{DeviceError, ErrorKind, Kind, Reading, Sensor, SensorId};

/// Air temperature (°C) and relative humidity (%) from an SHT40/41/45 at 0x44, high
/// precision. A reading with a bad checksum is an [`ErrorKind::Bus`] error.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use plantos_hal::sim::{Climate, FakeSht4x, NoDelay, SimBus};
/// use plantos_hal::{ClimateSensor, Kind, Sensor};
///
/// # fn main() -> Result<(), plantos_hal::DeviceError> {
/// let bus = SimBus::new();
/// bus.attach(0x44, FakeSht4x::new(Arc::new(|| Climate { celsius: 21.5, humidity: 48.0 })));
/// let mut climate = ClimateSensor::new("climate", bus, NoDelay);
/// let readings = climate.read()?;
/// assert_eq!(readings[0].kind, Kind::Temperature);
/// assert!((readings[0].value - 21.5).abs() < 0.01);
/// assert!((readings[1].value - 48.0).abs() < 0.01);
/// # Ok(())
/// # }
/// ```
pub struct ClimateSensor<I2C, D> {
    id: SensorId,
    chip: Sht4x<I2C, D>,
    delay: D,
}

impl<I2C, D> std::fmt::Debug for ClimateSensor<I2C, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClimateSensor")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<I2C: I2c, D: DelayNs> ClimateSensor<I2C, D> {
    /// The sensor at the SHT4x's default address (0x44) on `i2c`.
    pub fn new(id: impl Into<SensorId>, i2c: I2C, delay: D) -> Self {
        ClimateSensor {
            id: id.into(),
            chip: Sht4x::new(i2c),
            delay,
        }
    }

    /// The bus, taken back.
    pub fn destroy(self) -> I2C {
        self.chip.destroy()
    }

    /// One measurement: temperature in °C and humidity in %.
    ///
    /// # Errors
    ///
    /// Bus errors; [`ErrorKind::Bus`] for a bad checksum.
    pub fn measure(&mut self) -> Result<(f64, f64), DeviceError> {
        let measurement = self
            .chip
            .measure(Precision::High, &mut self.delay)
            .map_err(|error| match error {
                sht4x::Error::I2c(error) => DeviceError::i2c(self.id.as_str(), &error),
                sht4x::Error::Crc => {
                    DeviceError::new(ErrorKind::Bus, self.id.as_str(), "bad checksum")
                }
                _ => DeviceError::new(ErrorKind::Other, self.id.as_str(), format!("{error:?}")),
            })?;
        let celsius = f64::from(measurement.temperature_milli_celsius()) / 1000.0;
        // The chip reports -6..=119 %; beyond 0..=100 is the edge of its accuracy.
        let humidity = (f64::from(measurement.humidity_milli_percent()) / 1000.0).clamp(0.0, 100.0);
        Ok((celsius, humidity))
    }
}

impl<I2C, D> Sensor for ClimateSensor<I2C, D>
where
    I2C: I2c + Send,
    D: DelayNs + Send,
{
    fn id(&self) -> &SensorId {
        &self.id
    }

    fn read(&mut self) -> Result<Vec<Reading>, DeviceError> {
        let (celsius, humidity) = self.measure()?;
        Ok(vec![
            Reading::new(self.id.clone(), Kind::Temperature, celsius)?,
            Reading::new(self.id.clone(), Kind::Humidity, humidity)?,
        ])
    }
}

//! [`SoilMoisture`]: a capacitive soil-moisture probe through an ADS1115 ADC.

use ads1x1x::{Ads1x1x, FullScaleRange, channel, ic, mode};
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::{DeviceError, ErrorKind, Kind, Reading, Sensor, SensorId};

pub use ads1x1x::TargetAddr as AdcAddress;

/// How a probe's raw counts map to moisture: the reading in dry air (0 %) and in water
/// (100 %). Capacitive probes read lower the wetter the soil; either order works.
///
/// Calibrate once per probe: read it held in air, then with its sensing part in a
/// glass of water.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Calibration {
    /// Raw counts in dry air.
    pub dry: i16,
    /// Raw counts in water.
    pub wet: i16,
}

impl Calibration {
    /// How far past either end of the calibration (in percent) a reading is still
    /// taken, clamped and with lowered quality; further, it is out of range.
    pub const SLACK_PERCENT: f64 = 10.0;

    /// The moisture, in percent, of `raw` counts, and the reading's quality: 1 within
    /// the calibration, falling to 0 at [`SLACK_PERCENT`](Self::SLACK_PERCENT) past it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfRange`] when `raw` is further past the calibration.
    pub fn percent(&self, sensor: &SensorId, raw: i16) -> Result<(f64, f64), DeviceError> {
        self.shifted_percent(sensor, raw, 0.0)
    }

    /// As [`percent`](Self::percent), with every reading `shift` percent wetter
    /// (drier when negative) before the ends are checked: a probe whose drift has
    /// been measured.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfRange`] when the shifted reading is further past the
    /// calibration than [`SLACK_PERCENT`](Self::SLACK_PERCENT).
    pub fn shifted_percent(
        &self,
        sensor: &SensorId,
        raw: i16,
        shift: f64,
    ) -> Result<(f64, f64), DeviceError> {
        let span = f64::from(self.dry) - f64::from(self.wet);
        let percent = (f64::from(self.dry) - f64::from(raw)) / span * 100.0 + shift;
        let past = if percent < 0.0 {
            -percent
        } else {
            (percent - 100.0).max(0.0)
        };
        if past > Self::SLACK_PERCENT {
            return Err(DeviceError::new(
                ErrorKind::OutOfRange,
                sensor.as_str(),
                format!(
                    "raw {raw} is {percent:.0} %, outside the calibration (dry {}, wet {})",
                    self.dry, self.wet
                ),
            ));
        }
        Ok((percent.clamp(0.0, 100.0), 1.0 - past / Self::SLACK_PERCENT))
    }
}

/// A probe's [`Calibration`] and a shift of its readings, shared: whoever holds a clone
/// can correct the probe while it is in use — a person recalibrating it (a new
/// calibration, no shift), or a controller that has measured how far the probe drifted
/// (a shift, in percent, of every reading). Cheap to clone; every clone sees the same.
///
/// # Examples
///
/// ```
/// use plantos_hal::{Calibration, SharedCalibration};
///
/// let shared = SharedCalibration::new(Calibration { dry: 19_200, wet: 3_200 });
/// // The probe reads 5 % too dry: shift its readings 5 % wetter.
/// assert_eq!(shared.shift(5.0), 5.0);
/// assert_eq!(shared.shift(-1.5), 3.5);
/// // A person recalibrates it: the shift is gone.
/// shared.set(Calibration { dry: 20_000, wet: 3_900 });
/// assert_eq!(shared.shifted(), 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct SharedCalibration(std::sync::Arc<parking_lot::Mutex<(Calibration, f64)>>);

impl SharedCalibration {
    /// Shares `calibration`, unshifted.
    #[must_use]
    pub fn new(calibration: Calibration) -> Self {
        SharedCalibration(std::sync::Arc::new(parking_lot::Mutex::new((
            calibration,
            0.0,
        ))))
    }

    /// The calibration now (without the shift).
    #[must_use]
    pub fn get(&self) -> Calibration {
        self.0.lock().0
    }

    /// How far every reading is shifted now, percent (wetter when positive).
    #[must_use]
    pub fn shifted(&self) -> f64 {
        self.0.lock().1
    }

    /// Replaces the calibration and clears the shift: a probe recalibrated by hand. A
    /// calibration whose ends are equal is ignored.
    pub fn set(&self, calibration: Calibration) {
        if calibration.dry != calibration.wet {
            *self.0.lock() = (calibration, 0.0);
        }
    }

    /// Shifts every reading `percent` further (wetter when positive; a non-finite
    /// `percent` is ignored). Returns the whole shift now.
    pub fn shift(&self, percent: f64) -> f64 {
        let mut shared = self.0.lock();
        if percent.is_finite() {
            shared.1 += percent;
        }
        shared.1
    }

    /// The moisture and quality of `raw`, through the calibration and the shift.
    fn percent(&self, sensor: &SensorId, raw: i16) -> Result<(f64, f64), DeviceError> {
        let (calibration, shift) = *self.0.lock();
        calibration.shifted_percent(sensor, raw, shift)
    }
}

type Adc<I2C> = Ads1x1x<I2C, ic::Ads1115, ic::Resolution16Bit, mode::OneShot>;

/// A capacitive soil-moisture probe on one input of an ADS1115, read one shot at a
/// time with a ±4.096 V range (a probe powered at 3.3 V).
///
/// A conversion that does not finish within `max_polls` polls (a stalled chip) is an
/// [`ErrorKind::Stalled`] error; bus errors map to [`ErrorKind::Bus`] or
/// [`ErrorKind::Disconnected`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use plantos_hal::sim::{FakeAds1115, NoDelay, SimBus};
/// use plantos_hal::{AdcAddress, Calibration, Sensor, SoilMoisture};
///
/// # fn main() -> Result<(), plantos_hal::DeviceError> {
/// let bus = SimBus::new();
/// // 1.4 V on input 0: half way between dry (2.4 V) and wet (0.4 V).
/// bus.attach(0x48, FakeAds1115::new([
///     Arc::new(|| 1.4), Arc::new(|| 0.0), Arc::new(|| 0.0), Arc::new(|| 0.0),
/// ]));
/// let calibration = Calibration { dry: 19_200, wet: 3_200 }; // 2.4 V and 0.4 V
/// let mut soil = SoilMoisture::new("soil-1", bus, AdcAddress::default(), 0, calibration, NoDelay)?;
/// let reading = soil.read()?.remove(0);
/// assert!((reading.value - 50.0).abs() < 0.1);
/// # Ok(())
/// # }
/// ```
pub struct SoilMoisture<I2C, D> {
    id: SensorId,
    adc: Adc<I2C>,
    channel: u8,
    calibration: SharedCalibration,
    delay: D,
    max_polls: u32,
}

impl<I2C, D> std::fmt::Debug for SoilMoisture<I2C, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoilMoisture")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("calibration", &self.calibration)
            .finish_non_exhaustive()
    }
}

/// Polls of a conversion before it counts as stalled unless set: 50 (at 128 samples a
/// second a conversion takes about 8 ms; the polls are 1 ms apart).
pub const DEFAULT_MAX_POLLS: u32 = 50;

impl<I2C: I2c, D: DelayNs> SoilMoisture<I2C, D> {
    /// A probe on input `channel` (0 to 3) of the ADS1115 at `address` on `i2c`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfRange`] for a channel above 3 or a calibration whose ends are
    /// equal; a bus error setting the range.
    pub fn new(
        id: impl Into<SensorId>,
        i2c: I2C,
        address: AdcAddress,
        channel: u8,
        calibration: Calibration,
        delay: D,
    ) -> Result<Self, DeviceError> {
        let id = id.into();
        if channel > 3 {
            return Err(DeviceError::new(
                ErrorKind::OutOfRange,
                id.as_str(),
                format!("channel = {channel}: the ADS1115 has inputs 0 to 3"),
            ));
        }
        if calibration.dry == calibration.wet {
            return Err(DeviceError::new(
                ErrorKind::OutOfRange,
                id.as_str(),
                format!(
                    "calibration dry = wet = {}: the ends must differ",
                    calibration.dry
                ),
            ));
        }
        let mut adc = Ads1x1x::new_ads1115(i2c, address);
        adc.set_full_scale_range(FullScaleRange::Within4_096V)
            .map_err(|error| adc_error(&id, error))?;
        Ok(SoilMoisture {
            id,
            adc,
            channel,
            calibration: SharedCalibration::new(calibration),
            delay,
            max_polls: DEFAULT_MAX_POLLS,
        })
    }

    /// The probe's calibration, shared: set it or shift its readings (through any
    /// clone) to recalibrate the probe while it is in use.
    #[must_use]
    pub fn calibration(&self) -> SharedCalibration {
        self.calibration.clone()
    }

    /// Polls a conversion at most `max_polls` times. Default: [`DEFAULT_MAX_POLLS`].
    #[must_use]
    pub fn max_polls(mut self, max_polls: u32) -> Self {
        self.max_polls = max_polls.max(1);
        self
    }

    /// One raw conversion.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Stalled`] when the conversion does not finish; bus errors.
    pub fn read_raw(&mut self) -> Result<i16, DeviceError> {
        for _ in 0..self.max_polls {
            let attempt = match self.channel {
                0 => self.adc.read(channel::SingleA0),
                1 => self.adc.read(channel::SingleA1),
                2 => self.adc.read(channel::SingleA2),
                _ => self.adc.read(channel::SingleA3),
            };
            match attempt {
                Ok(raw) => return Ok(raw),
                Err(nb::Error::WouldBlock) => self.delay.delay_ms(1),
                Err(nb::Error::Other(error)) => return Err(adc_error(&self.id, error)),
            }
        }
        Err(DeviceError::new(
            ErrorKind::Stalled,
            self.id.as_str(),
            format!("no conversion after {} polls", self.max_polls),
        ))
    }

    /// The bus, taken back.
    pub fn destroy(self) -> I2C {
        self.adc.destroy_ads1115()
    }
}

impl<I2C, D> Sensor for SoilMoisture<I2C, D>
where
    I2C: I2c + Send,
    D: DelayNs + Send,
{
    fn id(&self) -> &SensorId {
        &self.id
    }

    fn read(&mut self) -> Result<Vec<Reading>, DeviceError> {
        let raw = self.read_raw()?;
        let (percent, quality) = self.calibration.percent(&self.id, raw)?;
        Ok(vec![
            Reading::new(self.id.clone(), Kind::Moisture, percent)?.with_quality(quality),
        ])
    }
}

fn adc_error<E: embedded_hal::i2c::Error>(id: &SensorId, error: ads1x1x::Error<E>) -> DeviceError {
    match error {
        ads1x1x::Error::I2C(error) => DeviceError::i2c(id.as_str(), &error),
        ads1x1x::Error::InvalidInputData => {
            DeviceError::new(ErrorKind::Other, id.as_str(), "the ADC refused the input")
        }
    }
}

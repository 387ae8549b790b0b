//! The domain: identifiers, readings, volumes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::{DeviceError, ErrorKind};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
        pub struct $name(Arc<str>);

        impl $name {
            /// The identifier as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.into())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id.into())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id!(
    /// A plant: `"basil"`, `"fern-2"`.
    PlantId
);
id!(
    /// A sensor: `"soil-1"`, `"climate"`.
    SensorId
);
id!(
    /// A pump or valve: `"pump-1"`.
    PumpId
);

/// What a reading measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Kind {
    /// Soil moisture, percent of the way from dry to wet calibration.
    Moisture,
    /// Air temperature, degrees Celsius.
    Temperature,
    /// Relative humidity, percent.
    Humidity,
    /// Illuminance, lux.
    Light,
}

impl Kind {
    /// The unit its values are in.
    #[must_use]
    pub fn unit(self) -> Unit {
        match self {
            Kind::Moisture | Kind::Humidity => Unit::Percent,
            Kind::Temperature => Unit::Celsius,
            Kind::Light => Unit::Lux,
        }
    }

    /// The range a plausible value of this kind lies in; outside it, a device is
    /// broken, not the world.
    #[must_use]
    pub fn plausible(self) -> std::ops::RangeInclusive<f64> {
        match self {
            Kind::Moisture | Kind::Humidity => 0.0..=100.0,
            Kind::Temperature => -40.0..=85.0,
            Kind::Light => 0.0..=120_000.0,
        }
    }
}

/// A unit of measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Unit {
    /// Percent.
    Percent,
    /// Degrees Celsius.
    Celsius,
    /// Lux.
    Lux,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Percent => "%",
            Unit::Celsius => "°C",
            Unit::Lux => "lx",
        })
    }
}

/// One measurement of one sensor.
///
/// `quality` (within `0..=1`) says how far to trust it: 1 for a fresh reading from a
/// calibrated sensor, lower for a reading near the edge of the calibration, from a
/// backup sensor or served stale. A controller should not act on a low-quality reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The sensor that measured it.
    pub sensor: SensorId,
    /// What it measures.
    pub kind: Kind,
    /// The value, in `unit`.
    pub value: f64,
    /// The unit of `value`.
    pub unit: Unit,
    /// When it was measured (Tokio's clock).
    pub at: Instant,
    /// How far to trust it, within `0..=1`.
    pub quality: f64,
}

impl Reading {
    /// A reading of `kind` from `sensor`, measured now, with full quality.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfRange`] for a value that is not finite or not plausible for
    /// its kind ([`Kind::plausible`]).
    pub fn new(sensor: SensorId, kind: Kind, value: f64) -> Result<Self, DeviceError> {
        if !value.is_finite() || !kind.plausible().contains(&value) {
            return Err(DeviceError::new(
                ErrorKind::OutOfRange,
                sensor.as_str(),
                format!("{kind:?} = {value}: outside {:?}", kind.plausible()),
            ));
        }
        Ok(Reading {
            sensor,
            kind,
            value,
            unit: kind.unit(),
            at: Instant::now(),
            quality: 1.0,
        })
    }

    /// The same reading with `quality` (clamped into `0..=1`; NaN becomes 0).
    #[must_use]
    pub fn with_quality(self, quality: f64) -> Self {
        let quality = if quality.is_nan() {
            0.0
        } else {
            quality.clamp(0.0, 1.0)
        };
        Reading { quality, ..self }
    }

    /// How old the reading is.
    #[must_use]
    pub fn age(&self) -> Duration {
        self.at.elapsed()
    }
}

/// The most one dispense may deliver: 2 litres. A larger request is a mistake, never
/// a watering.
pub const MAX_DISPENSE: Millilitres = Millilitres(2_000);

/// A volume of water to dispense, in whole millilitres: more than zero and at most
/// [`MAX_DISPENSE`], checked when made.
///
/// # Examples
///
/// ```
/// use plantos_hal::Millilitres;
///
/// assert_eq!(Millilitres::new(250)?.get(), 250);
/// assert!(Millilitres::new(0).is_err());
/// assert_eq!(
///     Millilitres::new(5_000).unwrap_err().to_string(),
///     "dispense: out of range: 5000 ml: more than the 2000 ml one dispense may deliver",
/// );
/// # Ok::<(), plantos_hal::DeviceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct Millilitres(u32);

impl Millilitres {
    /// `ml` millilitres.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutOfRange`] for zero or more than [`MAX_DISPENSE`].
    pub fn new(ml: u32) -> Result<Self, DeviceError> {
        if ml == 0 {
            return Err(DeviceError::new(
                ErrorKind::OutOfRange,
                "dispense",
                "0 ml: must be more than zero",
            ));
        }
        if ml > MAX_DISPENSE.0 {
            return Err(DeviceError::new(
                ErrorKind::OutOfRange,
                "dispense",
                format!(
                    "{ml} ml: more than the {} ml one dispense may deliver",
                    MAX_DISPENSE.0
                ),
            ));
        }
        Ok(Millilitres(ml))
    }

    /// The volume in millilitres.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Millilitres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ml", self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Millilitres {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ml = u32::deserialize(deserializer)?;
        Millilitres::new(ml).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error as _;
    use proptest::prelude::*;

    #[test]
    fn readings_outside_plausible_ranges_are_refused() {
        let soil = SensorId::from("soil-1");
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.1, 100.1] {
            let error = Reading::new(soil.clone(), Kind::Moisture, bad).expect_err("implausible");
            assert_eq!(error.kind(), ErrorKind::OutOfRange, "{bad}");
        }
        assert!(Reading::new(soil.clone(), Kind::Moisture, 0.0).is_ok());
        assert!(Reading::new(soil, Kind::Temperature, -40.0).is_ok());
    }

    #[test]
    fn quality_is_kept_within_bounds() {
        let reading = Reading::new(SensorId::from("s"), Kind::Light, 300.0).expect("valid");
        assert_eq!(reading.clone().with_quality(1.5).quality, 1.0);
        assert_eq!(reading.clone().with_quality(-1.0).quality, 0.0);
        assert_eq!(reading.with_quality(f64::NAN).quality, 0.0);
    }

    proptest! {
        #[test]
        fn millilitres_accepts_exactly_one_to_the_maximum(ml in 0u32..10_000) {
            let made = Millilitres::new(ml);
            prop_assert_eq!(made.is_ok(), (1..=MAX_DISPENSE.get()).contains(&ml));
        }
    }
}

//! The Linux backend (feature `linux`): I2C through `/dev/i2c-N` and relays on GPIO
//! lines found by name through the GPIO character device, as on a Raspberry Pi.
//!
//! Opening a device that is not there is an error naming it — never a silent fallback
//! to the simulation.
//!
//! ```no_run
//! use plantos_hal::linux;
//! use plantos_hal::{AdcAddress, Calibration, Pump, PumpConfig, SoilMoisture};
//!
//! # fn main() -> Result<(), plantos_hal::DeviceError> {
//! let bus = linux::open_i2c("/dev/i2c-1")?;
//! let calibration = Calibration { dry: 19_200, wet: 3_200 };
//! let soil = SoilMoisture::new("soil-1", bus, AdcAddress::default(), 0, calibration, linux::Delay)?;
//! let relay = linux::output_line("GPIO17", "plant-care")?;
//! let pump = Pump::new("pump-1", relay, PumpConfig::default())?;
//! # let _ = (soil, pump);
//! # Ok(())
//! # }
//! ```

use crate::{DeviceError, ErrorKind};

pub use linux_embedded_hal::gpio_cdev;
pub use linux_embedded_hal::{CdevPin, Delay, I2cdev};

/// Opens the I2C bus at `path` (`/dev/i2c-1` on a Raspberry Pi, once I2C is enabled).
///
/// # Errors
///
/// [`ErrorKind::Disconnected`] naming the path when it cannot be opened (missing, or no
/// permission: add the user to the `i2c` group).
pub fn open_i2c(path: &str) -> Result<I2cdev, DeviceError> {
    I2cdev::new(path).map_err(|error| {
        DeviceError::new(
            ErrorKind::Disconnected,
            path,
            format!("cannot open: {error}"),
        )
    })
}

/// Requests the GPIO line named `name` (`"GPIO17"` on a Raspberry Pi) as an output,
/// driven low, for `consumer` (shown by `gpioinfo`), searching every GPIO chip.
///
/// # Errors
///
/// [`ErrorKind::Disconnected`] naming the line when no chip has it, or when it cannot be
/// requested (in use, or no permission: add the user to the `gpio` group).
pub fn output_line(name: &str, consumer: &str) -> Result<CdevPin, DeviceError> {
    let missing = |why: String| DeviceError::new(ErrorKind::Disconnected, name, why);
    let chips = gpio_cdev::chips().map_err(|error| missing(format!("no GPIO chips: {error}")))?;
    for chip in chips {
        let Ok(chip) = chip else { continue };
        for line in chip.lines() {
            let Ok(info) = line.info() else { continue };
            if info.name() != Some(name) {
                continue;
            }
            let handle = line
                .request(gpio_cdev::LineRequestFlags::OUTPUT, 0, consumer)
                .map_err(|error| missing(format!("cannot request the line: {error}")))?;
            return CdevPin::new(handle)
                .map_err(|error| missing(format!("cannot use the line: {error}")));
        }
    }
    Err(missing("no GPIO chip has a line of that name".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error as _;

    #[test]
    fn a_missing_bus_is_an_error_naming_it() {
        let Err(error) = open_i2c("/dev/i2c-does-not-exist") else {
            panic!("opened a bus that does not exist");
        };
        assert_eq!(error.kind(), ErrorKind::Disconnected);
        assert_eq!(error.device(), "/dev/i2c-does-not-exist");
    }

    #[test]
    fn a_missing_line_is_an_error_naming_it() {
        let Err(error) = output_line("NO-SUCH-LINE", "test") else {
            panic!("found a line that does not exist");
        };
        assert_eq!(error.kind(), ErrorKind::Disconnected);
        assert_eq!(error.device(), "NO-SUCH-LINE");
    }
}

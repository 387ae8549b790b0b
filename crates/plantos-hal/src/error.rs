//! Errors in the manner of embedded-hal: [`Error`] with [`Error::kind`] →
//! [`ErrorKind`], so resilience layers can tell transient faults from permanent ones.

use std::fmt;

/// What went wrong with a device, in terms a resilience layer can act on.
///
/// [`is_transient`](ErrorKind::is_transient) says whether trying again may help
/// (a timeout, a bus glitch, a stalled or disconnected device) or not (a value out of
/// range, a safety rule refusing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The device does not answer at all: unplugged, powered off, wrong address.
    Disconnected,
    /// The device did not answer in time.
    Timeout,
    /// The bus failed: a NACK, arbitration lost, a bad checksum.
    Bus,
    /// The device answered with a value outside what it can measure.
    OutOfRange,
    /// The device hangs: a conversion that never finishes.
    Stalled,
    /// A safety rule refused the action: a pump's cooldown, daily budget, run-time
    /// limit or an empty tank.
    Refused,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Whether trying again may help.
    #[must_use]
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Disconnected | ErrorKind::Timeout | ErrorKind::Bus | ErrorKind::Stalled
        )
    }

    /// The kind as a lowercase word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Bus => "bus",
            ErrorKind::OutOfRange => "out of range",
            ErrorKind::Stalled => "stalled",
            ErrorKind::Refused => "refused",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of a plant-care device: what kind, which device, and what happened.
pub trait Error: std::error::Error {
    /// The kind of error.
    fn kind(&self) -> ErrorKind;
}

/// The error of every device in this crate.
///
/// # Examples
///
/// ```
/// use plantos_hal::{DeviceError, Error, ErrorKind};
///
/// let error = DeviceError::new(ErrorKind::Bus, "soil-1", "NACK at 0x48");
/// assert_eq!(error.kind(), ErrorKind::Bus);
/// assert!(error.kind().is_transient());
/// assert_eq!(error.to_string(), "soil-1: bus: NACK at 0x48");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceError {
    kind: ErrorKind,
    device: String,
    message: String,
}

impl DeviceError {
    /// An error of `kind` on `device`, with what happened.
    pub fn new(kind: ErrorKind, device: impl Into<String>, message: impl Into<String>) -> Self {
        DeviceError {
            kind,
            device: device.into(),
            message: message.into(),
        }
    }

    /// The device the error is about.
    #[must_use]
    pub fn device(&self) -> &str {
        &self.device
    }

    /// What happened.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An I2C bus error, by its embedded-hal kind.
    pub(crate) fn i2c(device: &str, error: &impl embedded_hal::i2c::Error) -> Self {
        use embedded_hal::i2c::{ErrorKind as I2c, NoAcknowledgeSource};
        let kind = match error.kind() {
            I2c::NoAcknowledge(NoAcknowledgeSource::Address) => ErrorKind::Disconnected,
            I2c::NoAcknowledge(_) | I2c::Bus | I2c::ArbitrationLoss | I2c::Overrun => {
                ErrorKind::Bus
            }
            _ => ErrorKind::Other,
        };
        DeviceError::new(kind, device, format!("i2c: {error:?}"))
    }

    /// A GPIO error.
    pub(crate) fn pin(device: &str, error: &impl embedded_hal::digital::Error) -> Self {
        DeviceError::new(ErrorKind::Bus, device, format!("gpio: {error:?}"))
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.device, self.kind, self.message)
    }
}

impl std::error::Error for DeviceError {}

impl Error for DeviceError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl hardy_core::AsRejection for DeviceError {}

/// Classifies device results for hardy's layers: `Ok` is a success; a transient
/// device error a retryable failure; any other device error a permanent failure; a
/// rejection from a layer inside is ignored (as the default classifier does).
///
/// # Examples
///
/// ```
/// use hardy_core::{Classify, Error, Outcome, Retryability};
/// use plantos_hal::{DeviceClassifier, DeviceError, ErrorKind};
///
/// let stalled: Result<(), Error<DeviceError>> =
///     Err(Error::Inner(DeviceError::new(ErrorKind::Stalled, "soil-1", "no conversion")));
/// assert_eq!(DeviceClassifier.classify(&stalled), Outcome::Failure(Retryability::Retryable));
/// let refused: Result<(), Error<DeviceError>> =
///     Err(Error::Inner(DeviceError::new(ErrorKind::Refused, "pump-1", "cooldown")));
/// assert_eq!(DeviceClassifier.classify(&refused), Outcome::Failure(Retryability::Permanent));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceClassifier;

impl<T> hardy_core::Classify<T, hardy_core::Error<DeviceError>> for DeviceClassifier {
    fn classify(&self, result: &Result<T, hardy_core::Error<DeviceError>>) -> hardy_core::Outcome {
        use hardy_core::{Outcome, Retryability};
        match result {
            Ok(_) => Outcome::Success,
            Err(hardy_core::Error::Inner(error)) if error.kind().is_transient() => {
                Outcome::Failure(Retryability::Retryable)
            }
            Err(hardy_core::Error::Inner(_)) => Outcome::Failure(Retryability::Permanent),
            Err(hardy_core::Error::Rejected(rejection)) => {
                hardy_core::DefaultClassifier.classify(&Err::<(), _>(rejection.clone()))
            }
        }
    }
}

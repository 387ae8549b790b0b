//! [`CheckConfig`]: how a check is run.

use std::time::Duration;

use hardy_core::{ConfigError, Validate};

use crate::Probes;

/// How long one run of a check may take unless set: 5 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a check runs, and how long its result is fresh, unless set: 30 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The share of the interval by which each background run is moved at random, unless
/// set: 0.1.
pub const DEFAULT_JITTER: f64 = 0.1;
/// Failures in a row that make a check unhealthy unless set: 3.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// Successes in a row that make an unhealthy (or unknown) check healthy unless set: 1.
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;

pub(crate) const COMPONENT: &str = "health check";

/// How a check is run and judged.
///
/// A run that takes longer than `timeout`, panics or returns unhealthy is a failure;
/// `failure_threshold` failures in a row make the check unhealthy, and
/// `success_threshold` successes in a row (healthy or degraded) make an unhealthy or
/// not yet known check serve again. A result stays fresh for `interval`: probes within
/// it read the cached result and never run the check again.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_health::{CheckConfig, Probes};
///
/// let sensor_bus = CheckConfig {
///     timeout: Duration::from_secs(1),
///     interval: Duration::from_secs(10),
///     failure_threshold: 2,
///     probes: Probes::READINESS,
///     ..CheckConfig::default()
/// };
/// assert!(sensor_bus.validate("i2c-1").is_ok());
/// let bad = CheckConfig { jitter: 1.5, ..CheckConfig::default() };
/// assert_eq!(
///     bad.validate("i2c-1").unwrap_err().to_string(),
///     "health check \"i2c-1\": jitter = 1.5: must be within 0..=1",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct CheckConfig {
    /// How long one run may take; a run that takes longer is a failure.
    ///
    /// Default: [`DEFAULT_TIMEOUT`] (5 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub timeout: Duration,
    /// How often the background checker runs the check, and how long a result is
    /// fresh for probes.
    ///
    /// Default: [`DEFAULT_INTERVAL`] (30 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub interval: Duration,
    /// The share of `interval`, within `0..=1`, by which each background run moves at
    /// random (either way), so that many checks do not all run at once.
    ///
    /// Default: [`DEFAULT_JITTER`] (0.1).
    pub jitter: f64,
    /// Failures in a row that make the check unhealthy, at least 1.
    ///
    /// Default: [`DEFAULT_FAILURE_THRESHOLD`] (3).
    pub failure_threshold: u32,
    /// Successes in a row that make an unhealthy or unknown check serve again, at
    /// least 1.
    ///
    /// Default: [`DEFAULT_SUCCESS_THRESHOLD`] (1).
    pub success_threshold: u32,
    /// The probes the check takes part in.
    ///
    /// Default: readiness only.
    pub probes: Probes,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            timeout: DEFAULT_TIMEOUT,
            interval: DEFAULT_INTERVAL,
            jitter: DEFAULT_JITTER,
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            success_threshold: DEFAULT_SUCCESS_THRESHOLD,
            probes: Probes::default(),
        }
    }
}

impl CheckConfig {
    /// Checks every setting; the error names the check `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.non_zero_duration("timeout", self.timeout)?;
        check.non_zero_duration("interval", self.interval)?;
        check.ratio("jitter", self.jitter)?;
        check.non_zero("failure_threshold", self.failure_threshold)?;
        check.non_zero("success_threshold", self.success_threshold)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(config: CheckConfig) -> String {
        config.validate("c").unwrap_err().to_string()
    }

    #[test]
    fn every_rule_rejects_its_bad_value() {
        let base = CheckConfig::default;
        assert_eq!(
            error(CheckConfig {
                timeout: Duration::ZERO,
                ..base()
            }),
            "health check \"c\": timeout = 0ns: must be greater than zero"
        );
        assert_eq!(
            error(CheckConfig {
                interval: Duration::ZERO,
                ..base()
            }),
            "health check \"c\": interval = 0ns: must be greater than zero"
        );
        assert_eq!(
            error(CheckConfig {
                jitter: -0.1,
                ..base()
            }),
            "health check \"c\": jitter = -0.1: must be within 0..=1"
        );
        assert_eq!(
            error(CheckConfig {
                jitter: f64::NAN,
                ..base()
            }),
            "health check \"c\": jitter = NaN: must be within 0..=1"
        );
        assert_eq!(
            error(CheckConfig {
                failure_threshold: 0,
                ..base()
            }),
            "health check \"c\": failure_threshold = 0: must be greater than zero"
        );
        assert_eq!(
            error(CheckConfig {
                success_threshold: 0,
                ..base()
            }),
            "health check \"c\": success_threshold = 0: must be greater than zero"
        );
        assert!(base().validate("c").is_ok());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn reads_from_toml() {
        let config: CheckConfig = toml::from_str(
            r#"
            timeout = "2s"
            interval = "1m"
            failure_threshold = 2
            probes = { liveness = true }
            "#,
        )
        .expect("valid");
        assert_eq!(config.interval, Duration::from_secs(60));
        assert!(config.probes.liveness && config.probes.readiness);
        assert!(toml::from_str::<CheckConfig>("retries = 3").is_err());
    }
}

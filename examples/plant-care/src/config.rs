//! The controller's configuration: the garden and the policies, from one TOML file,
//! validated at start with every error listed.

use std::time::Duration;

use hardy_breaker::BreakerConfig;
use hardy_bulkhead::BulkheadConfig;
use hardy_fallback::LastKnownGoodConfig;
use hardy_rate_limit::RateLimitConfig;
use hardy_retry::{Backoff, RetryConfig};
use plantos_hal::{Calibration, MAX_DISPENSE, PumpConfig};
use serde::Deserialize;

/// Everything the controller needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the hardware is: `sim` (the default) or `linux`.
    pub backend: Backend,
    /// The seed of the simulated garden and its faults.
    pub seed: u64,
    /// How often every plant's sensors are read.
    #[serde(with = "hardy_core::duration")]
    pub read_every: Duration,
    /// The HTTP server.
    pub server: Server,
    /// The plants.
    pub plants: Vec<Plant>,
    /// How every read and every watering is protected.
    pub policies: Policies,
}

/// Where the hardware is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The simulated garden.
    Sim,
    /// A Raspberry Pi (the binary must be built with `--features linux`).
    Linux,
}

/// The HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// The address to listen on.
    pub listen: String,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "127.0.0.1:8080".to_string(),
        }
    }
}

/// One plant: its probe, its pump, and how it likes its soil.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    /// The plant's name.
    pub id: String,
    /// Water when the soil is drier than this, in percent.
    pub min_moisture: f64,
    /// Never water when the soil is wetter than this, in percent; the range
    /// `min_moisture..=max_moisture` is where the plant is happy.
    pub max_moisture: f64,
    /// Millilitres per watering, at 20 °C (more when warmer, less when cooler).
    pub dose_ml: u32,
    /// The probe's calibration.
    #[serde(default = "default_calibration")]
    pub calibration: Calibration,
    /// ADS1115 input of the probe (0 to 3).
    #[serde(default)]
    pub channel: u8,
    /// A second probe in the same pot, read when the first fails (input `channel + 1`
    /// on a Pi; its own chip in the simulation).
    #[serde(default)]
    pub backup_probe: bool,
    /// The pump's GPIO line on a Pi, e.g. `"GPIO17"`.
    #[serde(default)]
    pub pump_line: Option<String>,
    /// The pump's calibration and safety rules.
    #[serde(default)]
    pub pump: PumpConfig,
}

fn default_calibration() -> Calibration {
    Calibration {
        dry: 19_200,
        wet: 3_200,
    }
}

/// How every read and every watering is protected.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policies {
    /// The timeout of each read attempt.
    #[serde(with = "hardy_core::duration")]
    pub read_timeout: Duration,
    /// Retries of reads (transient errors only).
    pub read_retry: RetryConfig,
    /// The breaker of each sensor and each pump.
    pub breaker: BreakerConfig,
    /// The sensor partition of the bus: reads at once.
    pub sensor_bulkhead: BulkheadConfig,
    /// The last good reading served when a read fails.
    pub last_good: LastKnownGoodConfig,
    /// Readings below this quality never trigger watering.
    pub min_quality: f64,
    /// Waterings per plant: the safety limit.
    pub water_limit: RateLimitConfig,
    /// The actuator bulkhead: one pump at a time.
    pub actuator_bulkhead: BulkheadConfig,
    /// The timeout of a watering.
    #[serde(with = "hardy_core::duration")]
    pub water_timeout: Duration,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            read_timeout: Duration::from_secs(2),
            read_retry: RetryConfig {
                max_attempts: 3,
                backoff: Backoff::Constant {
                    delay: Duration::from_millis(200),
                },
                total_budget: Some(Duration::from_secs(10)),
                // Retries are budgeted: a dead probe cannot make every read three.
                budget: Some(hardy_retry::RetryBudgetConfig::default()),
                ..RetryConfig::default()
            },
            breaker: BreakerConfig {
                consecutive_failures: 5,
                open_for: Duration::from_secs(300),
                ..BreakerConfig::default()
            },
            sensor_bulkhead: BulkheadConfig {
                max_concurrent: 4,
                max_waiting: 16,
                max_wait: Duration::from_secs(5),
            },
            last_good: LastKnownGoodConfig {
                max_staleness: Duration::from_secs(2 * 3600),
                ..LastKnownGoodConfig::default()
            },
            min_quality: 0.6,
            water_limit: RateLimitConfig {
                limit: 4,
                period: Duration::from_secs(24 * 3600),
                burst: Some(1),
                ..RateLimitConfig::default()
            },
            actuator_bulkhead: BulkheadConfig {
                max_concurrent: 1,
                max_waiting: 8,
                max_wait: Duration::from_secs(300),
            },
            water_timeout: Duration::from_secs(120),
        }
    }
}

impl Default for Config {
    /// The built-in garden: three simulated plants with their own tastes.
    fn default() -> Self {
        let plant = |id: &str, min, max, dose_ml| Plant {
            id: id.to_string(),
            min_moisture: min,
            max_moisture: max,
            dose_ml,
            calibration: default_calibration(),
            channel: 0,
            backup_probe: true,
            pump_line: None,
            pump: PumpConfig::default(),
        };
        Config {
            backend: Backend::Sim,
            seed: 1,
            read_every: Duration::from_secs(600),
            server: Server::default(),
            plants: vec![
                plant("basil", 40.0, 80.0, 250),
                plant("fern", 50.0, 85.0, 200),
                plant("cactus", 15.0, 60.0, 150),
            ],
            policies: Policies::default(),
        }
    }
}

impl Config {
    /// Reads a config from TOML; missing settings take their defaults.
    ///
    /// # Errors
    ///
    /// The TOML error, with where it is.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    /// Checks everything, listing every error (not only the first).
    ///
    /// # Errors
    ///
    /// Every problem found, one a line.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let mut check = |result: Result<(), hardy_core::ConfigError>| {
            if let Err(error) = result {
                errors.push(error.to_string());
            }
        };
        let policies = &self.policies;
        check(policies.read_retry.validate("read"));
        check(policies.breaker.validate("sensor"));
        check(policies.sensor_bulkhead.validate("sensors"));
        check(policies.last_good.validate("readings"));
        check(policies.water_limit.validate("waterings"));
        check(policies.actuator_bulkhead.validate("actuators"));
        for plant in &self.plants {
            check(plant.pump.validate(&plant.id));
        }
        if self.read_every.is_zero() {
            errors.push("read_every = 0ns: must be greater than zero".to_string());
        }
        if policies.read_timeout.is_zero() {
            errors.push("policies.read_timeout = 0ns: must be greater than zero".to_string());
        }
        if policies.water_timeout.is_zero() {
            errors.push("policies.water_timeout = 0ns: must be greater than zero".to_string());
        }
        if !(0.0..=1.0).contains(&policies.min_quality) {
            errors.push(format!(
                "policies.min_quality = {}: must be within 0..=1",
                policies.min_quality
            ));
        }
        if self.plants.is_empty() {
            errors.push("plants: at least one plant is needed".to_string());
        }
        let mut seen = std::collections::BTreeSet::new();
        for plant in &self.plants {
            let at = format!("plant \"{}\"", plant.id);
            if !seen.insert(&plant.id) {
                errors.push(format!("{at}: id given twice"));
            }
            if !(0.0..=100.0).contains(&plant.min_moisture)
                || !(0.0..=100.0).contains(&plant.max_moisture)
                || plant.min_moisture >= plant.max_moisture
            {
                errors.push(format!(
                    "{at}: min_moisture = {}, max_moisture = {}: need 0 <= min < max <= 100",
                    plant.min_moisture, plant.max_moisture
                ));
            }
            if plant.dose_ml == 0 || plant.dose_ml > MAX_DISPENSE.get() {
                errors.push(format!(
                    "{at}: dose_ml = {}: must be within 1..={}",
                    plant.dose_ml,
                    MAX_DISPENSE.get()
                ));
            }
            if plant.calibration.dry == plant.calibration.wet {
                errors.push(format!("{at}: calibration dry = wet: the ends must differ"));
            }
            if plant.channel > 3
                || (plant.backup_probe && self.backend == Backend::Linux && plant.channel > 2)
            {
                errors.push(format!(
                    "{at}: channel = {}: inputs are 0 to 3 (the backup takes the next)",
                    plant.channel
                ));
            }
            if self.backend == Backend::Linux && plant.pump_line.is_none() {
                errors.push(format!("{at}: pump_line: needed with the linux backend"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_garden_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn every_error_is_listed() {
        let config = Config::from_toml(
            r#"
            read_every = "0s"
            [policies]
            min_quality = 2.0
            [policies.breaker]
            failure_ratio = 1.5
            [[plants]]
            id = "basil"
            min_moisture = 70
            max_moisture = 40
            dose_ml = 0
            [[plants]]
            id = "basil"
            min_moisture = 10
            max_moisture = 40
            dose_ml = 100
            pump = { flow_ml_per_s = 0.0 }
            "#,
        )
        .expect("parses");
        let errors = config.validate().expect_err("invalid");
        assert_eq!(
            errors,
            [
                "breaker \"sensor\": failure_ratio = 1.5: must be within 0..=1",
                "pump \"basil\": flow_ml_per_s = 0.0: must be a finite number greater than zero",
                "read_every = 0ns: must be greater than zero",
                "policies.min_quality = 2: must be within 0..=1",
                "plant \"basil\": min_moisture = 70, max_moisture = 40: need 0 <= min < max <= 100",
                "plant \"basil\": dose_ml = 0: must be within 1..=2000",
                "plant \"basil\": id given twice",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_place() {
        let error = Config::from_toml("[policies]\nretries = 3\n").expect_err("unknown key");
        assert!(error.contains("retries"), "{error}");
        assert!(error.contains("line 2"), "{error}");
    }
}

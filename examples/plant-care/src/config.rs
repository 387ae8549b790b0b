//! The controller's configuration: the garden and the policies, from one TOML file,
//! validated at start with every error listed.

use std::time::Duration;

use hardy::PolicyDocument;
use plantos_hal::{Calibration, MAX_DISPENSE, PumpConfig};
use serde::Deserialize;
use toml::{Table, Value};

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
    /// Readings below this quality never trigger watering.
    pub min_quality: f64,
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

/// The built-in policies, in Hardy's policy file format.
pub const BUILT_IN_POLICIES: &str = include_str!("policies.toml");

/// How every read and every watering is protected: the `[policies]` section, a Hardy
/// policy document laid over [`BUILT_IN_POLICIES`] setting by setting.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(transparent)]
pub struct Policies {
    overrides: Table,
}

impl Policies {
    /// Sets one setting, `section.entry.key = value`, over the built-in policies (as a
    /// `[policies.<section>.<entry>]` table in the file would).
    pub fn set(&mut self, section: &str, entry: &str, key: &str, value: impl Into<Value>) {
        let table = |value: &mut Value| match value {
            Value::Table(_) => {}
            other => *other = Value::Table(Table::new()),
        };
        let section = self
            .overrides
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()));
        table(section);
        let Value::Table(section) = section else {
            return;
        };
        let entry = section
            .entry(entry)
            .or_insert_with(|| Value::Table(Table::new()));
        table(entry);
        if let Value::Table(entry) = entry {
            entry.insert(key.to_string(), value.into());
        }
    }

    /// The whole document: the built-in policies with the overrides laid over them.
    ///
    /// # Errors
    ///
    /// Every problem, each at its path under `policies.`.
    pub fn document(&self) -> Result<PolicyDocument, Vec<String>> {
        let mut merged: Table = BUILT_IN_POLICIES
            .parse()
            .map_err(|error| vec![format!("built-in policies: {error}")])?;
        overlay(&mut merged, &self.overrides, 0);
        let text = toml::to_string(&merged).map_err(|error| vec![format!("policies: {error}")])?;
        PolicyDocument::from_toml(&text).map_err(under_policies)
    }

    /// The registry of handles the controller's stacks are built from.
    ///
    /// # Errors
    ///
    /// As [`document`](Self::document).
    pub fn registry(&self) -> Result<hardy::Policies, Vec<String>> {
        hardy::Policies::from_document(self.document()?).map_err(under_policies)
    }
}

/// Every problem of the policy document, each at its path under `policies.`.
fn under_policies(errors: hardy::PolicyErrors) -> Vec<String> {
    errors
        .problems()
        .iter()
        .map(|problem| format!("policies.{problem}"))
        .collect()
}

/// Lays `over` on `base`: sections and entries merge, settings replace.
fn overlay(base: &mut Table, over: &Table, depth: usize) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Table(base)), Value::Table(over)) if depth < 2 => {
                overlay(base, over, depth + 1);
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
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
            min_quality: 0.6,
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
        for plant in &self.plants {
            check(plant.pump.validate(&plant.id));
        }
        if let Err(problems) = self.policies.document() {
            errors.extend(problems);
        }
        if self.read_every.is_zero() {
            errors.push("read_every = 0ns: must be greater than zero".to_string());
        }
        if !(0.0..=1.0).contains(&self.min_quality) {
            errors.push(format!(
                "min_quality = {}: must be within 0..=1",
                self.min_quality
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
    fn the_pi_config_in_deploy_is_valid() {
        let config = Config::from_toml(include_str!("../deploy/plant-care.toml")).expect("parses");
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.backend, Backend::Linux);
    }

    #[test]
    fn every_error_is_listed() {
        let config = Config::from_toml(
            r#"
            read_every = "0s"
            min_quality = 2.0
            [policies.breaker.default]
            failure_ratio = 1.5
            [policies.retry."read:basil"]
            max_attempts = 0
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
                "pump \"basil\": flow_ml_per_s = 0.0: must be a finite number greater than zero",
                "policies.breaker.default.failure_ratio = 1.5: must be within 0..=1",
                "policies.retry.read:basil.max_attempts = 0: must be greater than zero",
                "read_every = 0ns: must be greater than zero",
                "min_quality = 2: must be within 0..=1",
                "plant \"basil\": min_moisture = 70, max_moisture = 40: need 0 <= min < max <= 100",
                "plant \"basil\": dose_ml = 0: must be within 1..=2000",
                "plant \"basil\": id given twice",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_place() {
        let error =
            Config::from_toml("[server]\nlisten = \"x\"\nport = 3\n").expect_err("unknown key");
        assert!(error.contains("port"), "{error}");
        assert!(error.contains("line 3"), "{error}");
        let config = Config::from_toml("[policies.retry.default]\nretries = 3\n").expect("parses");
        let errors = config.validate().expect_err("unknown policy key");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("policies.retry.default.retries: unknown field `retries`"),
            "{errors:?}"
        );
    }

    #[test]
    fn overrides_change_one_setting_and_keep_the_rest() {
        let config = Config::from_toml(
            "[policies.breaker.default]\nopen_for = \"1m\"\n[policies.rate_limit.\"water:basil\"]\nlimit = 2\n",
        )
        .expect("parses");
        let document = config.policies.document().expect("valid");
        let breaker = &document.breaker["default"];
        assert_eq!(breaker.open_for, Duration::from_secs(60));
        assert_eq!(
            breaker.consecutive_failures, 5,
            "kept from the built-in policies"
        );
        let basil = &document.rate_limit["water:basil"];
        assert_eq!(
            (basil.limit, basil.burst),
            (2, Some(1)),
            "over the built-in default"
        );
        assert_eq!(document.rate_limit["default"].limit, 4);
    }

    #[test]
    fn settings_set_in_code_lay_over_the_built_in_policies() {
        let mut policies = Policies::default();
        policies.set("retry", "default", "seed", 7);
        policies.set("breaker", "default", "seed", 7);
        let document = policies.document().expect("valid");
        assert_eq!(document.retry["default"].seed, Some(7));
        assert_eq!(document.retry["default"].max_attempts, 3);
        assert_eq!(document.breaker["default"].seed, Some(7));
    }
}

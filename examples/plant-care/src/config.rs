//! The controller's configuration: the garden and the policies, from one TOML file,
//! validated at start with every error listed.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use plantos_hal::{Calibration, MAX_DISPENSE, PumpConfig};
use serde::Deserialize;

pub use crate::policies::{BUILT_IN_POLICIES, Policies};

/// Everything the controller needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the hardware is: `sim` (the default) or `linux`.
    pub backend: Backend,
    /// The seed of the simulated garden and its faults.
    pub seed: u64,
    /// How often every plant's sensors are read.
    #[serde(with = "hardy::core::duration")]
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
    /// The address to listen on, `IP:port`.
    ///
    /// Default: `127.0.0.1:8080`, this machine only; `0.0.0.0:8080` opens the page and
    /// the endpoints to the whole network.
    pub listen: String,
    /// How long a client may take to send a request's headers, counted from when the
    /// server waits for it: on a new connection, and on a kept-alive connection after
    /// the last response (so it is also how long an idle connection stays open).
    ///
    /// Default: [`DEFAULT_HEADER_TIMEOUT`] (10 s); within [`HEADER_TIMEOUT_RANGE`].
    #[serde(with = "hardy::core::duration")]
    pub header_timeout: Duration,
    /// Connections served at once. When all are taken, the one idle longest (no
    /// request in service) is closed to make way for a new one; when none is idle, the
    /// new one waits.
    ///
    /// Default: [`DEFAULT_MAX_CONNECTIONS`] (32); within [`MAX_CONNECTIONS_RANGE`].
    pub max_connections: usize,
    /// How long requests under way may take to finish at shutdown, after the care loop
    /// has stopped; connections still open then are closed.
    ///
    /// Default: [`DEFAULT_SHUTDOWN_GRACE`] (5 s); at most [`MAX_SHUTDOWN_GRACE`].
    #[serde(with = "hardy::core::duration")]
    pub shutdown_grace: Duration,
}

/// [`Server::header_timeout`] unless set: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The header timeouts allowed: 100 ms to 10 minutes.
pub const HEADER_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(600);
/// [`Server::max_connections`] unless set: 32.
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;
/// The connection caps allowed: 1 to 1,024.
pub const MAX_CONNECTIONS_RANGE: RangeInclusive<usize> = 1..=1_024;
/// [`Server::shutdown_grace`] unless set: 5 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The longest [`Server::shutdown_grace`]: a minute (systemd's stop timeout must be
/// longer).
pub const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "127.0.0.1:8080".to_string(),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl Server {
    /// The address to listen on.
    ///
    /// # Errors
    ///
    /// A message naming `server.listen` and its value when it is not `IP:port`.
    pub fn address(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| {
            format!(
                "server.listen = {:?}: must be an IP address and port, e.g. \"127.0.0.1:8080\"",
                self.listen
            )
        })
    }

    fn problems(&self, errors: &mut Vec<String>) {
        if let Err(error) = self.address() {
            errors.push(error);
        }
        if !HEADER_TIMEOUT_RANGE.contains(&self.header_timeout) {
            errors.push(format!(
                "server.header_timeout = {:?}: must be within {:?}..={:?}",
                self.header_timeout,
                HEADER_TIMEOUT_RANGE.start(),
                HEADER_TIMEOUT_RANGE.end()
            ));
        }
        if !MAX_CONNECTIONS_RANGE.contains(&self.max_connections) {
            errors.push(format!(
                "server.max_connections = {}: must be within {}..={}",
                self.max_connections,
                MAX_CONNECTIONS_RANGE.start(),
                MAX_CONNECTIONS_RANGE.end()
            ));
        }
        if self.shutdown_grace > MAX_SHUTDOWN_GRACE {
            errors.push(format!(
                "server.shutdown_grace = {:?}: must be at most {MAX_SHUTDOWN_GRACE:?}",
                self.shutdown_grace
            ));
        }
    }
}

/// The shortest [`Config::read_every`]: 5 s.
pub const MIN_READ_EVERY: Duration = Duration::from_secs(5);
/// The longest [`Config::read_every`]: a day (a plant left longer unread may die).
pub const MAX_READ_EVERY: Duration = Duration::from_secs(86_400);
/// The most plants one controller cares for.
pub const MAX_PLANTS: usize = 64;
/// The longest plant id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// The most a dose is scaled up in warm air (the controller gives `dose_ml` at 20 °C
/// and up to this much more when warmer): every dose must fit a pump run at this scale.
pub const WARMEST_DOSE_FACTOR: f64 = 1.3;

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
        for plant in &self.plants {
            errors.extend(
                plant
                    .pump
                    .problems(&plant.id)
                    .iter()
                    .map(ToString::to_string),
            );
        }
        if let Err(problems) = self.policies.document() {
            errors.extend(problems);
        }
        if !(MIN_READ_EVERY..=MAX_READ_EVERY).contains(&self.read_every) {
            errors.push(format!(
                "read_every = {:?}: must be within {MIN_READ_EVERY:?}..={MAX_READ_EVERY:?}",
                self.read_every
            ));
        }
        if !(0.0..=1.0).contains(&self.min_quality) {
            errors.push(format!(
                "min_quality = {}: must be within 0..=1",
                self.min_quality
            ));
        }
        self.server.problems(&mut errors);
        if self.plants.is_empty() {
            errors.push("plants: at least one plant is needed".to_string());
        }
        if self.plants.len() > MAX_PLANTS {
            errors.push(format!(
                "plants: {} plants, at most {MAX_PLANTS} can be cared for",
                self.plants.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for plant in &self.plants {
            let at = format!("plant {:?}", plant.id);
            if plant.id.trim().is_empty() {
                errors.push(format!("{at}: id must not be empty"));
            } else if plant.id.chars().count() > MAX_ID_CHARS
                || plant.id.chars().any(char::is_control)
            {
                errors.push(format!(
                    "{at}: id must be at most {MAX_ID_CHARS} characters, none of them control characters"
                ));
            }
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
            } else if plant.pump.problems(&plant.id).is_empty() {
                errors.extend(dose_problem(&at, plant));
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

/// Why `plant`'s dose can never be given by its pump, if it cannot: a run at the
/// warmest scale would pass `max_run`, or one dose would pass the daily budget.
fn dose_problem(at: &str, plant: &Plant) -> Option<String> {
    let warmest = (f64::from(plant.dose_ml) * WARMEST_DOSE_FACTOR).round();
    let seconds = warmest / plant.pump.flow_ml_per_s;
    if seconds > plant.pump.max_run.as_secs_f64() {
        return Some(format!(
            "{at}: dose_ml = {}: up to {warmest} ml in warm air takes {seconds:.1}s at {} ml/s, more than the pump's max_run ({:?})",
            plant.dose_ml, plant.pump.flow_ml_per_s, plant.pump.max_run
        ));
    }
    if warmest > f64::from(plant.pump.daily_budget_ml) {
        return Some(format!(
            "{at}: dose_ml = {}: up to {warmest} ml in warm air, more than the pump's daily_budget_ml ({})",
            plant.dose_ml, plant.pump.daily_budget_ml
        ));
    }
    None
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
        let address = config.server.address().expect("an address");
        assert!(address.ip().is_loopback(), "{address}: this machine only");
    }

    #[test]
    fn the_systemd_unit_stops_by_sigterm_in_time_and_runs_the_failsafe() {
        let unit = include_str!("../deploy/plant-care.service");
        let setting = |key: &str| {
            unit.lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{key} is set"))
        };
        assert_eq!(setting("KillSignal"), "SIGTERM");
        let stop = setting("TimeoutStopSec");
        let stop = Duration::from_secs(
            stop.strip_suffix('s')
                .and_then(|seconds| seconds.parse().ok())
                .expect("seconds"),
        );
        assert!(
            stop > MAX_SHUTDOWN_GRACE + Duration::from_secs(5),
            "{stop:?}: room for the longest shutdown grace"
        );
        assert!(setting("ExecStopPost").ends_with("pumps-off --config /etc/plant-care.toml"));
        assert!(setting("ExecStart").ends_with("run --config /etc/plant-care.toml"));
        assert_eq!(setting("Restart"), "on-failure");
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
                "read_every = 0ns: must be within 5s..=86400s",
                "min_quality = 2: must be within 0..=1",
                "plant \"basil\": min_moisture = 70, max_moisture = 40: need 0 <= min < max <= 100",
                "plant \"basil\": dose_ml = 0: must be within 1..=2000",
                "plant \"basil\": id given twice",
            ]
        );
    }

    #[test]
    fn values_that_cannot_work_are_all_refused_with_their_field() {
        // Each of these passed validation before and failed later: a panic in the pump,
        // an overflow at the second watering, a huge allocation in the simulation, a
        // server that could not bind.
        let mut text = String::from(
            r#"
            read_every = "1ns"
            [server]
            listen = "everywhere"
            header_timeout = "1ns"
            max_connections = 0
            shutdown_grace = "1h"
            [[plants]]
            id = ""
            min_moisture = 10
            max_moisture = 40
            dose_ml = 100
            pump = { flow_ml_per_s = 1e-300, cooldown = "500000000000y", interlock_every = "1ns" }
            [[plants]]
            id = "fern"
            min_moisture = 10
            max_moisture = 40
            dose_ml = 1900
            pump = { max_run = "10s" }
            "#,
        );
        for i in 0..70 {
            text.push_str(&format!(
                "[[plants]]\nid = \"p{i}\"\nmin_moisture = 1\nmax_moisture = 2\ndose_ml = 1\n"
            ));
        }
        let errors = Config::from_toml(&text)
            .expect("parses")
            .validate()
            .expect_err("invalid");
        let expected = [
            "pump \"\": flow_ml_per_s = 1e-300: must be within 0.01..=10000.0",
            "pump \"\": cooldown = 15778800000000000000s: must be within 0ns..=604800s",
            "pump \"\": interlock_every = 1ns: must be within 10ms..=60s",
            "read_every = 1ns: must be within 5s..=86400s",
            "server.listen = \"everywhere\": must be an IP address and port, e.g. \"127.0.0.1:8080\"",
            "server.header_timeout = 1ns: must be within 100ms..=600s",
            "server.max_connections = 0: must be within 1..=1024",
            "server.shutdown_grace = 3600s: must be at most 60s",
            "plants: 72 plants, at most 64 can be cared for",
            "plant \"\": id must not be empty",
            "plant \"fern\": dose_ml = 1900: up to 2470 ml in warm air takes 123.5s at 20 ml/s, more than the pump's max_run (10s)",
        ];
        assert_eq!(errors, expected);
    }

    #[test]
    fn a_dose_past_the_daily_budget_is_refused() {
        let config = Config::from_toml(
            "[[plants]]\nid = \"basil\"\nmin_moisture = 10\nmax_moisture = 40\ndose_ml = 500\npump = { daily_budget_ml = 600 }\n",
        )
        .expect("parses");
        assert_eq!(
            config.validate(),
            Err(vec![
                "plant \"basil\": dose_ml = 500: up to 650 ml in warm air, more than the pump's daily_budget_ml (600)".to_string()
            ])
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
        let breaker = &document.entries::<hardy::breaker::BreakerConfig>()["default"];
        assert_eq!(breaker.open_for, Duration::from_secs(60));
        assert_eq!(
            breaker.consecutive_failures, 5,
            "kept from the built-in policies"
        );
        let basil = &document.entries::<hardy::rate_limit::RateLimitConfig>()["water:basil"];
        assert_eq!(
            (basil.limit, basil.burst),
            (2, Some(1)),
            "over the built-in default"
        );
        assert_eq!(
            document.entries::<hardy::rate_limit::RateLimitConfig>()["default"].limit,
            4
        );
    }

    #[test]
    fn settings_set_in_code_lay_over_the_built_in_policies() {
        let mut policies = Policies::default();
        policies.set("retry", "default", "seed", 7);
        policies.set("breaker", "default", "seed", 7);
        let document = policies.document().expect("valid");
        assert_eq!(
            document.entries::<hardy::retry::RetryConfig>()["default"].seed,
            Some(7)
        );
        assert_eq!(
            document.entries::<hardy::retry::RetryConfig>()["default"].max_attempts,
            3
        );
        assert_eq!(
            document.entries::<hardy::breaker::BreakerConfig>()["default"].seed,
            Some(7)
        );
    }
}

//! The controller's configuration: the garden and the policies, from one TOML file,
//! validated at start with every error listed.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use plantos_hal::{Calibration, MAX_DISPENSE, PumpConfig};
use serde::Deserialize;

pub use crate::policies::{BUILT_IN_POLICIES, Policies};
pub use problem::{ConfigErrors, Problem};

mod problem;

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
    /// A problem naming `server.listen` and its value when it is not `IP:port`.
    pub fn address(&self) -> Result<SocketAddr, Problem> {
        self.listen.parse().map_err(|_| {
            Problem::setting(
                "server.listen",
                format!("{:?}", self.listen),
                "must be an IP address and port, e.g. \"127.0.0.1:8080\"",
            )
        })
    }

    fn problems(&self, problems: &mut Vec<Problem>) {
        if let Err(problem) = self.address() {
            problems.push(problem);
        }
        if !HEADER_TIMEOUT_RANGE.contains(&self.header_timeout) {
            problems.push(Problem::setting(
                "server.header_timeout",
                format!("{:?}", self.header_timeout),
                format!(
                    "must be within {:?}..={:?}",
                    HEADER_TIMEOUT_RANGE.start(),
                    HEADER_TIMEOUT_RANGE.end()
                ),
            ));
        }
        if !MAX_CONNECTIONS_RANGE.contains(&self.max_connections) {
            problems.push(Problem::setting(
                "server.max_connections",
                self.max_connections.to_string(),
                format!(
                    "must be within {}..={}",
                    MAX_CONNECTIONS_RANGE.start(),
                    MAX_CONNECTIONS_RANGE.end()
                ),
            ));
        }
        if self.shutdown_grace > MAX_SHUTDOWN_GRACE {
            problems.push(Problem::setting(
                "server.shutdown_grace",
                format!("{:?}", self.shutdown_grace),
                format!("must be at most {MAX_SHUTDOWN_GRACE:?}"),
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
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks everything, listing every problem (not only the first).
    ///
    /// # Errors
    ///
    /// Every problem found, in the order of the file.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = Vec::new();
        for plant in &self.plants {
            problems.extend(
                plant
                    .pump
                    .problems(&plant.id)
                    .into_iter()
                    .map(Problem::Pump),
            );
        }
        if let Err(errors) = self.policies.document() {
            problems.extend(errors.problems().iter().cloned());
        }
        if !(MIN_READ_EVERY..=MAX_READ_EVERY).contains(&self.read_every) {
            problems.push(Problem::setting(
                "read_every",
                format!("{:?}", self.read_every),
                format!("must be within {MIN_READ_EVERY:?}..={MAX_READ_EVERY:?}"),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_quality) {
            problems.push(Problem::setting(
                "min_quality",
                self.min_quality.to_string(),
                "must be within 0..=1",
            ));
        }
        self.server.problems(&mut problems);
        if self.plants.is_empty() {
            problems.push(Problem::Plants {
                reason: "at least one plant is needed".to_string(),
            });
        }
        if self.plants.len() > MAX_PLANTS {
            problems.push(Problem::Plants {
                reason: format!(
                    "{} plants, at most {MAX_PLANTS} can be cared for",
                    self.plants.len()
                ),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for plant in &self.plants {
            self.plant_problems(plant, &mut problems);
            if !seen.insert(&plant.id) {
                problems.push(Problem::plant(&plant.id, "id", "given twice"));
            }
        }
        ConfigErrors::new(problems).map_or(Ok(()), Err)
    }

    /// The problems of one plant's own settings.
    fn plant_problems(&self, plant: &Plant, problems: &mut Vec<Problem>) {
        let id = &plant.id;
        if id.trim().is_empty() {
            problems.push(Problem::plant(id, "id", "must not be empty"));
        } else if id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
            problems.push(Problem::plant(
                id,
                "id",
                format!(
                    "must be at most {MAX_ID_CHARS} characters, none of them control characters"
                ),
            ));
        }
        let percent = 0.0..=100.0;
        if !percent.contains(&plant.min_moisture) {
            problems.push(Problem::plant_value(
                id,
                "min_moisture",
                plant.min_moisture,
                "must be within 0..=100",
            ));
        } else if !percent.contains(&plant.max_moisture) {
            problems.push(Problem::plant_value(
                id,
                "max_moisture",
                plant.max_moisture,
                "must be within 0..=100",
            ));
        } else if plant.min_moisture >= plant.max_moisture {
            problems.push(Problem::plant_value(
                id,
                "min_moisture",
                plant.min_moisture,
                format!("must be below max_moisture ({})", plant.max_moisture),
            ));
        }
        if plant.dose_ml == 0 || plant.dose_ml > MAX_DISPENSE.get() {
            problems.push(Problem::plant_value(
                id,
                "dose_ml",
                plant.dose_ml,
                format!("must be within 1..={}", MAX_DISPENSE.get()),
            ));
        } else if plant.pump.problems(id).is_empty() {
            problems.extend(dose_problem(plant));
        }
        if plant.calibration.dry == plant.calibration.wet {
            problems.push(Problem::plant(
                id,
                "calibration",
                "dry = wet: the ends must differ",
            ));
        }
        if plant.channel > 3
            || (plant.backup_probe && self.backend == Backend::Linux && plant.channel > 2)
        {
            problems.push(Problem::plant_value(
                id,
                "channel",
                plant.channel,
                "inputs are 0 to 3 (the backup takes the next)",
            ));
        }
        if self.backend == Backend::Linux && plant.pump_line.is_none() {
            problems.push(Problem::plant(
                id,
                "pump_line",
                "is needed with the linux backend",
            ));
        }
    }
}

/// Why `plant`'s dose can never be given by its pump, if it cannot: a run at the
/// warmest scale would pass `max_run`, or one dose would pass the daily budget.
fn dose_problem(plant: &Plant) -> Option<Problem> {
    let warmest = (f64::from(plant.dose_ml) * WARMEST_DOSE_FACTOR).round();
    let seconds = warmest / plant.pump.flow_ml_per_s;
    let too_much = |reason| {
        Some(Problem::plant_value(
            &plant.id,
            "dose_ml",
            plant.dose_ml,
            reason,
        ))
    };
    if seconds > plant.pump.max_run.as_secs_f64() {
        return too_much(format!(
            "up to {warmest} ml in warm air takes {seconds:.1}s at {} ml/s, more than the pump's max_run ({:?})",
            plant.pump.flow_ml_per_s, plant.pump.max_run
        ));
    }
    if warmest > f64::from(plant.pump.daily_budget_ml) {
        return too_much(format!(
            "up to {warmest} ml in warm air, more than the pump's daily_budget_ml ({})",
            plant.pump.daily_budget_ml
        ));
    }
    None
}

#[cfg(test)]
mod tests;

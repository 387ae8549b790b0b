//! [`LoadCheck`]: the load average per CPU, from `/proc/loadavg`.

use std::fmt;
use std::path::{Path, PathBuf};

use hardy_core::{ConfigError, Validate};

use super::{Rules, above, read, under, verdict};
use crate::{CheckResult, HealthCheck};

/// The load average per CPU above which a [`LoadCheck`] is degraded, unless set: 1.0
/// (more tasks want a CPU than there are CPUs).
pub const DEFAULT_LOAD_WARN_ABOVE_PER_CPU: f64 = 1.0;
/// The load average per CPU above which a [`LoadCheck`] is unhealthy, unless set: 2.0.
pub const DEFAULT_LOAD_FAIL_ABOVE_PER_CPU: f64 = 2.0;

const COMPONENT: &str = "load check";
const LOADAVG: &str = "/proc/loadavg";

/// Which of the three load averages the kernel keeps a [`LoadCheck`] judges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LoadAverage {
    /// Over the last minute: quick to show a burst, and to forget it.
    #[cfg_attr(feature = "serde", serde(rename = "1m"))]
    OneMinute,
    /// Over the last five minutes. The default.
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "5m"))]
    FiveMinutes,
    /// Over the last fifteen minutes: a load that lasts.
    #[cfg_attr(feature = "serde", serde(rename = "15m"))]
    FifteenMinutes,
}

impl LoadAverage {
    fn index(self) -> usize {
        match self {
            LoadAverage::OneMinute => 0,
            LoadAverage::FiveMinutes => 1,
            LoadAverage::FifteenMinutes => 2,
        }
    }
}

impl fmt::Display for LoadAverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAMES[self.index()])
    }
}

const NAMES: [&str; 3] = ["1-minute", "5-minute", "15-minute"];

/// The settings of a [`LoadCheck`]: which average, the thresholds per CPU, and the
/// number of CPUs to divide by.
///
/// # Examples
///
/// ```
/// use hardy_health::{LoadAverage, LoadConfig};
///
/// let config = LoadConfig { average: LoadAverage::FifteenMinutes, ..LoadConfig::default() };
/// assert!(config.validate("/proc/loadavg").is_ok());
/// let bad = LoadConfig { fail_above_per_cpu: Some(0.5), ..LoadConfig::default() };
/// assert_eq!(
///     bad.validate("/proc/loadavg").unwrap_err().to_string(),
///     "load check \"/proc/loadavg\": fail_above_per_cpu = 0.5: \
///      must be at least warn_above_per_cpu (1.0)",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct LoadConfig {
    /// The average judged.
    ///
    /// Default: [`LoadAverage::FiveMinutes`].
    pub average: LoadAverage,
    /// The load per CPU, a finite number at least 0, above which the check is
    /// degraded.
    ///
    /// Default: [`DEFAULT_LOAD_WARN_ABOVE_PER_CPU`] (1.0).
    pub warn_above_per_cpu: Option<f64>,
    /// The load per CPU, a finite number at least `warn_above_per_cpu`, above which
    /// the check is unhealthy.
    ///
    /// Default: [`DEFAULT_LOAD_FAIL_ABOVE_PER_CPU`] (2.0).
    pub fail_above_per_cpu: Option<f64>,
    /// The CPUs the load is divided by, at least 1.
    ///
    /// Default: none, for [`std::thread::available_parallelism`] at each run — the
    /// CPUs this process may use. The load average counts the whole machine: in a
    /// container allowed fewer CPUs than the machine has, set the machine's count.
    pub cpus: Option<usize>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            average: LoadAverage::default(),
            warn_above_per_cpu: Some(DEFAULT_LOAD_WARN_ABOVE_PER_CPU),
            fail_above_per_cpu: Some(DEFAULT_LOAD_FAIL_ABOVE_PER_CPU),
            cpus: None,
        }
    }
}

impl LoadConfig {
    /// Checks every setting; the error names the check `name` (the file it reads),
    /// the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a threshold that is negative or not finite, a failure
    /// threshold below the warning threshold, or no CPUs.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.non_negative("warn_above_per_cpu", self.warn_above_per_cpu)?;
        check.non_negative("fail_above_per_cpu", self.fail_above_per_cpu)?;
        check.ordered(
            "fail_above_per_cpu",
            self.fail_above_per_cpu,
            "warn_above_per_cpu",
            self.warn_above_per_cpu,
        )?;
        if let Some(cpus) = self.cpus {
            check.non_zero("cpus", cpus)?;
        }
        Ok(())
    }
}

/// The load average per CPU: one of the averages of `/proc/loadavg` (the tasks
/// running or waiting to run, and those waiting for a disk), divided by the number of
/// CPUs. Degraded above the warning threshold, unhealthy above the failure threshold
/// or when the file cannot be read or understood: `5-minute load average 3.20 on 2
/// CPUs (1.60 per CPU): above the warning threshold of 1 per CPU`.
///
/// The file is read under a root directory, `/` unless set, so that tests can read a
/// fixture. Where there is no `/proc/loadavg` (other systems than Linux) the check is
/// unhealthy.
///
/// # Examples
///
/// ```
/// use hardy_health::{CheckConfig, HealthRegistry, LoadAverage, LoadCheck};
///
/// let load = LoadCheck::builder()
///     .average(LoadAverage::FifteenMinutes)
///     .warn_above_per_cpu(1.5)
///     .fail_above_per_cpu(3.0)
///     .build()?;
/// assert_eq!(load.file().to_str(), Some("/proc/loadavg"));
/// let health = HealthRegistry::builder("plant-care")
///     .check("load", load, CheckConfig::default())
///     .build()?;
/// # let _ = health;
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoadCheck {
    file: PathBuf,
    config: LoadConfig,
}

impl LoadCheck {
    /// Starts building a load check.
    pub fn builder() -> LoadBuilder {
        LoadBuilder {
            root: PathBuf::from("/"),
            config: LoadConfig::default(),
        }
    }

    /// A load check with the settings of `config`, reading `/proc/loadavg`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(config: LoadConfig) -> Result<Self, ConfigError> {
        LoadCheck::builder().config(config).build()
    }

    /// The file read: `/proc/loadavg` under the root.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &LoadConfig {
        &self.config
    }

    fn judge(&self, averages: [f64; 3], cpus: usize) -> CheckResult {
        let average = self.config.average;
        let load = averages[average.index()];
        // Any count of CPUs a machine has converts exactly.
        #[allow(clippy::cast_precision_loss)]
        let per_cpu = load / cpus as f64;
        let plural = if cpus == 1 { "" } else { "s" };
        verdict(
            format!(
                "{average} load average {load:.2} on {cpus} CPU{plural} ({per_cpu:.2} per CPU)"
            ),
            [above(
                per_cpu,
                self.config.warn_above_per_cpu,
                self.config.fail_above_per_cpu,
                |limit| format!("{limit} per CPU"),
            )],
        )
    }
}

impl HealthCheck for LoadCheck {
    async fn check(&self) -> CheckResult {
        let cpus = match self.config.cpus {
            Some(cpus) => cpus,
            None => match std::thread::available_parallelism() {
                Ok(cpus) => cpus.get(),
                Err(error) => {
                    return CheckResult::unhealthy(format!(
                        "cannot count the CPUs ({error}): set the load check's cpus"
                    ));
                }
            },
        };
        match read(&self.file).and_then(|text| parse_loadavg(&text, &self.file)) {
            Ok(averages) => self.judge(averages, cpus),
            Err(message) => CheckResult::unhealthy(message),
        }
    }
}

/// Builds a [`LoadCheck`]; made by [`LoadCheck::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct LoadBuilder {
    root: PathBuf,
    config: LoadConfig,
}

impl LoadBuilder {
    /// Reads `<root>/proc/loadavg` instead of `/proc/loadavg`. Default: `/`.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The average judged. Default: [`LoadAverage::FiveMinutes`].
    pub fn average(mut self, average: LoadAverage) -> Self {
        self.config.average = average;
        self
    }

    /// The load per CPU above which the check is degraded; `None` for no such
    /// threshold. Default: [`DEFAULT_LOAD_WARN_ABOVE_PER_CPU`] (1.0).
    pub fn warn_above_per_cpu(mut self, load: impl Into<Option<f64>>) -> Self {
        self.config.warn_above_per_cpu = load.into();
        self
    }

    /// The load per CPU above which the check is unhealthy; `None` for no such
    /// threshold. Default: [`DEFAULT_LOAD_FAIL_ABOVE_PER_CPU`] (2.0).
    pub fn fail_above_per_cpu(mut self, load: impl Into<Option<f64>>) -> Self {
        self.config.fail_above_per_cpu = load.into();
        self
    }

    /// The CPUs the load is divided by. Default: none, for
    /// [`std::thread::available_parallelism`] at each run.
    pub fn cpus(mut self, cpus: impl Into<Option<usize>>) -> Self {
        self.config.cpus = cpus.into();
        self
    }

    /// Replaces every setting with `config`'s.
    pub fn config(mut self, config: LoadConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates the settings and builds the check.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file read and the first bad setting.
    pub fn build(self) -> Result<LoadCheck, ConfigError> {
        let file = under(&self.root, LOADAVG);
        self.config.validate(&file.display().to_string())?;
        Ok(LoadCheck {
            file,
            config: self.config,
        })
    }
}

/// The 1-, 5- and 15-minute averages of `text`, the contents of `file` in the format
/// of `/proc/loadavg` (`0.20 0.18 0.12 1/80 11206`).
fn parse_loadavg(text: &str, file: &Path) -> Result<[f64; 3], String> {
    let mut words = text.split_whitespace();
    let mut averages = [0.0; 3];
    for (average, name) in averages.iter_mut().zip(NAMES) {
        let word = words
            .next()
            .ok_or_else(|| format!("{}: no {name} average in {:?}", file.display(), text))?;
        *average = word
            .parse::<f64>()
            .ok()
            .filter(|load| load.is_finite() && *load >= 0.0)
            .ok_or_else(|| {
                format!(
                    "{}: the {name} average {word:?} is not a load",
                    file.display()
                )
            })?;
    }
    Ok(averages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn parse(text: &str) -> Result<[f64; 3], String> {
        parse_loadavg(text, Path::new("/proc/loadavg"))
    }

    #[test]
    fn reads_the_three_averages() {
        assert_eq!(parse("0.20 0.18 0.12 1/80 11206\n"), Ok([0.20, 0.18, 0.12]));
        assert_eq!(parse("12.5 7 3.25"), Ok([12.5, 7.0, 3.25]));
    }

    #[test]
    fn malformed_files_name_the_file_and_the_value() {
        assert_eq!(
            parse("0.20 high 0.12 1/80 11206"),
            Err("/proc/loadavg: the 5-minute average \"high\" is not a load".into())
        );
        assert_eq!(
            parse("-1 0.18 0.12"),
            Err("/proc/loadavg: the 1-minute average \"-1\" is not a load".into())
        );
        assert_eq!(
            parse("0.20 0.18 inf"),
            Err("/proc/loadavg: the 15-minute average \"inf\" is not a load".into())
        );
        assert_eq!(
            parse("0.20 0.18\n"),
            Err("/proc/loadavg: no 15-minute average in \"0.20 0.18\\n\"".into())
        );
        assert_eq!(
            parse(""),
            Err("/proc/loadavg: no 1-minute average in \"\"".into())
        );
    }

    #[test]
    fn the_chosen_average_is_divided_by_the_cpus() {
        let averages = [9.0, 3.2, 0.5];
        let check = |average| {
            LoadCheck::builder()
                .average(average)
                .build()
                .expect("valid")
        };
        let result = check(LoadAverage::FiveMinutes).judge(averages, 2);
        assert_eq!(result.status, Status::Degraded);
        assert_eq!(
            result.message.as_deref(),
            Some(
                "5-minute load average 3.20 on 2 CPUs (1.60 per CPU): \
                 above the warning threshold of 1 per CPU"
            )
        );
        let result = check(LoadAverage::OneMinute).judge(averages, 4);
        assert_eq!(result.status, Status::Unhealthy);
        assert_eq!(
            result.message.as_deref(),
            Some(
                "1-minute load average 9.00 on 4 CPUs (2.25 per CPU): \
                 above the failure threshold of 2 per CPU"
            )
        );
        let result = check(LoadAverage::FifteenMinutes).judge(averages, 1);
        assert_eq!(result.status, Status::Healthy);
        assert_eq!(
            result.message.as_deref(),
            Some("15-minute load average 0.50 on 1 CPU (0.50 per CPU)")
        );
    }

    #[test]
    fn every_rule_rejects_its_bad_value() {
        let error = |config: LoadConfig| config.validate("l").unwrap_err().to_string();
        let base = LoadConfig::default;
        assert_eq!(
            error(LoadConfig {
                warn_above_per_cpu: Some(-0.5),
                ..base()
            }),
            "load check \"l\": warn_above_per_cpu = -0.5: must be a finite number, at least 0"
        );
        assert_eq!(
            error(LoadConfig {
                fail_above_per_cpu: Some(f64::INFINITY),
                ..base()
            }),
            "load check \"l\": fail_above_per_cpu = inf: must be a finite number, at least 0"
        );
        assert_eq!(
            error(LoadConfig {
                warn_above_per_cpu: Some(3.0),
                ..base()
            }),
            "load check \"l\": fail_above_per_cpu = 2.0: must be at least warn_above_per_cpu (3.0)"
        );
        assert_eq!(
            error(LoadConfig {
                cpus: Some(0),
                ..base()
            }),
            "load check \"l\": cpus = 0: must be greater than zero"
        );
        assert!(
            LoadConfig {
                warn_above_per_cpu: None,
                cpus: Some(4),
                ..base()
            }
            .validate("l")
            .is_ok()
        );
    }
}

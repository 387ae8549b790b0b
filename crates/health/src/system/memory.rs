//! [`MemoryCheck`]: available memory, from `/proc/meminfo`.

use std::path::{Path, PathBuf};

use hardy_core::{ConfigError, Validate};

use super::{Floors, human_bytes, read, under};
use crate::{CheckResult, HealthCheck};

/// The available share of memory below which a [`MemoryCheck`] is degraded, unless
/// set: 10 %.
pub const DEFAULT_MEMORY_WARN_BELOW_PERCENT: f64 = 10.0;
/// The available share of memory below which a [`MemoryCheck`] is unhealthy, unless
/// set: 5 %.
pub const DEFAULT_MEMORY_FAIL_BELOW_PERCENT: f64 = 5.0;

const COMPONENT: &str = "memory check";
const MEMINFO: &str = "/proc/meminfo";

/// The thresholds of a [`MemoryCheck`]: available memory below a warning threshold is
/// degraded, below a failure threshold unhealthy; each a share of all memory
/// (percent) or an amount (bytes), any of them unset.
///
/// # Examples
///
/// ```
/// use hardy_health::MemoryConfig;
///
/// let config = MemoryConfig {
///     fail_below_bytes: Some(64 << 20),
///     ..MemoryConfig::default()
/// };
/// assert!(config.validate("/proc/meminfo").is_ok());
/// let bad = MemoryConfig { warn_below_percent: Some(120.0), ..MemoryConfig::default() };
/// assert_eq!(
///     bad.validate("/proc/meminfo").unwrap_err().to_string(),
///     "memory check \"/proc/meminfo\": warn_below_percent = 120.0: must be within 0..=100",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct MemoryConfig {
    /// The available share, percent within `0..=100`, below which the check is
    /// degraded; at least `fail_below_percent`.
    ///
    /// Default: [`DEFAULT_MEMORY_WARN_BELOW_PERCENT`] (10 %).
    pub warn_below_percent: Option<f64>,
    /// The available share, percent within `0..=100`, below which the check is
    /// unhealthy.
    ///
    /// Default: [`DEFAULT_MEMORY_FAIL_BELOW_PERCENT`] (5 %).
    pub fail_below_percent: Option<f64>,
    /// The available bytes below which the check is degraded; at least
    /// `fail_below_bytes`.
    ///
    /// Default: none.
    pub warn_below_bytes: Option<u64>,
    /// The available bytes below which the check is unhealthy.
    ///
    /// Default: none.
    pub fail_below_bytes: Option<u64>,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            warn_below_percent: Some(DEFAULT_MEMORY_WARN_BELOW_PERCENT),
            fail_below_percent: Some(DEFAULT_MEMORY_FAIL_BELOW_PERCENT),
            warn_below_bytes: None,
            fail_below_bytes: None,
        }
    }
}

impl MemoryConfig {
    /// Checks every setting; the error names the check `name` (the file it reads),
    /// the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a share outside `0..=100` (or NaN), or a warning threshold
    /// below its failure threshold.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        self.floors().check(&Validate::new(COMPONENT, name))
    }

    fn floors(&self) -> Floors {
        Floors {
            warn_below_percent: self.warn_below_percent,
            fail_below_percent: self.fail_below_percent,
            warn_below_bytes: self.warn_below_bytes,
            fail_below_bytes: self.fail_below_bytes,
        }
    }
}

/// Available memory: `MemAvailable` of `/proc/meminfo` (Linux 3.14 and later), the
/// memory that can be had without swapping, against `MemTotal`. Degraded below the
/// warning thresholds, unhealthy below the failure thresholds or when the file cannot
/// be read or understood: `180 MiB available of 3.7 GiB (4.7 %): below the failure
/// threshold of 5 %`.
///
/// The file is read under a root directory, `/` unless set, so that tests can read a
/// fixture. Where there is no `/proc/meminfo` (other systems than Linux) the check is
/// unhealthy.
///
/// # Examples
///
/// ```
/// use hardy_health::{CheckConfig, HealthRegistry, MemoryCheck};
///
/// let memory = MemoryCheck::builder()
///     .warn_below_percent(15.0)
///     .fail_below_bytes(64 << 20)
///     .build()?;
/// assert_eq!(memory.file().to_str(), Some("/proc/meminfo"));
/// let health = HealthRegistry::builder("plant-care")
///     .check("memory", memory, CheckConfig::default())
///     .build()?;
/// # let _ = health;
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryCheck {
    file: PathBuf,
    config: MemoryConfig,
}

impl MemoryCheck {
    /// Starts building a memory check.
    pub fn builder() -> MemoryBuilder {
        MemoryBuilder {
            root: PathBuf::from("/"),
            config: MemoryConfig::default(),
        }
    }

    /// A memory check with the thresholds of `config`, reading `/proc/meminfo`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(config: MemoryConfig) -> Result<Self, ConfigError> {
        MemoryCheck::builder().config(config).build()
    }

    /// The file read: `/proc/meminfo` under the root.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The thresholds.
    #[must_use]
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    fn judge(&self, memory: Memory) -> CheckResult {
        self.config
            .floors()
            .judge(memory.available, memory.total, |share| {
                format!(
                    "{} available of {} ({share:.1} %)",
                    human_bytes(memory.available),
                    human_bytes(memory.total)
                )
            })
    }
}

impl HealthCheck for MemoryCheck {
    async fn check(&self) -> CheckResult {
        match read(&self.file).and_then(|text| parse_meminfo(&text, &self.file)) {
            Ok(memory) => self.judge(memory),
            Err(message) => CheckResult::unhealthy(message),
        }
    }
}

/// Builds a [`MemoryCheck`]; made by [`MemoryCheck::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct MemoryBuilder {
    root: PathBuf,
    config: MemoryConfig,
}

impl MemoryBuilder {
    /// Reads `<root>/proc/meminfo` instead of `/proc/meminfo`: a fixture in tests, the
    /// host's `/proc` mounted elsewhere in a container. Default: `/`.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The available share, percent, below which the check is degraded; `None` for no
    /// such threshold. Default: [`DEFAULT_MEMORY_WARN_BELOW_PERCENT`] (10 %).
    pub fn warn_below_percent(mut self, percent: impl Into<Option<f64>>) -> Self {
        self.config.warn_below_percent = percent.into();
        self
    }

    /// The available share, percent, below which the check is unhealthy; `None` for
    /// no such threshold. Default: [`DEFAULT_MEMORY_FAIL_BELOW_PERCENT`] (5 %).
    pub fn fail_below_percent(mut self, percent: impl Into<Option<f64>>) -> Self {
        self.config.fail_below_percent = percent.into();
        self
    }

    /// The available bytes below which the check is degraded. Default: none.
    pub fn warn_below_bytes(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.config.warn_below_bytes = bytes.into();
        self
    }

    /// The available bytes below which the check is unhealthy. Default: none.
    pub fn fail_below_bytes(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.config.fail_below_bytes = bytes.into();
        self
    }

    /// Replaces every threshold with `config`'s.
    pub fn config(mut self, config: MemoryConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates the thresholds and builds the check.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file read and the first bad setting.
    pub fn build(self) -> Result<MemoryCheck, ConfigError> {
        let file = under(&self.root, MEMINFO);
        self.config.validate(&file.display().to_string())?;
        Ok(MemoryCheck {
            file,
            config: self.config,
        })
    }
}

/// Memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Memory {
    total: u64,
    available: u64,
}

/// `MemTotal` and `MemAvailable` of `text`, the contents of `file` in the format of
/// `/proc/meminfo` (`MemTotal:  3884472 kB`, one a line). Other lines are left alone,
/// so fields that kernels add do not matter.
fn parse_meminfo(text: &str, file: &Path) -> Result<Memory, String> {
    let mut total = None;
    let mut available = None;
    for (index, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            _ => continue,
        };
        let number = index + 1;
        let bytes = kibibytes(value).ok_or_else(|| {
            format!(
                "{} line {number}: {:?} is not a number of kB",
                file.display(),
                line.trim()
            )
        })?;
        *slot = Some((bytes, number));
    }
    let (total, line) = total.ok_or_else(|| format!("{}: no MemTotal line", file.display()))?;
    if total == 0 {
        return Err(format!("{} line {line}: MemTotal is 0 kB", file.display()));
    }
    let (available, _) = available.ok_or_else(|| {
        format!(
            "{}: no MemAvailable line (Linux 3.14 and later have it)",
            file.display()
        )
    })?;
    Ok(Memory { total, available })
}

/// `  3884472 kB` in bytes; `None` for anything else.
fn kibibytes(value: &str) -> Option<u64> {
    let mut words = value.split_whitespace();
    let number: u64 = words.next()?.parse().ok()?;
    match (words.next(), words.next()) {
        (Some("kB"), None) => Some(number.saturating_mul(1024)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const FILE: &str = "/proc/meminfo";

    fn parse(text: &str) -> Result<Memory, String> {
        parse_meminfo(text, Path::new(FILE))
    }

    #[test]
    fn reads_total_and_available_in_bytes() {
        let text = "MemTotal:        3884472 kB\nMemFree:          201432 kB\n\
                    MemAvailable:    2411700 kB\nHugePages_Total:       0\n";
        assert_eq!(
            parse(text),
            Ok(Memory {
                total: 3_884_472 * 1024,
                available: 2_411_700 * 1024,
            })
        );
        // The order does not matter, nor lines it does not know.
        assert_eq!(
            parse("MemAvailable: 1 kB\nSomething new: 12 pages\nMemTotal: 2 kB"),
            Ok(Memory {
                total: 2048,
                available: 1024,
            })
        );
    }

    #[test]
    fn malformed_files_are_named_with_the_line() {
        assert_eq!(
            parse("MemTotal: 3884472 kB\nMemAvailable: lots kB\n"),
            Err("/proc/meminfo line 2: \"MemAvailable: lots kB\" is not a number of kB".into())
        );
        assert_eq!(
            parse("MemTotal: 3884472 MB\n"),
            Err("/proc/meminfo line 1: \"MemTotal: 3884472 MB\" is not a number of kB".into())
        );
        assert_eq!(
            parse("MemTotal: -5 kB\n"),
            Err("/proc/meminfo line 1: \"MemTotal: -5 kB\" is not a number of kB".into())
        );
        assert_eq!(parse(""), Err("/proc/meminfo: no MemTotal line".into()));
        assert_eq!(
            parse("MemTotal: 3884472 kB\nMemFree: 1 kB\n"),
            Err("/proc/meminfo: no MemAvailable line (Linux 3.14 and later have it)".into())
        );
        assert_eq!(
            parse("MemAvailable: 0 kB\nMemTotal: 0 kB\n"),
            Err("/proc/meminfo line 2: MemTotal is 0 kB".into())
        );
    }

    #[test]
    fn judged_against_both_kinds_of_threshold() {
        let check = MemoryCheck::builder()
            .fail_below_bytes(200 << 20)
            .build()
            .expect("valid");
        let memory = |available| Memory {
            total: 4 << 30,
            available,
        };
        let result = check.judge(memory(2 << 30));
        assert_eq!(result.status, Status::Healthy);
        assert_eq!(
            result.message.as_deref(),
            Some("2.0 GiB available of 4.0 GiB (50.0 %)")
        );
        let result = check.judge(memory(300 << 20));
        assert_eq!(result.status, Status::Degraded);
        assert_eq!(
            result.message.as_deref(),
            Some("300 MiB available of 4.0 GiB (7.3 %): below the warning threshold of 10 %")
        );
        let result = check.judge(memory(180 << 20));
        assert_eq!(result.status, Status::Unhealthy);
        assert_eq!(
            result.message.as_deref(),
            Some(
                "180 MiB available of 4.0 GiB (4.4 %): below the failure threshold of 5 % \
                 and below the failure threshold of 200 MiB"
            )
        );
    }
}

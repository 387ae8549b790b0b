//! System checks: free disk space, available memory, load average and SoC temperature.
//!
//! Each check reads one number, compares it with a warning threshold (degraded) and a
//! failure threshold (unhealthy), and says the number in its message whatever the
//! status, so a report shows how close to a threshold the machine is. A check that
//! cannot read its number (a file missing or malformed, a failed system call) is
//! unhealthy with a message naming the file and what was wrong: it cannot vouch for
//! the machine, and the registry's failure threshold decides how long that is
//! tolerated.
//!
//! Memory, load and temperature are read from Linux's `/proc` and `/sys`, under a root
//! directory (`/` unless set) so that tests can read fixture files. The disk space
//! check calls `statvfs(3)` and exists on Unix only.

#[cfg(unix)]
mod disk;
mod load;
mod memory;
mod thermal;

use std::path::{Path, PathBuf};

use hardy_core::{ConfigError, Validate};

use crate::{CheckResult, Status};

#[cfg(unix)]
pub use disk::{
    DEFAULT_DISK_FAIL_BELOW_PERCENT, DEFAULT_DISK_WARN_BELOW_PERCENT, DiskSpaceBuilder,
    DiskSpaceCheck, DiskSpaceConfig,
};
pub use load::{
    DEFAULT_LOAD_FAIL_ABOVE_PER_CPU, DEFAULT_LOAD_WARN_ABOVE_PER_CPU, LoadAverage, LoadBuilder,
    LoadCheck, LoadConfig,
};
pub use memory::{
    DEFAULT_MEMORY_FAIL_BELOW_PERCENT, DEFAULT_MEMORY_WARN_BELOW_PERCENT, MemoryBuilder,
    MemoryCheck, MemoryConfig,
};
pub use thermal::{
    DEFAULT_TEMPERATURE_FAIL_ABOVE_CELSIUS, DEFAULT_TEMPERATURE_WARN_ABOVE_CELSIUS,
    TemperatureBuilder, TemperatureCheck, TemperatureConfig, ThermalZone,
};

/// `relative` (an absolute path such as `/proc/meminfo`) under `root`.
fn under(root: &Path, relative: &str) -> PathBuf {
    root.join(relative.trim_start_matches('/'))
}

/// Reads a small file of `/proc` or `/sys` whole.
///
/// Read in place, on the check's own task: these files are made by the kernel from
/// memory when read and never wait for a device, so a read takes microseconds, less
/// than handing it to a blocking thread would.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))
}

/// Which threshold a reading crossed: the status it calls for, and the words that say
/// so ("below the failure threshold of 5 %").
type Crossed = (Status, String);

/// The threshold `value` is below, the failure threshold first; `show` writes a
/// threshold for the message.
fn below<T: PartialOrd + Copy>(
    value: T,
    warn: Option<T>,
    fail: Option<T>,
    show: impl Fn(T) -> String,
) -> Option<Crossed> {
    crossed(
        value,
        warn,
        fail,
        |value, limit| value < limit,
        "below",
        show,
    )
}

/// The threshold `value` is above, the failure threshold first.
fn above<T: PartialOrd + Copy>(
    value: T,
    warn: Option<T>,
    fail: Option<T>,
    show: impl Fn(T) -> String,
) -> Option<Crossed> {
    crossed(
        value,
        warn,
        fail,
        |value, limit| value > limit,
        "above",
        show,
    )
}

fn crossed<T: Copy>(
    value: T,
    warn: Option<T>,
    fail: Option<T>,
    beyond: impl Fn(T, T) -> bool,
    word: &str,
    show: impl Fn(T) -> String,
) -> Option<Crossed> {
    if let Some(fail) = fail.filter(|fail| beyond(value, *fail)) {
        return Some((
            Status::Unhealthy,
            format!("{word} the failure threshold of {}", show(fail)),
        ));
    }
    warn.filter(|warn| beyond(value, *warn)).map(|warn| {
        (
            Status::Degraded,
            format!("{word} the warning threshold of {}", show(warn)),
        )
    })
}

/// The result of a reading described by `reading`: healthy unless a threshold was
/// crossed, else the worst status crossed, with every threshold crossed at that status.
fn verdict(reading: String, crossed: impl IntoIterator<Item = Option<Crossed>>) -> CheckResult {
    let crossed: Vec<Crossed> = crossed.into_iter().flatten().collect();
    let status = Status::aggregate(crossed.iter().map(|(status, _)| *status));
    let reasons: Vec<&str> = crossed
        .iter()
        .filter(|(crossed, _)| *crossed == status)
        .map(|(_, reason)| reason.as_str())
        .collect();
    let message = if reasons.is_empty() {
        reading
    } else {
        format!("{reading}: {}", reasons.join(" and "))
    };
    CheckResult {
        status,
        message: Some(message),
    }
}

/// The floors of an amount left (free disk space, available memory): below a warning
/// share or amount degraded, below a failure share or amount unhealthy. The disk and
/// memory checks' configs each lend theirs.
struct Floors {
    warn_below_percent: Option<f64>,
    fail_below_percent: Option<f64>,
    warn_below_bytes: Option<u64>,
    fail_below_bytes: Option<u64>,
}

impl Floors {
    /// Checks the shares are percentages and each warning floor at least its failure
    /// floor; the errors name the config's fields.
    fn check(&self, check: &Validate<'_>) -> Result<(), ConfigError> {
        check.percentage("warn_below_percent", self.warn_below_percent)?;
        check.percentage("fail_below_percent", self.fail_below_percent)?;
        check.ordered(
            "warn_below_percent",
            self.warn_below_percent,
            "fail_below_percent",
            self.fail_below_percent,
        )?;
        check.ordered(
            "warn_below_bytes",
            self.warn_below_bytes,
            "fail_below_bytes",
            self.fail_below_bytes,
        )
    }

    /// The result of `left` bytes of `total`, described by `describe` given the share
    /// left (percent).
    fn judge(&self, left: u64, total: u64, describe: impl FnOnce(f64) -> String) -> CheckResult {
        let share = percent(left, total);
        verdict(
            describe(share),
            [
                below(
                    share,
                    self.warn_below_percent,
                    self.fail_below_percent,
                    |limit| format!("{limit} %"),
                ),
                below(
                    left,
                    self.warn_below_bytes,
                    self.fail_below_bytes,
                    human_bytes,
                ),
            ],
        )
    }
}

/// `bytes` for people, in binary units: `512 B`, `1.5 KiB`, `412 MiB`, `14.6 GiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision lost converting to f64 is far below the one decimal shown.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `part` as a percentage of `whole`; 0 when `whole` is 0.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    // Both convert with a relative error below 1e-15: far below the one decimal shown.
    #[allow(clippy::cast_precision_loss)]
    let share = part as f64 / whole as f64;
    share * 100.0
}

/// Rules shared by the system checks' configs.
trait Rules {
    /// A percentage, if set, must be within 0..=100 (NaN is not).
    fn percentage(&self, field: &'static str, value: Option<f64>) -> Result<(), ConfigError>;
    /// A number, if set, must be finite.
    fn finite(&self, field: &'static str, value: Option<f64>) -> Result<(), ConfigError>;
    /// A number, if set, must be finite and at least 0.
    fn non_negative(&self, field: &'static str, value: Option<f64>) -> Result<(), ConfigError>;
    /// The threshold `field`, if set with `other_field`, must be at least it.
    fn ordered<T: PartialOrd + std::fmt::Debug + Copy>(
        &self,
        field: &'static str,
        value: Option<T>,
        other_field: &str,
        other: Option<T>,
    ) -> Result<(), ConfigError>;
}

impl Rules for Validate<'_> {
    fn percentage(&self, field: &'static str, value: Option<f64>) -> Result<(), ConfigError> {
        match value {
            Some(value) if !(0.0..=100.0).contains(&value) => {
                Err(self.error(field, value, "must be within 0..=100"))
            }
            _ => Ok(()),
        }
    }

    fn finite(&self, field: &'static str, value: Option<f64>) -> Result<(), ConfigError> {
        match value {
            Some(value) if !value.is_finite() => {
                Err(self.error(field, value, "must be a finite number"))
            }
            _ => Ok(()),
        }
    }

    fn non_negative(&self, field: &'static str, value: Option<f64>) -> Result<(), ConfigError> {
        match value {
            Some(value) if !(value.is_finite() && value >= 0.0) => {
                Err(self.error(field, value, "must be a finite number, at least 0"))
            }
            _ => Ok(()),
        }
    }

    fn ordered<T: PartialOrd + std::fmt::Debug + Copy>(
        &self,
        field: &'static str,
        value: Option<T>,
        other_field: &str,
        other: Option<T>,
    ) -> Result<(), ConfigError> {
        match (value, other) {
            (Some(value), Some(other)) => self.at_least(field, value, other_field, other),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(412 * 1024 * 1024), "412 MiB");
        assert_eq!(human_bytes(15_676_630_630), "14.6 GiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn the_failure_threshold_wins_over_the_warning() {
        let show = |value: f64| format!("{value} %");
        assert_eq!(below(50.0, Some(10.0), Some(5.0), show), None);
        assert_eq!(
            below(7.0, Some(10.0), Some(5.0), show),
            Some((
                Status::Degraded,
                "below the warning threshold of 10 %".to_string()
            ))
        );
        assert_eq!(
            below(1.0, Some(10.0), Some(5.0), show),
            Some((
                Status::Unhealthy,
                "below the failure threshold of 5 %".to_string()
            ))
        );
        assert_eq!(below(5.0, None, Some(5.0), show), None, "strictly below");
        assert_eq!(
            above(81.0, Some(70.0), Some(80.0), show).map(|(status, _)| status),
            Some(Status::Unhealthy)
        );
        assert_eq!(above(70.0, Some(70.0), None, show), None, "strictly above");
    }

    #[test]
    fn a_verdict_names_every_threshold_crossed_at_the_worst_status() {
        let result = verdict(
            "1 B free".to_string(),
            [
                Some((Status::Degraded, "below a".to_string())),
                Some((Status::Unhealthy, "below b".to_string())),
                None,
                Some((Status::Unhealthy, "below c".to_string())),
            ],
        );
        assert_eq!(result.status, Status::Unhealthy);
        assert_eq!(
            result.message.as_deref(),
            Some("1 B free: below b and below c")
        );
        let fine = verdict("all well".to_string(), [None, None]);
        assert_eq!(fine.status, Status::Healthy);
        assert_eq!(fine.message.as_deref(), Some("all well"));
    }

    #[test]
    fn paths_are_read_under_the_root() {
        assert_eq!(
            under(Path::new("/"), "/proc/meminfo"),
            PathBuf::from("/proc/meminfo")
        );
        assert_eq!(
            under(Path::new("fixtures/pi"), "/proc/loadavg"),
            PathBuf::from("fixtures/pi/proc/loadavg")
        );
    }

    #[test]
    fn percent_of_nothing_is_zero() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(1, 4), 25.0);
    }
}

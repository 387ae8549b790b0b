//! [`DiskSpaceCheck`]: free space on the file system that holds a path (Unix).

use std::path::{Path, PathBuf};

use hardy_core::{ConfigError, Validate};

use super::{Floors, human_bytes};
use crate::{CheckResult, HealthCheck};

/// The free share of a file system below which a [`DiskSpaceCheck`] is degraded,
/// unless set: 10 %.
pub const DEFAULT_DISK_WARN_BELOW_PERCENT: f64 = 10.0;
/// The free share of a file system below which a [`DiskSpaceCheck`] is unhealthy,
/// unless set: 5 %.
pub const DEFAULT_DISK_FAIL_BELOW_PERCENT: f64 = 5.0;

const COMPONENT: &str = "disk space check";

/// The thresholds of a [`DiskSpaceCheck`]: free space below a warning threshold is
/// degraded, below a failure threshold unhealthy. Each threshold is a share of the
/// file system (percent) or an amount (bytes); any of them may be unset, and a
/// reading below either one of a kind is below that kind.
///
/// Free space is what programs without root's privileges may still use (`f_bavail`);
/// the share is of that plus the space in use, leaving out the blocks reserved for
/// root, as `df` counts its `Use%` (the share free is 100 − `Use%`).
///
/// # Examples
///
/// ```
/// use hardy_health::DiskSpaceConfig;
///
/// let config = DiskSpaceConfig {
///     warn_below_bytes: Some(1 << 30),
///     ..DiskSpaceConfig::default()
/// };
/// assert!(config.validate("/var/lib/plant-care").is_ok());
/// let upside_down = DiskSpaceConfig {
///     warn_below_percent: Some(1.0),
///     fail_below_percent: Some(2.0),
///     ..DiskSpaceConfig::default()
/// };
/// assert_eq!(
///     upside_down.validate("/var/lib/plant-care").unwrap_err().to_string(),
///     "disk space check \"/var/lib/plant-care\": warn_below_percent = 1.0: \
///      must be at least fail_below_percent (2.0)",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct DiskSpaceConfig {
    /// The free share, percent within `0..=100`, below which the check is degraded;
    /// at least `fail_below_percent`.
    ///
    /// Default: [`DEFAULT_DISK_WARN_BELOW_PERCENT`] (10 %).
    pub warn_below_percent: Option<f64>,
    /// The free share, percent within `0..=100`, below which the check is unhealthy.
    ///
    /// Default: [`DEFAULT_DISK_FAIL_BELOW_PERCENT`] (5 %).
    pub fail_below_percent: Option<f64>,
    /// The free bytes below which the check is degraded; at least `fail_below_bytes`.
    ///
    /// Default: none.
    pub warn_below_bytes: Option<u64>,
    /// The free bytes below which the check is unhealthy.
    ///
    /// Default: none.
    pub fail_below_bytes: Option<u64>,
}

impl Default for DiskSpaceConfig {
    fn default() -> Self {
        DiskSpaceConfig {
            warn_below_percent: Some(DEFAULT_DISK_WARN_BELOW_PERCENT),
            fail_below_percent: Some(DEFAULT_DISK_FAIL_BELOW_PERCENT),
            warn_below_bytes: None,
            fail_below_bytes: None,
        }
    }
}

impl DiskSpaceConfig {
    /// Checks every setting; the error names the check `name` (its path), the field
    /// and the value.
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

/// Free space on the file system that holds a path: degraded below the warning
/// thresholds, unhealthy below the failure thresholds, and unhealthy when the file
/// system cannot be asked (the path does not exist, say). The message says the path,
/// the space free and the threshold crossed: `412 MiB free of 14.6 GiB (2.8 %) on
/// /var/lib/plant-care: below the failure threshold of 5 %`.
///
/// Unix only: it asks with `statvfs(3)`, on a blocking thread, because a file system
/// that does not answer (a network mount whose server is gone) blocks the call; the
/// registry's timeout then ends the run.
///
/// # Examples
///
/// ```
/// use hardy_health::{CheckConfig, DiskSpaceCheck, HealthRegistry};
///
/// let data = DiskSpaceCheck::builder("/var/lib/plant-care")
///     .warn_below_percent(10.0)
///     .fail_below_percent(2.0)
///     .fail_below_bytes(100 << 20)
///     .build()?;
/// assert_eq!(data.path().to_str(), Some("/var/lib/plant-care"));
/// let health = HealthRegistry::builder("plant-care")
///     .check("disk", data, CheckConfig::default())
///     .build()?;
/// # let _ = health;
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DiskSpaceCheck {
    path: PathBuf,
    config: DiskSpaceConfig,
}

impl DiskSpaceCheck {
    /// Starts building a check of the file system that holds `path`.
    pub fn builder(path: impl Into<PathBuf>) -> DiskSpaceBuilder {
        DiskSpaceBuilder {
            path: path.into(),
            config: DiskSpaceConfig::default(),
        }
    }

    /// A check of the file system that holds `path`, with the thresholds of `config`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the path and the first bad setting.
    pub fn from_config(
        path: impl Into<PathBuf>,
        config: DiskSpaceConfig,
    ) -> Result<Self, ConfigError> {
        DiskSpaceCheck::builder(path).config(config).build()
    }

    /// The path whose file system is checked.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The thresholds.
    #[must_use]
    pub fn config(&self) -> &DiskSpaceConfig {
        &self.config
    }

    fn judge(&self, space: Space) -> CheckResult {
        self.config
            .floors()
            .judge(space.free, space.total, |share| {
                format!(
                    "{} free of {} ({share:.1} %) on {}",
                    human_bytes(space.free),
                    human_bytes(space.total),
                    self.path.display()
                )
            })
    }
}

impl HealthCheck for DiskSpaceCheck {
    async fn check(&self) -> CheckResult {
        let path = self.path.clone();
        let asked = tokio::task::spawn_blocking(move || nix::sys::statvfs::statvfs(&path)).await;
        match asked {
            Ok(Ok(stats)) => self.judge(Space::of(&stats)),
            Ok(Err(errno)) => {
                CheckResult::unhealthy(format!("statvfs {}: {errno}", self.path.display()))
            }
            Err(_) => CheckResult::unhealthy(format!(
                "statvfs {}: the call did not finish",
                self.path.display()
            )),
        }
    }
}

/// Builds a [`DiskSpaceCheck`]; made by [`DiskSpaceCheck::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct DiskSpaceBuilder {
    path: PathBuf,
    config: DiskSpaceConfig,
}

impl DiskSpaceBuilder {
    /// The free share, percent, below which the check is degraded; `None` for no such
    /// threshold. Default: [`DEFAULT_DISK_WARN_BELOW_PERCENT`] (10 %).
    pub fn warn_below_percent(mut self, percent: impl Into<Option<f64>>) -> Self {
        self.config.warn_below_percent = percent.into();
        self
    }

    /// The free share, percent, below which the check is unhealthy; `None` for no
    /// such threshold. Default: [`DEFAULT_DISK_FAIL_BELOW_PERCENT`] (5 %).
    pub fn fail_below_percent(mut self, percent: impl Into<Option<f64>>) -> Self {
        self.config.fail_below_percent = percent.into();
        self
    }

    /// The free bytes below which the check is degraded. Default: none.
    pub fn warn_below_bytes(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.config.warn_below_bytes = bytes.into();
        self
    }

    /// The free bytes below which the check is unhealthy. Default: none.
    pub fn fail_below_bytes(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.config.fail_below_bytes = bytes.into();
        self
    }

    /// Replaces every threshold with `config`'s.
    pub fn config(mut self, config: DiskSpaceConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates the thresholds and builds the check.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the path and the first bad setting.
    pub fn build(self) -> Result<DiskSpaceCheck, ConfigError> {
        self.config.validate(&self.path.display().to_string())?;
        Ok(DiskSpaceCheck {
            path: self.path,
            config: self.config,
        })
    }
}

/// Space on a file system, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Space {
    /// What programs without root's privileges may still use.
    free: u64,
    /// That plus the space in use: the root's reserve left out, as `df` counts.
    total: u64,
}

impl Space {
    // `statvfs` fields are `u64` on most targets and `u32` on some 32-bit ones: the
    // conversion is needed there, and does nothing here.
    #[allow(clippy::useless_conversion)]
    fn of(stats: &nix::sys::statvfs::Statvfs) -> Space {
        let unit = match u64::from(stats.fragment_size()) {
            0 => u64::from(stats.block_size()),
            fragment => fragment,
        };
        Space::from_blocks(
            u64::from(stats.blocks()),
            u64::from(stats.blocks_free()),
            u64::from(stats.blocks_available()),
            unit,
        )
    }

    /// From a file system's `blocks` in all, `free` blocks (root's reserve included),
    /// `available` ones (without it), each of `unit` bytes.
    fn from_blocks(blocks: u64, free: u64, available: u64, unit: u64) -> Space {
        let used = blocks.saturating_sub(free).saturating_mul(unit);
        let free = available.saturating_mul(unit);
        Space {
            free,
            total: used.saturating_add(free),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const GIB: u64 = 1 << 30;

    fn check(config: DiskSpaceConfig) -> DiskSpaceCheck {
        DiskSpaceCheck::from_config("/data", config).expect("valid")
    }

    #[test]
    fn space_leaves_out_roots_reserve_as_df_does() {
        // 100 blocks of 4 KiB: 60 in use, 40 free of which 5 are reserved for root.
        let space = Space::from_blocks(100, 40, 35, 4096);
        assert_eq!(space.free, 35 * 4096);
        assert_eq!(space.total, 95 * 4096);
        // A file system reporting nonsense does not overflow.
        let odd = Space::from_blocks(1, 5, u64::MAX, u64::MAX);
        assert_eq!(odd.free, u64::MAX);
        assert_eq!(odd.total, u64::MAX);
    }

    #[test]
    fn the_message_says_the_space_the_path_and_the_threshold() {
        let config = DiskSpaceConfig {
            fail_below_percent: Some(3.0),
            ..DiskSpaceConfig::default()
        };
        let total = 15_676_630_630;
        let low = Space {
            free: 412 << 20,
            total,
        };
        let result = check(config.clone()).judge(low);
        assert_eq!(result.status, Status::Unhealthy);
        assert_eq!(
            result.message.as_deref(),
            Some("412 MiB free of 14.6 GiB (2.8 %) on /data: below the failure threshold of 3 %")
        );
        let result = check(config.clone()).judge(Space {
            free: total / 12,
            total,
        });
        assert_eq!(result.status, Status::Degraded);
        assert_eq!(
            result.message.as_deref(),
            Some("1.2 GiB free of 14.6 GiB (8.3 %) on /data: below the warning threshold of 10 %")
        );
        let result = check(config).judge(Space {
            free: total / 2,
            total,
        });
        assert_eq!(result.status, Status::Healthy);
        assert_eq!(
            result.message.as_deref(),
            Some("7.3 GiB free of 14.6 GiB (50.0 %) on /data")
        );
    }

    #[test]
    fn byte_thresholds_count_as_much_as_shares() {
        let bytes_only = DiskSpaceConfig {
            warn_below_percent: None,
            fail_below_percent: None,
            warn_below_bytes: Some(2 * GIB),
            fail_below_bytes: Some(GIB),
        };
        let space = |free| Space {
            free,
            total: 1000 * GIB,
        };
        let check = check(bytes_only);
        assert_eq!(check.judge(space(3 * GIB)).status, Status::Healthy);
        let result = check.judge(space(GIB + GIB / 2));
        assert_eq!(result.status, Status::Degraded);
        assert!(
            result
                .message
                .as_deref()
                .is_some_and(|message| message.ends_with("below the warning threshold of 2.0 GiB")),
            "{result:?}"
        );
        assert_eq!(check.judge(space(GIB - 1)).status, Status::Unhealthy);
    }

    #[test]
    fn both_kinds_crossed_are_both_named() {
        let check = check(DiskSpaceConfig {
            fail_below_bytes: Some(GIB),
            ..DiskSpaceConfig::default()
        });
        let result = check.judge(Space {
            free: 1 << 20,
            total: 4 * GIB,
        });
        assert_eq!(
            result.message.as_deref(),
            Some(
                "1.0 MiB free of 4.0 GiB (0.0 %) on /data: below the failure threshold of 5 % \
                 and below the failure threshold of 1.0 GiB"
            )
        );
    }

    #[test]
    fn every_rule_rejects_its_bad_value() {
        let error = |config: DiskSpaceConfig| config.validate("/d").unwrap_err().to_string();
        let base = DiskSpaceConfig::default;
        assert_eq!(
            error(DiskSpaceConfig {
                warn_below_percent: Some(100.5),
                ..base()
            }),
            "disk space check \"/d\": warn_below_percent = 100.5: must be within 0..=100"
        );
        assert_eq!(
            error(DiskSpaceConfig {
                fail_below_percent: Some(f64::NAN),
                ..base()
            }),
            "disk space check \"/d\": fail_below_percent = NaN: must be within 0..=100"
        );
        assert_eq!(
            error(DiskSpaceConfig {
                fail_below_percent: Some(-1.0),
                ..base()
            }),
            "disk space check \"/d\": fail_below_percent = -1.0: must be within 0..=100"
        );
        assert_eq!(
            error(DiskSpaceConfig {
                warn_below_bytes: Some(10),
                fail_below_bytes: Some(20),
                ..base()
            }),
            "disk space check \"/d\": warn_below_bytes = 10: must be at least fail_below_bytes (20)"
        );
        // Equal thresholds leave no warning band, and are allowed.
        assert!(
            DiskSpaceConfig {
                warn_below_percent: Some(5.0),
                ..base()
            }
            .validate("/d")
            .is_ok()
        );
    }
}

//! [`LastKnownGoodConfig`].

use std::time::Duration;

use hardy_core::{ConfigError, Validate};

/// The oldest last good response served for a failed call unless set: 10 minutes.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(600);
/// How long a response answers new calls without calling unless set: 0 (never).
pub const DEFAULT_TTL: Duration = Duration::ZERO;
/// Keys remembered at most unless set: 10,000.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

pub(crate) const COMPONENT: &str = "last known good";

/// Every setting of a [`LastKnownGood`](crate::LastKnownGood) store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_fallback::LastKnownGoodConfig;
///
/// let readings = LastKnownGoodConfig {
///     max_staleness: Duration::from_secs(30 * 60),
///     ttl: Duration::from_secs(5),
///     ..LastKnownGoodConfig::default()
/// };
/// assert!(readings.validate("soil").is_ok());
/// let bad = LastKnownGoodConfig { ttl: Duration::from_secs(3600), ..readings };
/// assert_eq!(
///     bad.validate("soil").unwrap_err().to_string(),
///     "last known good \"soil\": ttl = 3600s: must be at most max_staleness (1800s)",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct LastKnownGoodConfig {
    /// The oldest last good response served in place of a failed call; older, the
    /// failure stands. Greater than zero.
    ///
    /// Default: [`DEFAULT_MAX_STALENESS`] (10 min).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_staleness: Duration,
    /// How long a good response answers new calls for its key without calling at all
    /// (a TTL cache); zero calls every time. At most `max_staleness`.
    ///
    /// Default: [`DEFAULT_TTL`] (0).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub ttl: Duration,
    /// Keys remembered at most, at least 1; when full, the oldest response goes.
    ///
    /// Default: [`DEFAULT_MAX_KEYS`] (10,000).
    pub max_keys: usize,
}

impl Default for LastKnownGoodConfig {
    fn default() -> Self {
        LastKnownGoodConfig {
            max_staleness: DEFAULT_MAX_STALENESS,
            ttl: DEFAULT_TTL,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

impl LastKnownGoodConfig {
    /// Checks every setting; the error names the store `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.non_zero_duration("max_staleness", self.max_staleness)?;
        if self.ttl > self.max_staleness {
            return Err(check.error(
                "ttl",
                self.ttl,
                format!("must be at most max_staleness ({:?})", self.max_staleness),
            ));
        }
        check.non_zero("max_keys", self.max_keys)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_rejects_its_bad_value() {
        let error = |config: LastKnownGoodConfig| config.validate("s").unwrap_err().to_string();
        assert_eq!(
            error(LastKnownGoodConfig {
                max_staleness: Duration::ZERO,
                ..LastKnownGoodConfig::default()
            }),
            "last known good \"s\": max_staleness = 0ns: must be greater than zero"
        );
        assert_eq!(
            error(LastKnownGoodConfig {
                ttl: Duration::from_secs(601),
                ..LastKnownGoodConfig::default()
            }),
            "last known good \"s\": ttl = 601s: must be at most max_staleness (600s)"
        );
        assert_eq!(
            error(LastKnownGoodConfig {
                max_keys: 0,
                ..LastKnownGoodConfig::default()
            }),
            "last known good \"s\": max_keys = 0: must be greater than zero"
        );
        assert!(LastKnownGoodConfig::default().validate("s").is_ok());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn reads_from_toml() {
        let config: LastKnownGoodConfig =
            toml::from_str("max_staleness = \"30m\"\nttl = \"5s\"").expect("valid");
        assert_eq!(config.max_staleness, Duration::from_secs(1800));
        assert!(toml::from_str::<LastKnownGoodConfig>("stale = \"1m\"").is_err());
    }
}

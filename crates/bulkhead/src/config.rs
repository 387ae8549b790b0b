//! [`BulkheadConfig`], [`PartitionsConfig`] and the builders.

use std::collections::BTreeMap;
use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Validate};

use crate::{Bulkhead, BulkheadEvent, Partitions};

/// Calls a bulkhead runs at once unless set: 10.
pub const DEFAULT_MAX_CONCURRENT: u32 = 10;
/// Calls that may wait for a slot unless set: 0 (a full bulkhead refuses at once).
pub const DEFAULT_MAX_WAITING: u32 = 0;
/// How long a call may wait for a slot unless set: 0 (a full bulkhead refuses at once).
pub const DEFAULT_MAX_WAIT: Duration = Duration::ZERO;
/// Largest `max_concurrent`.
pub const MAX_CONCURRENT: u32 = 1 << 30;
/// Largest `max_waiting`.
pub const MAX_WAITING: u32 = 1 << 20;

pub(crate) const COMPONENT: &str = "bulkhead";

/// Every setting of a [`Bulkhead`].
///
/// At most `max_concurrent` calls run at once. A call that finds them all busy waits
/// in a FIFO queue, if fewer than `max_waiting` wait already, for at most `max_wait`;
/// otherwise, or when its wait expires, it is refused with
/// [`Rejection::BulkheadFull`](hardy_core::Rejection::BulkheadFull). With both
/// `max_waiting` and `max_wait` zero (the default) a full bulkhead refuses at once; one
/// without the other is refused at build, since it would do nothing.
///
/// # Examples
///
/// ```
/// use hardy_bulkhead::BulkheadConfig;
///
/// let config = BulkheadConfig { max_concurrent: 0, ..BulkheadConfig::default() };
/// assert_eq!(
///     config.validate("sensors").unwrap_err().to_string(),
///     "bulkhead \"sensors\": max_concurrent = 0: must be greater than zero",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct BulkheadConfig {
    /// Calls that run at once, `1..=MAX_CONCURRENT`.
    ///
    /// Default: [`DEFAULT_MAX_CONCURRENT`] (10).
    pub max_concurrent: u32,
    /// Calls that may wait for a slot, `0..=MAX_WAITING`.
    ///
    /// Default: [`DEFAULT_MAX_WAITING`] (0).
    pub max_waiting: u32,
    /// How long a call may wait for a slot.
    ///
    /// Default: [`DEFAULT_MAX_WAIT`] (0).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_wait: Duration,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_waiting: DEFAULT_MAX_WAITING,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl BulkheadConfig {
    /// Checks every setting; the error names the bulkhead `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        self.check(&Validate::new(COMPONENT, name), "")
    }

    pub(crate) fn check(&self, check: &Validate<'_>, prefix: &str) -> Result<(), ConfigError> {
        let field = |name: &str| format!("{prefix}{name}");
        check.non_zero(field("max_concurrent"), self.max_concurrent)?;
        limit(
            check,
            field("max_concurrent"),
            self.max_concurrent,
            MAX_CONCURRENT,
        )?;
        limit(check, field("max_waiting"), self.max_waiting, MAX_WAITING)?;
        // A queue needs both: room to wait and time to wait. Either alone does nothing.
        if self.max_waiting > 0 && self.max_wait.is_zero() {
            return Err(check.error(
                field("max_waiting"),
                self.max_waiting,
                "does nothing while max_wait is 0 (no call may wait): set max_wait too, or max_waiting = 0",
            ));
        }
        if self.max_waiting == 0 && !self.max_wait.is_zero() {
            return Err(check.error(
                field("max_wait"),
                self.max_wait,
                "does nothing while max_waiting is 0 (no call may wait): set max_waiting too, or max_wait = 0",
            ));
        }
        Ok(())
    }
}

pub(crate) fn limit(
    check: &Validate<'_>,
    field: String,
    value: u32,
    max: u32,
) -> Result<(), ConfigError> {
    if value > max {
        return Err(check.error(field, value, format!("must be at most {max}")));
    }
    Ok(())
}

/// Settings of [`Partitions`]: a bulkhead per named partition, and spare capacity any
/// partition may borrow when its own is used up.
///
/// # Examples
///
/// ```
/// use hardy_bulkhead::{BulkheadConfig, PartitionsConfig};
///
/// let mut config = PartitionsConfig { spare: 2, ..PartitionsConfig::default() };
/// config.partitions.insert("sensor".into(), BulkheadConfig { max_concurrent: 4, ..BulkheadConfig::default() });
/// config.partitions.insert("actuator".into(), BulkheadConfig { max_concurrent: 0, ..BulkheadConfig::default() });
/// assert_eq!(
///     config.validate("plantos").unwrap_err().to_string(),
///     "bulkhead \"plantos\": partitions.actuator.max_concurrent = 0: must be greater than zero",
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct PartitionsConfig {
    /// Each partition's own settings, by name.
    ///
    /// Default: none.
    pub partitions: BTreeMap<String, BulkheadConfig>,
    /// Slots shared by all partitions, borrowed by a call whose partition is full (it
    /// does not wait for one); `0..=MAX_CONCURRENT`.
    ///
    /// Default: 0.
    pub spare: u32,
}

impl PartitionsConfig {
    /// Checks every partition and the spare capacity.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range, its field prefixed with
    /// `partitions.<name>.`.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        for (partition, config) in &self.partitions {
            config.check(&check, &format!("partitions.{partition}."))?;
        }
        limit(&check, "spare".into(), self.spare, MAX_CONCURRENT)
    }
}

/// Builds a [`Bulkhead`]; made by [`Bulkhead::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_bulkhead::Bulkhead;
///
/// let pumps = Bulkhead::builder("actuators")
///     .max_concurrent(1)
///     .max_waiting(4)
///     .max_wait(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(pumps.stats().max_concurrent, 1);
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct BulkheadBuilder {
    name: Name,
    config: BulkheadConfig,
    listener: Listener<BulkheadEvent>,
}

impl BulkheadBuilder {
    pub(crate) fn new(name: Name) -> Self {
        BulkheadBuilder {
            name,
            config: BulkheadConfig::default(),
            listener: Listener::none(),
        }
    }

    /// Calls that run at once. Default: [`DEFAULT_MAX_CONCURRENT`] (10).
    pub fn max_concurrent(mut self, max_concurrent: u32) -> Self {
        self.config.max_concurrent = max_concurrent;
        self
    }

    /// Calls that may wait for a slot. Default: [`DEFAULT_MAX_WAITING`] (0).
    pub fn max_waiting(mut self, max_waiting: u32) -> Self {
        self.config.max_waiting = max_waiting;
        self
    }

    /// How long a call may wait for a slot. Default: [`DEFAULT_MAX_WAIT`] (0).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: BulkheadConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`BulkheadEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&BulkheadEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<BulkheadEvent>) -> Self {
        self.listener = listener;
        self
    }

    /// Validates the settings and builds the handle.
    ///
    /// Metric handles are registered here, with the `metrics` recorder installed at this
    /// moment.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(Bulkhead::from_parts(
            self.name,
            &self.config,
            None,
            self.listener,
        ))
    }
}

/// Builds [`Partitions`]; made by [`Partitions::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct PartitionsBuilder {
    name: Name,
    config: PartitionsConfig,
    listener: Listener<BulkheadEvent>,
}

impl PartitionsBuilder {
    pub(crate) fn new(name: Name) -> Self {
        PartitionsBuilder {
            name,
            config: PartitionsConfig::default(),
            listener: Listener::none(),
        }
    }

    /// Adds (or replaces) the partition `partition` running at most `max_concurrent`
    /// calls at once and refusing when full.
    pub fn partition(self, partition: impl Into<String>, max_concurrent: u32) -> Self {
        self.partition_config(
            partition,
            BulkheadConfig {
                max_concurrent,
                ..BulkheadConfig::default()
            },
        )
    }

    /// Adds (or replaces) the partition `partition` with every setting of `config`.
    pub fn partition_config(
        mut self,
        partition: impl Into<String>,
        config: BulkheadConfig,
    ) -> Self {
        self.config.partitions.insert(partition.into(), config);
        self
    }

    /// Slots any partition may borrow when its own are used up. Default: 0.
    pub fn spare(mut self, spare: u32) -> Self {
        self.config.spare = spare;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: PartitionsConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with the [`BulkheadEvent`]s of every partition. Default: no
    /// listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&BulkheadEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Validates the settings and builds the partitions.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<Partitions, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(Partitions::from_parts(
            self.name,
            &self.config,
            self.listener,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_rejects_its_bad_value() {
        let error = |config: BulkheadConfig| config.validate("b").unwrap_err().to_string();
        assert_eq!(
            error(BulkheadConfig {
                max_concurrent: 0,
                ..BulkheadConfig::default()
            }),
            "bulkhead \"b\": max_concurrent = 0: must be greater than zero"
        );
        assert_eq!(
            error(BulkheadConfig {
                max_concurrent: MAX_CONCURRENT + 1,
                ..BulkheadConfig::default()
            }),
            format!(
                "bulkhead \"b\": max_concurrent = {}: must be at most {MAX_CONCURRENT}",
                MAX_CONCURRENT + 1
            )
        );
        assert_eq!(
            error(BulkheadConfig {
                max_waiting: MAX_WAITING + 1,
                ..BulkheadConfig::default()
            }),
            format!(
                "bulkhead \"b\": max_waiting = {}: must be at most {MAX_WAITING}",
                MAX_WAITING + 1
            )
        );
        // A queue with room but no time to wait, or time but no room, does nothing.
        assert_eq!(
            error(BulkheadConfig {
                max_waiting: 4,
                ..BulkheadConfig::default()
            }),
            "bulkhead \"b\": max_waiting = 4: does nothing while max_wait is 0 (no call may wait): set max_wait too, or max_waiting = 0"
        );
        assert_eq!(
            error(BulkheadConfig {
                max_wait: Duration::from_secs(1),
                ..BulkheadConfig::default()
            }),
            "bulkhead \"b\": max_wait = 1s: does nothing while max_waiting is 0 (no call may wait): set max_waiting too, or max_wait = 0"
        );
        let spare = PartitionsConfig {
            spare: MAX_CONCURRENT + 1,
            ..PartitionsConfig::default()
        };
        assert_eq!(spare.validate("p").unwrap_err().field(), "spare");
        assert!(BulkheadConfig::default().validate("b").is_ok());
        assert!(Bulkhead::builder("b").max_concurrent(0).build().is_err());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn partitions_load_from_toml_and_unknown_keys_are_errors() {
        let config: PartitionsConfig = toml::from_str(
            r#"
            spare = 2
            [partitions.sensor]
            max_concurrent = 4
            max_waiting = 8
            max_wait = "2s"
            [partitions.actuator]
            max_concurrent = 1
            "#,
        )
        .expect("valid");
        assert_eq!(config.spare, 2);
        assert_eq!(
            config.partitions["sensor"],
            BulkheadConfig {
                max_concurrent: 4,
                max_waiting: 8,
                max_wait: Duration::from_secs(2),
            }
        );
        assert_eq!(
            config.partitions["actuator"].max_waiting,
            DEFAULT_MAX_WAITING
        );
        assert!(toml::from_str::<BulkheadConfig>("max_concurent = 3").is_err());
        assert!(toml::from_str::<PartitionsConfig>("spares = 3").is_err());
    }
}

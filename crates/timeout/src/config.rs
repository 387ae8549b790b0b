//! Configs and builders: [`TimeoutConfig`], [`OperationTimeoutsConfig`].

use std::collections::BTreeMap;
use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Validate};

use crate::{OperationTimeouts, Timeout, TimeoutEvent};

/// The time limit of a [`Timeout`] unless set: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The limit for operations an [`OperationTimeouts`] table does not list, unless set:
/// 30 seconds.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = DEFAULT_TIMEOUT;

pub(crate) const COMPONENT: &str = "timeout";

/// The settings of one [`Timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_timeout::{Timeout, TimeoutConfig};
///
/// let config = TimeoutConfig { timeout: Duration::from_secs(5) };
/// config.validate("soil-read")?;
/// let timeout = Timeout::from_config("soil-read", config)?;
/// assert_eq!(timeout.duration(), Duration::from_secs(5));
///
/// let zero = TimeoutConfig { timeout: Duration::ZERO };
/// assert_eq!(
///     zero.validate("soil-read").unwrap_err().to_string(),
///     "timeout \"soil-read\": timeout = 0ns: must be greater than zero",
/// );
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct TimeoutConfig {
    /// How long a call may run before it is abandoned with
    /// [`Rejection::Timeout`](hardy_core::Rejection::Timeout). Must be greater than zero.
    /// A limit too large to add to the current time never fires.
    ///
    /// Default: [`DEFAULT_TIMEOUT`] (30 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub timeout: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl TimeoutConfig {
    /// Checks every setting; the error names the timeout `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `timeout` is zero.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        Validate::new(COMPONENT, name).non_zero_duration("timeout", self.timeout)
    }
}

/// Builds a [`Timeout`]; made by [`Timeout::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_timeout::Timeout;
///
/// let timeout = Timeout::builder("pump-1")
///     .timeout(Duration::from_secs(2))
///     .on_event(|event| eprintln!("{event:?}"))
///     .build()?;
/// assert_eq!(timeout.name(), "pump-1");
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct TimeoutBuilder {
    name: Name,
    config: TimeoutConfig,
    listener: Listener<TimeoutEvent>,
}

impl TimeoutBuilder {
    pub(crate) fn new(name: Name) -> Self {
        TimeoutBuilder {
            name,
            config: TimeoutConfig::default(),
            listener: Listener::none(),
        }
    }

    /// How long a call may run. Default: [`DEFAULT_TIMEOUT`] (30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: TimeoutConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`TimeoutEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&TimeoutEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<TimeoutEvent>) -> Self {
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
    pub fn build(self) -> Result<Timeout, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(Timeout::from_parts(self.name, self.config, self.listener))
    }
}

/// The settings of an [`OperationTimeouts`] table: a limit per named operation and a
/// default for the rest, each the limit of one attempt; and, for the operations that
/// need one, a limit of the whole operation, all its attempts and the waits between
/// them together.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_timeout::OperationTimeoutsConfig;
///
/// let mut config = OperationTimeoutsConfig::default();
/// config.operations.insert("ec2_run_instances".into(), Duration::from_secs(180));
/// config.operations.insert("ec2_terminate_instances".into(), Duration::ZERO);
/// assert_eq!(
///     config.validate("aws").unwrap_err().to_string(),
///     "timeout \"aws\": operations.ec2_terminate_instances = 0ns: must be greater than zero",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct OperationTimeoutsConfig {
    /// The limit of an operation that `operations` does not list. Must be greater than
    /// zero.
    ///
    /// Default: [`DEFAULT_OPERATION_TIMEOUT`] (30 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub default: Duration,
    /// The limit of each named operation. Each must be greater than zero.
    ///
    /// Default: empty.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration::map"))]
    pub operations: BTreeMap<String, Duration>,
    /// The limit of each named operation as a whole: its attempts, the delays between
    /// them and the waits for admission together, counted from its call
    /// (`ec2_run_instances` 3 minutes, each attempt 2). Each must be greater than zero.
    /// An operation not listed has no such limit.
    ///
    /// Default: empty.
    #[cfg_attr(
        feature = "serde",
        serde(
            with = "hardy_core::duration::map",
            skip_serializing_if = "BTreeMap::is_empty"
        )
    )]
    pub overall: BTreeMap<String, Duration>,
}

impl Default for OperationTimeoutsConfig {
    fn default() -> Self {
        OperationTimeoutsConfig {
            default: DEFAULT_OPERATION_TIMEOUT,
            operations: BTreeMap::new(),
            overall: BTreeMap::new(),
        }
    }
}

impl OperationTimeoutsConfig {
    /// Checks every setting; the error names the table `name`, the field
    /// (`default`, `operations.<operation>` or `overall.<operation>`) and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first limit that is zero.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.non_zero_duration("default", self.default)?;
        for (operation, limit) in &self.operations {
            check.non_zero_duration(format!("operations.{operation}"), *limit)?;
        }
        for (operation, limit) in &self.overall {
            check.non_zero_duration(format!("overall.{operation}"), *limit)?;
        }
        Ok(())
    }
}

/// Builds an [`OperationTimeouts`] table; made by [`OperationTimeouts::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct OperationTimeoutsBuilder {
    name: Name,
    config: OperationTimeoutsConfig,
    listener: Listener<TimeoutEvent>,
}

impl OperationTimeoutsBuilder {
    pub(crate) fn new(name: Name) -> Self {
        OperationTimeoutsBuilder {
            name,
            config: OperationTimeoutsConfig::default(),
            listener: Listener::none(),
        }
    }

    /// The limit of operations the table does not list. Default:
    /// [`DEFAULT_OPERATION_TIMEOUT`] (30 s).
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.config.default = timeout;
        self
    }

    /// The limit of `operation`, replacing any earlier one.
    pub fn operation(mut self, operation: impl Into<String>, timeout: Duration) -> Self {
        self.config.operations.insert(operation.into(), timeout);
        self
    }

    /// The limit of `operation` as a whole, all its attempts together, replacing any
    /// earlier one. Default: none.
    pub fn overall(mut self, operation: impl Into<String>, limit: Duration) -> Self {
        self.config.overall.insert(operation.into(), limit);
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: OperationTimeoutsConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with the [`TimeoutEvent`]s of every operation's timeout.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&TimeoutEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<TimeoutEvent>) -> Self {
        self.listener = listener;
        self
    }

    /// Validates the settings and builds the table, one [`Timeout`] per operation (named
    /// after it) plus the default one (named after the table), and one per whole-operation
    /// limit (named after the operation with `.overall` added).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<OperationTimeouts, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(OperationTimeouts::from_parts(
            self.name,
            &self.config,
            &self.listener,
        ))
    }
}

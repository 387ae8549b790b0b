//! [`LoadShedConfig`], its parts and [`LoadShedBuilder`].

use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Validate};

use crate::stages::{FairnessConfig, QueueConfig, ThrottleConfig};
use crate::{LoadShedEvent, LoadShedder};

/// Largest concurrency limit.
pub const MAX_LIMIT: u32 = 1 << 24;
/// Most priority levels.
pub const MAX_PRIORITIES: u8 = 16;
/// Largest wait queue.
pub const MAX_WAITING: u32 = 1 << 20;
/// The share each priority level leaves to the levels above it, unless set: 0.2.
pub const DEFAULT_RESERVE: f64 = 0.2;

pub(crate) const COMPONENT: &str = "load_shed";

/// How the concurrency limit is set: fixed, or learned from latency.
///
/// In a policy file the algorithm is a tag beside its settings:
///
/// ```toml
/// [limit]
/// algorithm = "gradient"
/// tolerance = 1.5
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "algorithm", rename_all = "snake_case")
)]
pub enum LimitConfig {
    /// A fixed limit, changed only by [`LoadShedder::set_limit`].
    Fixed(FixedConfig),
    /// Additive increase, multiplicative decrease: grows by `increase` per window while
    /// the limit is used, shrinks by `backoff_ratio` after a window with a failure or a
    /// call slower than `latency_threshold`.
    Aimd(AimdConfig),
    /// The gradient of latency against the minimum latency: shrinks when calls get
    /// slower than `tolerance` × the minimum, grows with headroom when they do not, and
    /// measures the minimum again every `probe_interval`.
    Gradient(GradientConfig),
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig::Gradient(GradientConfig::default())
    }
}

impl LimitConfig {
    /// The limit the shedder starts with.
    #[must_use]
    pub fn initial_limit(&self) -> u32 {
        match self {
            LimitConfig::Fixed(fixed) => fixed.limit,
            LimitConfig::Aimd(aimd) => aimd.initial_limit,
            LimitConfig::Gradient(gradient) => gradient.initial_limit,
        }
    }

    /// The bounds the limit stays within (`1..=MAX_LIMIT` when fixed: it changes only
    /// when set).
    #[must_use]
    pub fn bounds(&self) -> (u32, u32) {
        match self {
            LimitConfig::Fixed(_) => (1, MAX_LIMIT),
            LimitConfig::Aimd(aimd) => (aimd.min_limit, aimd.max_limit),
            LimitConfig::Gradient(gradient) => (gradient.min_limit, gradient.max_limit),
        }
    }

    /// Whether the limit is learned from the calls' latency.
    #[must_use]
    pub fn is_adaptive(&self) -> bool {
        !matches!(self, LimitConfig::Fixed(_))
    }

    fn check(&self, check: &Validate<'_>) -> Result<(), ConfigError> {
        match self {
            LimitConfig::Fixed(fixed) => limit_range(check, "limit.limit", fixed.limit),
            LimitConfig::Aimd(aimd) => aimd.check(check),
            LimitConfig::Gradient(gradient) => gradient.check(check),
        }
    }
}

/// Settings of [`LimitConfig::Fixed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct FixedConfig {
    /// Calls in flight at most, `1..=MAX_LIMIT`. Default: 100.
    pub limit: u32,
}

impl Default for FixedConfig {
    fn default() -> Self {
        FixedConfig { limit: 100 }
    }
}

/// Settings of [`LimitConfig::Aimd`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct AimdConfig {
    /// The limit at start, within `min_limit..=max_limit`. Default: 20.
    pub initial_limit: u32,
    /// The limit never goes below this, `1..`. Default: 1.
    pub min_limit: u32,
    /// The limit never goes above this, `min_limit..=MAX_LIMIT`. Default: 1000.
    pub max_limit: u32,
    /// What the limit is multiplied by after a window with a drop, within `0..1`
    /// (exclusive). Default: 0.9.
    pub backoff_ratio: f64,
    /// What the limit grows by after a window without a drop in which at least half of
    /// it was used, `1..`. Default: 1.
    pub increase: u32,
    /// A call slower than this counts as a drop, like a failure. Default: none (only
    /// failures are drops).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub latency_threshold: Option<Duration>,
    /// How often the limit is updated from the calls that completed meanwhile.
    /// Default: 100 ms.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub window: Duration,
}

impl Default for AimdConfig {
    fn default() -> Self {
        AimdConfig {
            initial_limit: 20,
            min_limit: 1,
            max_limit: 1000,
            backoff_ratio: 0.9,
            increase: 1,
            latency_threshold: None,
            window: DEFAULT_WINDOW,
        }
    }
}

impl AimdConfig {
    fn check(&self, check: &Validate<'_>) -> Result<(), ConfigError> {
        bounds(check, self.initial_limit, self.min_limit, self.max_limit)?;
        if !(self.backoff_ratio > 0.0 && self.backoff_ratio < 1.0) {
            return Err(check.error(
                "limit.backoff_ratio",
                self.backoff_ratio,
                "must be within 0..1, both ends excluded",
            ));
        }
        check.non_zero("limit.increase", self.increase)?;
        if let Some(threshold) = self.latency_threshold {
            check.non_zero_duration("limit.latency_threshold", threshold)?;
        }
        check.non_zero_duration("limit.window", self.window)
    }
}

/// Settings of [`LimitConfig::Gradient`].
///
/// Every `window`, from the calls that completed in it (`rtt` their mean latency,
/// `min_rtt` the minimum measured): while they stay well below the limit (more than
/// `√limit` below), it does not move; when they queue (`rtt > tolerance × min_rtt`) it
/// moves at least half the way towards `limit × tolerance × min_rtt / rtt`; when
/// latency holds and the limit was reached, it grows towards `limit + √limit`, less as
/// latency nears the tolerance. At steady overload the limit settles where calls take
/// about `tolerance` × their unloaded latency. The minimum is measured at start (at
/// `initial_limit`, unless the load fills it) and again every `probe_interval`
/// (± `probe_jitter`), by holding the limit at `min_limit` until `probe_samples` calls
/// admitted meanwhile have completed, so that a service that got slower for good is not
/// squeezed forever.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct GradientConfig {
    /// The limit at start, while the first minimum is measured, within
    /// `min_limit..=max_limit`. Default: 20.
    pub initial_limit: u32,
    /// The limit never goes below this, `1..`; also the limit while a probe holds it.
    /// Default: 3.
    pub min_limit: u32,
    /// The limit never goes above this, `min_limit..=MAX_LIMIT`. Default: 1000.
    pub max_limit: u32,
    /// How much slower than the minimum latency calls may get before the limit shrinks:
    /// a finite number, `1..`. Default: 1.25.
    pub tolerance: f64,
    /// How far the limit moves towards its new value each window, within `0..=1` (zero
    /// excluded). Default: 0.2.
    pub smoothing: f64,
    /// How often the limit is updated from the calls that completed meanwhile.
    /// Default: 100 ms.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub window: Duration,
    /// How often the minimum latency is measured again, longer than `window`.
    /// Default: 60 s.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub probe_interval: Duration,
    /// A random share of `probe_interval` added or taken off each time, so that many
    /// instances do not probe together; within `0..1`. Default: 0.15.
    pub probe_jitter: f64,
    /// Calls whose mean latency is the minimum, `1..`. Default: 25.
    pub probe_samples: u32,
}

/// How often an adaptive limit is updated unless set: 100 ms.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(100);

impl Default for GradientConfig {
    fn default() -> Self {
        GradientConfig {
            initial_limit: 20,
            min_limit: 3,
            max_limit: 1000,
            tolerance: 1.25,
            smoothing: 0.2,
            window: DEFAULT_WINDOW,
            probe_interval: Duration::from_secs(60),
            probe_jitter: 0.15,
            probe_samples: 25,
        }
    }
}

impl GradientConfig {
    fn check(&self, check: &Validate<'_>) -> Result<(), ConfigError> {
        bounds(check, self.initial_limit, self.min_limit, self.max_limit)?;
        if !(self.tolerance.is_finite() && self.tolerance >= 1.0) {
            return Err(check.error(
                "limit.tolerance",
                self.tolerance,
                "must be a finite number of at least 1",
            ));
        }
        check.positive("limit.smoothing", self.smoothing)?;
        check.ratio("limit.smoothing", self.smoothing)?;
        check.non_zero_duration("limit.window", self.window)?;
        if self.probe_interval <= self.window {
            return Err(check.error(
                "limit.probe_interval",
                self.probe_interval,
                format!("must be longer than limit.window ({:?})", self.window),
            ));
        }
        if !(0.0..1.0).contains(&self.probe_jitter) {
            return Err(check.error(
                "limit.probe_jitter",
                self.probe_jitter,
                "must be within 0..1",
            ));
        }
        check.non_zero("limit.probe_samples", self.probe_samples)
    }
}

fn limit_range(check: &Validate<'_>, field: &'static str, value: u32) -> Result<(), ConfigError> {
    check.non_zero(field, value)?;
    if value > MAX_LIMIT {
        return Err(check.error(field, value, format!("must be at most {MAX_LIMIT}")));
    }
    Ok(())
}

fn bounds(check: &Validate<'_>, initial: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    limit_range(check, "limit.min_limit", min)?;
    limit_range(check, "limit.max_limit", max)?;
    check.at_least("limit.max_limit", max, "limit.min_limit", min)?;
    check.at_least("limit.initial_limit", initial, "limit.min_limit", min)?;
    if initial > max {
        return Err(check.error(
            "limit.initial_limit",
            initial,
            format!("must be at most limit.max_limit ({max})"),
        ));
    }
    Ok(())
}

/// Every setting of a [`LoadShedder`].
///
/// A call is admitted while the calls in flight are below its priority's threshold:
/// the limit for priority 0, and for each lower priority `1 − reserve` of the one
/// above it (at least one call), so the lowest priorities are shed first and the top
/// tier keeps a reserved share. Before that, the probabilistic stages (`shed_rate`,
/// `throttle`) and the fairness check may shed it; after it, a call over its threshold
/// waits in the `queue` if there is one, or is shed.
///
/// # Examples
///
/// ```
/// use hardy_load_shed::{LimitConfig, LoadShedConfig, GradientConfig};
///
/// let config = LoadShedConfig {
///     limit: LimitConfig::Gradient(GradientConfig { tolerance: 0.5, ..GradientConfig::default() }),
///     ..LoadShedConfig::default()
/// };
/// assert_eq!(
///     config.validate("api").unwrap_err().to_string(),
///     "load_shed \"api\": limit.tolerance = 0.5: must be a finite number of at least 1",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct LoadShedConfig {
    /// How the concurrency limit is set. Default: [`LimitConfig::Gradient`] with its
    /// defaults.
    pub limit: LimitConfig,
    /// Priority levels, `1..=MAX_PRIORITIES`; priority 0 is the most important, and a
    /// call's priority beyond the last level counts as the last. Default: 1.
    pub priorities: u8,
    /// The share of its threshold each priority level leaves to the levels above it,
    /// within `0..1`; meaningful with two priority levels or more. Default:
    /// [`DEFAULT_RESERVE`] (0.2).
    pub reserve: f64,
    /// Per-client fair shares. Default: none.
    pub fairness: Option<FairnessConfig>,
    /// A wait queue for calls over the limit. Default: none (shed at once).
    pub queue: Option<QueueConfig>,
    /// Client-side adaptive throttling. Default: none.
    pub throttle: Option<ThrottleConfig>,
    /// The share of calls shed at random, within `0..=1` (changeable at run time with
    /// [`LoadShedder::set_shed_rate`]). Default: 0.
    pub shed_rate: f64,
}

impl Default for LoadShedConfig {
    fn default() -> Self {
        LoadShedConfig {
            limit: LimitConfig::default(),
            priorities: 1,
            reserve: DEFAULT_RESERVE,
            fairness: None,
            queue: None,
            throttle: None,
            shed_rate: 0.0,
        }
    }
}

impl LoadShedConfig {
    /// Checks every setting; the error names the shedder `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        self.limit.check(&check)?;
        check.non_zero("priorities", self.priorities)?;
        if self.priorities > MAX_PRIORITIES {
            return Err(check.error(
                "priorities",
                self.priorities,
                format!("must be at most {MAX_PRIORITIES}"),
            ));
        }
        if !(0.0..1.0).contains(&self.reserve) {
            return Err(check.error("reserve", self.reserve, "must be within 0..1"));
        }
        // One level has no level above it to reserve for.
        if self.priorities == 1 && (self.reserve - DEFAULT_RESERVE).abs() > f64::EPSILON {
            return Err(check.error(
                "reserve",
                self.reserve,
                "does nothing with one priority level (nothing above it to reserve for): \
                 set priorities too",
            ));
        }
        if let Some(fairness) = &self.fairness {
            check.ratio("fairness.engage_at", fairness.engage_at)?;
        }
        if let Some(queue) = &self.queue {
            check.non_zero("queue.max_waiting", queue.max_waiting)?;
            if queue.max_waiting > MAX_WAITING {
                return Err(check.error(
                    "queue.max_waiting",
                    queue.max_waiting,
                    format!("must be at most {MAX_WAITING}"),
                ));
            }
            check.non_zero_duration("queue.target", queue.target)?;
            check.at_least(
                "queue.interval",
                queue.interval,
                "queue.target",
                queue.target,
            )?;
        }
        if let Some(throttle) = &self.throttle {
            if !(throttle.k.is_finite() && throttle.k >= 1.0) {
                return Err(check.error(
                    "throttle.k",
                    throttle.k,
                    "must be a finite number of at least 1",
                ));
            }
            check.non_zero_duration("throttle.window", throttle.window)?;
        }
        check.ratio("shed_rate", self.shed_rate)
    }
}

/// Builds a [`LoadShedder`]; made by [`LoadShedder::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_load_shed::{GradientConfig, LoadShedder};
///
/// let api = LoadShedder::builder("api")
///     .gradient(GradientConfig { max_limit: 200, ..GradientConfig::default() })
///     .priorities(3)
///     .fairness(0.8)
///     .queue(32, Duration::from_millis(5), Duration::from_millis(100))
///     .build()?;
/// assert_eq!(api.stats().limit, 20); // measuring the minimum latency at the initial limit
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct LoadShedBuilder {
    name: Name,
    config: LoadShedConfig,
    seed: Option<u64>,
    listener: Listener<LoadShedEvent>,
}

impl LoadShedBuilder {
    pub(crate) fn new(name: Name) -> Self {
        LoadShedBuilder {
            name,
            config: LoadShedConfig::default(),
            seed: None,
            listener: Listener::none(),
        }
    }

    /// A fixed limit of `limit` calls in flight.
    pub fn fixed_limit(mut self, limit: u32) -> Self {
        self.config.limit = LimitConfig::Fixed(FixedConfig { limit });
        self
    }

    /// An AIMD limit.
    pub fn aimd(mut self, aimd: AimdConfig) -> Self {
        self.config.limit = LimitConfig::Aimd(aimd);
        self
    }

    /// A gradient limit (the default, with [`GradientConfig::default`]).
    pub fn gradient(mut self, gradient: GradientConfig) -> Self {
        self.config.limit = LimitConfig::Gradient(gradient);
        self
    }

    /// How the limit is set.
    pub fn limit(mut self, limit: LimitConfig) -> Self {
        self.config.limit = limit;
        self
    }

    /// Priority levels. Default: 1.
    pub fn priorities(mut self, priorities: u8) -> Self {
        self.config.priorities = priorities;
        self
    }

    /// The share each priority level leaves to those above it. Default: 0.2.
    pub fn reserve(mut self, reserve: f64) -> Self {
        self.config.reserve = reserve;
        self
    }

    /// Enforces fair shares per client once `engage_at` × the limit is in use.
    pub fn fairness(mut self, engage_at: f64) -> Self {
        self.config.fairness = Some(FairnessConfig { engage_at });
        self
    }

    /// A CoDel wait queue of at most `max_waiting` calls.
    pub fn queue(mut self, max_waiting: u32, target: Duration, interval: Duration) -> Self {
        self.config.queue = Some(QueueConfig {
            max_waiting,
            target,
            interval,
        });
        self
    }

    /// Client-side adaptive throttling with multiplier `k` over `window`.
    pub fn throttle(mut self, k: f64, window: Duration) -> Self {
        self.config.throttle = Some(ThrottleConfig { k, window });
        self
    }

    /// Sheds this share of calls at random. Default: 0.
    pub fn shed_rate(mut self, shed_rate: f64) -> Self {
        self.config.shed_rate = shed_rate;
        self
    }

    /// Seeds the random draws (shedding and probe jitter), for reproducible runs.
    /// Default: a seed derived from the name.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: LoadShedConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`LoadShedEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&LoadShedEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<LoadShedEvent>) -> Self {
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
    pub fn build(self) -> Result<LoadShedder, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(LoadShedder::from_parts(
            self.name,
            self.config,
            self.seed,
            self.listener,
        ))
    }
}

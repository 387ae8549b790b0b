//! [`ChaosConfig`], [`Latency`], [`InjectedRejection`] and [`ChaosBuilder`].

use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Rejection, ShedReason, Validate};

use crate::{Chaos, ChaosEvent};

/// The rate of every fault unless set: 0 (nothing injected).
pub const DEFAULT_RATE: f64 = 0.0;

/// The delay of an injected latency unless set: 100 milliseconds, fixed.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(100);

/// The retry-after hint of an injected rejection that carries one unless set: 1 second.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

pub(crate) const COMPONENT: &str = "chaos";

/// How long an injected latency lasts: a fixed delay or a draw from a distribution.
///
/// In a policy file the variant is the `distribution` key:
/// `latency = { distribution = "uniform", min = "10ms", max = "250ms" }`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_chaos::Latency;
///
/// let tail = Latency::LogNormal {
///     median: Duration::from_millis(20),
///     p99: Duration::from_millis(400),
///     max: Duration::from_secs(2),
/// };
/// assert!(tail.validate("ec2").is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Latency {
    /// Always `delay`. It must be greater than zero.
    Fixed {
        /// The delay.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        delay: Duration,
    },
    /// Any delay from `min` to `max`, each equally likely. `min <= max`, `max > 0`.
    Uniform {
        /// The shortest delay.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        min: Duration,
        /// The longest delay.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        max: Duration,
    },
    /// Exponentially distributed with mean `mean`, cut at `max` (many short delays, a
    /// few long ones). `0 < mean <= max`.
    Exponential {
        /// The mean delay, before the cut.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        mean: Duration,
        /// The longest delay.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        max: Duration,
    },
    /// Log-normal, as service latencies are: half the delays are below `median`, one in
    /// a hundred above `p99`; cut at `max`. `0 < median <= p99 <= max`.
    LogNormal {
        /// The median delay.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        median: Duration,
        /// The 99th percentile delay, before the cut.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        p99: Duration,
        /// The longest delay.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        max: Duration,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed {
            delay: DEFAULT_LATENCY,
        }
    }
}

/// The standard normal's 99th percentile.
const Z99: f64 = 2.326_347_874_040_841;

impl Latency {
    /// Checks the distribution; the error names the chaos handle `name`, the field
    /// (`latency.max`, …) and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first bad setting.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        match *self {
            Latency::Fixed { delay } => check.non_zero_duration("latency.delay", delay),
            Latency::Uniform { min, max } => {
                check.non_zero_duration("latency.max", max)?;
                if min > max {
                    return Err(check.error(
                        "latency.min",
                        min,
                        format!("must be at most latency.max ({max:?})"),
                    ));
                }
                Ok(())
            }
            Latency::Exponential { mean, max } => {
                check.non_zero_duration("latency.mean", mean)?;
                if mean > max {
                    return Err(check.error(
                        "latency.max",
                        max,
                        format!("must be at least latency.mean ({mean:?})"),
                    ));
                }
                Ok(())
            }
            Latency::LogNormal { median, p99, max } => {
                check.non_zero_duration("latency.median", median)?;
                if p99 < median {
                    return Err(check.error(
                        "latency.p99",
                        p99,
                        format!("must be at least latency.median ({median:?})"),
                    ));
                }
                if max < p99 {
                    return Err(check.error(
                        "latency.max",
                        max,
                        format!("must be at least latency.p99 ({p99:?})"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The delay for two independent uniform draws in `0..1`.
    pub(crate) fn sample(&self, a: f64, b: f64) -> Duration {
        match *self {
            Latency::Fixed { delay } => delay,
            Latency::Uniform { min, max } => min + (max - min).mul_f64(a),
            Latency::Exponential { mean, max } => {
                // Inverse transform: -mean · ln(1 - a), with 1 - a in (0, 1].
                let secs = -mean.as_secs_f64() * (1.0 - a).ln();
                cut(secs, max)
            }
            Latency::LogNormal { median, p99, max } => {
                // Box–Muller for a standard normal draw, then exp(mu + sigma · z).
                let z = (-2.0 * (1.0 - a).ln()).sqrt() * (std::f64::consts::TAU * b).cos();
                let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z99;
                cut(median.as_secs_f64() * (sigma * z).exp(), max)
            }
        }
    }
}

fn cut(secs: f64, max: Duration) -> Duration {
    if secs.is_finite() && secs < max.as_secs_f64() {
        Duration::from_secs_f64(secs.max(0.0))
    } else {
        max
    }
}

/// Which [`Rejection`] an injected rejection is, as if that layer had refused the call.
///
/// The rejection names the chaos handle, so logs tell an injected rejection from a real
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum InjectedRejection {
    /// [`Rejection::CircuitOpen`], with the configured retry-after hint.
    #[default]
    CircuitOpen,
    /// [`Rejection::BulkheadFull`], reporting a full bulkhead of one.
    BulkheadFull,
    /// [`Rejection::Timeout`], reporting no time spent.
    Timeout,
    /// [`Rejection::RateLimited`], with the configured retry-after hint.
    RateLimited,
    /// [`Rejection::Shed`] for overload, with the configured retry-after hint.
    Shed,
    /// [`Rejection::PoolTimeout`], reporting no wait and no cause.
    PoolTimeout,
}

impl InjectedRejection {
    /// The rejection, naming the chaos handle `name`.
    #[must_use]
    pub fn rejection(self, name: &Name, retry_after: Duration) -> Rejection {
        let name = name.clone();
        match self {
            InjectedRejection::CircuitOpen => Rejection::CircuitOpen {
                name,
                retry_after: Some(retry_after),
            },
            InjectedRejection::BulkheadFull => Rejection::BulkheadFull {
                name,
                in_flight: 1,
                max_concurrent: 1,
                waiting: 0,
                max_waiting: 0,
            },
            InjectedRejection::Timeout => Rejection::Timeout {
                name,
                elapsed: Duration::ZERO,
                limit: Duration::ZERO,
            },
            InjectedRejection::RateLimited => Rejection::RateLimited { name, retry_after },
            InjectedRejection::Shed => Rejection::Shed {
                name,
                reason: ShedReason::Overload,
                retry_after: Some(retry_after),
            },
            InjectedRejection::PoolTimeout => Rejection::PoolTimeout {
                name,
                waited: Duration::ZERO,
                last_error: None,
            },
        }
    }
}

/// The settings of one [`Chaos`] handle: what to inject, how often.
///
/// Each call draws one outcome: an injected error with probability `error_rate`, an
/// injected rejection with `rejection_rate`, a wrong-but-`Ok` (corrupted) response with
/// `corrupt_rate`, and otherwise the real call; so the three rates may add up to at
/// most one. Independently, with probability `latency_rate`, the call is first delayed by a
/// draw from `latency`.
///
/// # Examples
///
/// ```
/// use hardy_chaos::ChaosConfig;
///
/// let config = ChaosConfig { error_rate: 0.6, rejection_rate: 0.5, ..ChaosConfig::default() };
/// assert_eq!(
///     config.validate("ec2").unwrap_err().to_string(),
///     "chaos \"ec2\": error_rate + rejection_rate + corrupt_rate = 1.1: must be at most 1",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ChaosConfig {
    /// Whether anything is injected; a disabled handle passes every call through, at
    /// the cost of one atomic load.
    ///
    /// Default: `true`.
    pub enabled: bool,
    /// The share of calls answered with an error from the layer's error maker, without
    /// calling the inner service. Within `0..=1`.
    ///
    /// Default: [`DEFAULT_RATE`] (0).
    pub error_rate: f64,
    /// The share of calls refused with [`rejection`](Self::rejection), without calling
    /// the inner service. Within `0..=1`.
    ///
    /// Default: [`DEFAULT_RATE`] (0).
    pub rejection_rate: f64,
    /// The rejection injected.
    ///
    /// Default: [`InjectedRejection::CircuitOpen`].
    pub rejection: InjectedRejection,
    /// The retry-after hint of an injected rejection that carries one.
    ///
    /// Default: [`DEFAULT_RETRY_AFTER`] (1 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub retry_after: Duration,
    /// The share of calls whose `Ok` response is passed through the layer's corrupter:
    /// a wrong answer that looks right. Within `0..=1`.
    ///
    /// Default: [`DEFAULT_RATE`] (0).
    pub corrupt_rate: f64,
    /// The share of calls delayed by a draw from [`latency`](Self::latency) before
    /// they go on. Within `0..=1`.
    ///
    /// Default: [`DEFAULT_RATE`] (0).
    pub latency_rate: f64,
    /// How long an injected delay lasts.
    ///
    /// Default: [`DEFAULT_LATENCY`] (100 ms, fixed).
    pub latency: Latency,
    /// The seed of the draws. The same seed gives the same sequence of injected faults,
    /// call by call; `None` takes a seed from the operating system.
    ///
    /// Default: `None`.
    pub seed: Option<u64>,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            enabled: true,
            error_rate: DEFAULT_RATE,
            rejection_rate: DEFAULT_RATE,
            rejection: InjectedRejection::default(),
            retry_after: DEFAULT_RETRY_AFTER,
            corrupt_rate: DEFAULT_RATE,
            latency_rate: DEFAULT_RATE,
            latency: Latency::default(),
            seed: None,
        }
    }
}

impl ChaosConfig {
    /// Checks every setting; the error names the chaos handle `name`, the field and the
    /// value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first rate outside `0..=1`, outcome rates adding up to
    /// more than 1, or a bad latency distribution.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.ratio("error_rate", self.error_rate)?;
        check.ratio("rejection_rate", self.rejection_rate)?;
        check.ratio("corrupt_rate", self.corrupt_rate)?;
        check.ratio("latency_rate", self.latency_rate)?;
        let outcomes = self.error_rate + self.rejection_rate + self.corrupt_rate;
        if outcomes > 1.0 + 1e-9 {
            return Err(check.error(
                "error_rate + rejection_rate + corrupt_rate",
                Rounded(outcomes),
                "must be at most 1",
            ));
        }
        self.latency.validate(name)
    }
}

/// Formats a sum of rates without floating-point noise (`1.1`, not
/// `1.1000000000000001`).
struct Rounded(f64);

impl std::fmt::Debug for Rounded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rounded = (self.0 * 1e9).round() / 1e9;
        write!(f, "{rounded}")
    }
}

/// Builds a [`Chaos`] handle; made by [`Chaos::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_chaos::{Chaos, Latency};
///
/// let chaos = Chaos::builder("ec2")
///     .seed(7)
///     .error_rate(0.1)
///     .latency(0.25, Latency::Uniform { min: Duration::from_millis(10), max: Duration::from_millis(300) })
///     .build()?;
/// assert_eq!(chaos.name(), "ec2");
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct ChaosBuilder {
    name: Name,
    config: ChaosConfig,
    listener: Listener<ChaosEvent>,
}

impl ChaosBuilder {
    pub(crate) fn new(name: Name) -> Self {
        ChaosBuilder {
            name,
            config: ChaosConfig::default(),
            listener: Listener::none(),
        }
    }

    /// Whether anything is injected. Default: `true`.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// The share of calls answered with an injected error. Default: 0.
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.config.error_rate = rate;
        self
    }

    /// The share of calls refused with an injected rejection, and which rejection.
    /// Default: 0, [`InjectedRejection::CircuitOpen`].
    pub fn rejection(mut self, rate: f64, rejection: InjectedRejection) -> Self {
        self.config.rejection_rate = rate;
        self.config.rejection = rejection;
        self
    }

    /// The retry-after hint of injected rejections. Default: [`DEFAULT_RETRY_AFTER`].
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config.retry_after = retry_after;
        self
    }

    /// The share of calls whose `Ok` response is corrupted. Default: 0.
    pub fn corrupt_rate(mut self, rate: f64) -> Self {
        self.config.corrupt_rate = rate;
        self
    }

    /// The share of calls delayed, and by how much. Default: 0, 100 ms fixed.
    pub fn latency(mut self, rate: f64, latency: Latency) -> Self {
        self.config.latency_rate = rate;
        self.config.latency = latency;
        self
    }

    /// The seed of the draws. Default: a seed from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: ChaosConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`ChaosEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&ChaosEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<ChaosEvent>) -> Self {
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
    pub fn build(self) -> Result<Chaos, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(Chaos::from_parts(self.name, self.config, self.listener))
    }
}

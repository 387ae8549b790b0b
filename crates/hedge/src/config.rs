//! Configs and the builder: [`HedgeConfig`], [`HedgeDelay`], [`HedgeBuilder`].

use std::time::Duration;

use hardy_breaker::CircuitBreaker;
use hardy_core::{ConfigError, Listener, Name, Validate};
use hardy_retry::{RetryBudget, RetryBudgetConfig};

use crate::{Hedge, HedgeEvent};

/// Most extra attempts a call may make.
pub const MAX_HEDGES: u32 = 8;

/// The share of calls a hedge budget lets hedge, unless set: 0.1 (10 %).
pub const DEFAULT_HEDGE_RATIO: f64 = 0.1;

/// The percentile of recent latencies after which a call is hedged, unless set: 95.
pub const DEFAULT_PERCENTILE: f64 = 95.0;

/// Latencies recorded before a percentile is trusted, unless set: 20.
pub const DEFAULT_MIN_SAMPLES: u64 = 20;

/// How long recorded latencies count, unless set: 10 seconds.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(10);

/// Longest latency the histogram tells apart: an hour (longer ones count as an hour).
pub const MAX_LATENCY: Duration = Duration::from_secs(3_600);

pub(crate) const COMPONENT: &str = "hedge";

/// When a call is hedged: after a fixed delay, or once it has outlived a percentile of
/// recent latencies.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_hedge::HedgeDelay;
///
/// let fixed = HedgeDelay::Fixed { delay: Duration::from_millis(50) };
/// let p95 = HedgeDelay::Percentile {
///     percentile: 95.0,
///     min_samples: 20,
///     period: Duration::from_secs(10),
/// };
/// assert_ne!(fixed, p95);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum HedgeDelay {
    /// Each extra attempt after `delay` more (the first at `delay`, the second at twice
    /// it).
    Fixed {
        /// The delay; greater than zero.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        delay: Duration,
    },
    /// Each extra attempt after the `percentile` of the latencies of recent first
    /// attempts more; no hedging until `min_samples` latencies are known.
    Percentile {
        /// The percentile, within `0 < p < 100`.
        percentile: f64,
        /// Latencies recorded before the percentile is trusted; at least 1.
        min_samples: u64,
        /// How long recorded latencies count: the percentile is read over the last full
        /// period (the current one, during the first); greater than zero.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        period: Duration,
    },
}

impl Default for HedgeDelay {
    /// The 95th percentile of the last 10 seconds, once 20 latencies are known.
    fn default() -> Self {
        HedgeDelay::Percentile {
            percentile: DEFAULT_PERCENTILE,
            min_samples: DEFAULT_MIN_SAMPLES,
            period: DEFAULT_PERIOD,
        }
    }
}

/// Every setting of a [`Hedge`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_hedge::{HedgeConfig, HedgeDelay};
///
/// let config = HedgeConfig { max_hedges: 0, ..HedgeConfig::default() };
/// assert_eq!(
///     config.validate("replicas").unwrap_err().to_string(),
///     "hedge \"replicas\": max_hedges = 0: must be greater than zero",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct HedgeConfig {
    /// When a call is hedged.
    ///
    /// Default: the 95th percentile of recent latencies ([`HedgeDelay::default`]).
    pub delay: HedgeDelay,
    /// Extra attempts a call may make, `1..=MAX_HEDGES`.
    ///
    /// Default: 1.
    pub max_hedges: u32,
    /// The hedge budget of this handle's own: each call deposits `retry_ratio` tokens,
    /// each extra attempt takes one, so extra attempts stay about that share of the
    /// calls. A budget shared with other handles is set on the builder
    /// ([`HedgeBuilder::shared_budget`]) instead. `None`: no budget (only
    /// `max_hedges` bounds the extra load).
    ///
    /// Default: 10 % of calls ([`DEFAULT_HEDGE_RATIO`]), at least 10 a second, at most
    /// 100 saved up.
    pub budget: Option<RetryBudgetConfig>,
    /// Whether the first classified failure ends the call. Otherwise a failure ends the
    /// call only when no other attempt is still running.
    ///
    /// Default: `false`.
    pub first_failure_ends: bool,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        HedgeConfig {
            delay: HedgeDelay::default(),
            max_hedges: 1,
            budget: Some(RetryBudgetConfig {
                retry_ratio: DEFAULT_HEDGE_RATIO,
                ..RetryBudgetConfig::default()
            }),
            first_failure_ends: false,
        }
    }
}

impl HedgeConfig {
    /// Checks every setting; the error names the hedge `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        match self.delay {
            HedgeDelay::Fixed { delay } => check.non_zero_duration("delay.delay", delay)?,
            HedgeDelay::Percentile {
                percentile,
                min_samples,
                period,
            } => {
                if !(percentile > 0.0 && percentile < 100.0) {
                    return Err(check.error(
                        "delay.percentile",
                        percentile,
                        "must be a number within 0 < p < 100",
                    ));
                }
                check.non_zero("delay.min_samples", min_samples)?;
                check.non_zero_duration("delay.period", period)?;
            }
        }
        check.non_zero("max_hedges", self.max_hedges)?;
        if self.max_hedges > MAX_HEDGES {
            return Err(check.error(
                "max_hedges",
                self.max_hedges,
                format!("must be at most {MAX_HEDGES}"),
            ));
        }
        if let Some(budget) = &self.budget {
            budget.validate_within(&check, "budget.")?;
        }
        Ok(())
    }
}

/// Builds a [`Hedge`]; made by [`Hedge::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_hedge::Hedge;
///
/// let hedge = Hedge::builder("replicas")
///     .fixed_delay(Duration::from_millis(20))
///     .max_hedges(2)
///     .build()?;
/// assert_eq!(hedge.config().max_hedges, 2);
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct HedgeBuilder {
    name: Name,
    config: HedgeConfig,
    budget: Option<RetryBudget>,
    breaker: Option<CircuitBreaker>,
    listener: Listener<HedgeEvent>,
}

impl HedgeBuilder {
    pub(crate) fn new(name: Name) -> Self {
        HedgeBuilder {
            name,
            config: HedgeConfig::default(),
            budget: None,
            breaker: None,
            listener: Listener::none(),
        }
    }

    /// When calls are hedged. Default: the 95th percentile of recent latencies.
    pub fn delay(mut self, delay: HedgeDelay) -> Self {
        self.config.delay = delay;
        self
    }

    /// Hedges a call after `delay`, and again after each further `delay`.
    pub fn fixed_delay(mut self, delay: Duration) -> Self {
        self.config.delay = HedgeDelay::Fixed { delay };
        self
    }

    /// Hedges a call once it outlives `percentile` of recent first attempts' latencies
    /// (over the last 10 s, once 20 are known).
    pub fn percentile(mut self, percentile: f64) -> Self {
        self.config.delay = HedgeDelay::Percentile {
            percentile,
            min_samples: DEFAULT_MIN_SAMPLES,
            period: DEFAULT_PERIOD,
        };
        self
    }

    /// Extra attempts a call may make. Default: 1.
    pub fn max_hedges(mut self, max_hedges: u32) -> Self {
        self.config.max_hedges = max_hedges;
        self
    }

    /// Gives the handle a hedge budget of its own. Default: 10 % of calls.
    pub fn budget(mut self, budget: RetryBudgetConfig) -> Self {
        self.config.budget = Some(budget);
        self
    }

    /// No budget: only `max_hedges` bounds the extra attempts.
    pub fn no_budget(mut self) -> Self {
        self.config.budget = None;
        self
    }

    /// Draws extra attempts from `budget`, which other handles (other hedges, retries)
    /// may share. It takes precedence over a budget of the handle's own.
    pub fn shared_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Whether the first classified failure ends the call. Default: `false`.
    pub fn first_failure_ends(mut self, ends: bool) -> Self {
        self.config.first_failure_ends = ends;
        self
    }

    /// Makes no extra attempt while `breaker` is not closed (open, half-open, forced
    /// open): a dependency that is failing gets no more load from hedging.
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.breaker = Some(breaker.clone());
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: HedgeConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`HedgeEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&HedgeEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<HedgeEvent>) -> Self {
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
    pub fn build(self) -> Result<Hedge, ConfigError> {
        self.config.validate(&self.name)?;
        let budget = match (self.budget, &self.config.budget) {
            (Some(shared), _) => Some(shared),
            (None, Some(own)) => Some(RetryBudget::new(self.name.clone(), own.clone())?),
            (None, None) => None,
        };
        Ok(Hedge::from_parts(
            self.name,
            self.config,
            budget,
            self.breaker,
            self.listener,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_out_of_range_is_named_under_the_hedge() {
        let config = HedgeConfig {
            budget: Some(RetryBudgetConfig {
                retry_ratio: f64::NAN,
                ..RetryBudgetConfig::default()
            }),
            ..HedgeConfig::default()
        };
        assert_eq!(
            config.validate("replicas").unwrap_err().to_string(),
            "hedge \"replicas\": budget.retry_ratio = NaN: must be a finite number within 0..=1000"
        );
    }
}

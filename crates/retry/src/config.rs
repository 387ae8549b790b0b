//! [`RetryConfig`], [`RetryBudgetConfig`] and the [`RetryBuilder`].

use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Validate};

use crate::{Backoff, Jitter, Retry, RetryBudget, RetryEvent};

/// Attempts per call, the first included, unless set: 3.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Delay before the first retry of the default backoff: 100 ms.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(100);
/// Growth factor of the default exponential backoff: 2.
pub const DEFAULT_MULTIPLIER: f64 = 2.0;
/// Cap of every delay unless set: 10 s.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);
/// Retries a budget allows per call unless set: 0.1 (10 %).
pub const DEFAULT_BUDGET_RETRY_RATIO: f64 = 0.1;
/// Retries a budget allows per second whatever the traffic, unless set: 10.
pub const DEFAULT_BUDGET_MIN_RETRIES_PER_SECOND: f64 = 10.0;
/// Retries a budget can save up unless set: 100.
pub const DEFAULT_BUDGET_MAX_BALANCE: u32 = 100;
/// Largest `max_balance` of a budget.
pub const MAX_BUDGET_BALANCE: u32 = 1_000_000;
/// Largest `retry_ratio` of a budget.
pub const MAX_BUDGET_RETRY_RATIO: f64 = 1_000.0;
/// Largest `min_retries_per_second` of a budget.
pub const MAX_BUDGET_MIN_RETRIES_PER_SECOND: f64 = 1_000_000.0;

pub(crate) const COMPONENT: &str = "retry";
pub(crate) const BUDGET_COMPONENT: &str = "retry budget";

/// Every setting of a [`Retry`].
///
/// A call is tried up to `max_attempts` times. After a result its classifier marks
/// retryable, the next attempt waits the schedule's delay (`backoff` spread by `jitter`,
/// capped at `max_delay`), or the result's retry-after hint (capped too). No retry is
/// made when the delay would end past the call's deadline (`max_duration`, or a
/// deadline the caller passes), or when the retry budget refuses: the caller then gets
/// the last real result.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_retry::{Backoff, RetryConfig};
///
/// let config = RetryConfig {
///     max_attempts: 5,
///     backoff: Backoff::Exponential { initial: Duration::from_millis(50), multiplier: 0.5 },
///     ..RetryConfig::default()
/// };
/// assert_eq!(
///     config.validate("ec2").unwrap_err().to_string(),
///     "retry \"ec2\": backoff.multiplier = 0.5: must be a finite number of at least 1",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct RetryConfig {
    /// Attempts per call, the first included; at least 1 (`1` never retries).
    ///
    /// Default: [`DEFAULT_MAX_ATTEMPTS`] (3).
    pub max_attempts: u32,
    /// How the delays grow.
    ///
    /// Default: exponential from [`DEFAULT_INITIAL_DELAY`] (100 ms), multiplied by
    /// [`DEFAULT_MULTIPLIER`] (2).
    pub backoff: Backoff,
    /// How the delays are spread.
    ///
    /// Default: [`Jitter::Full`].
    pub jitter: Jitter,
    /// Cap of every delay, jittered or hinted.
    ///
    /// Default: [`DEFAULT_MAX_DELAY`] (10 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_delay: Duration,
    /// Retry once at once, then follow the backoff.
    ///
    /// Default: `false`.
    pub first_retry_immediately: bool,
    /// Time a whole call may take, its attempts and delays together, counted from its
    /// start: no retry is made whose delay would end later (a running attempt is not
    /// cut; a time limit does that). Combined with a deadline the caller passes, the
    /// earlier wins. `None`: no limit but `max_attempts`. Policy files also read it as
    /// `total_budget`.
    ///
    /// Default: `None`.
    #[cfg_attr(
        feature = "serde",
        serde(with = "hardy_core::duration", alias = "total_budget")
    )]
    pub max_duration: Option<Duration>,
    /// When an inner layer refuses a call and says when to come back (an open breaker's
    /// or a rate limit's retry-after), wait that long, capped at `max_delay`, and retry.
    /// Otherwise such a refusal ends the call.
    ///
    /// Default: `false`.
    pub wait_for_retry_after: bool,
    /// A retry budget of this handle's own: how many retries it may make for its calls.
    /// A budget shared with other handles is set on the builder
    /// ([`RetryBuilder::shared_budget`]) instead. `None`: no budget. Policy files also
    /// read it as `budget`.
    ///
    /// Default: `None`.
    #[cfg_attr(feature = "serde", serde(alias = "budget"))]
    pub retry_budget: Option<RetryBudgetConfig>,
    /// Seed of the jitter's random numbers, for reproducible runs; `None` seeds from the
    /// operating system.
    ///
    /// Default: `None`.
    pub seed: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            jitter: Jitter::default(),
            max_delay: DEFAULT_MAX_DELAY,
            first_retry_immediately: false,
            max_duration: None,
            wait_for_retry_after: false,
            retry_budget: None,
            seed: None,
        }
    }
}

impl RetryConfig {
    /// Checks every setting; the error names the retry `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.non_zero("max_attempts", self.max_attempts)?;
        self.backoff.validate(&check)?;
        if let Some(total) = self.max_duration {
            check.non_zero_duration("max_duration", total)?;
        }
        if let Some(budget) = &self.retry_budget {
            budget.validate_within(&check, "retry_budget.")?;
        }
        Ok(())
    }
}

/// Settings of a [`RetryBudget`]: a token bucket that every call fills a little and
/// every retry drains by one, so that retries stay a fraction of the traffic.
///
/// Each call deposits `retry_ratio` tokens, time adds `min_retries_per_second` tokens a
/// second, and the balance never exceeds `max_balance`; a retry needs a whole token.
/// Over any stretch of time, retries are therefore at most `max_balance`, plus
/// `retry_ratio` of the calls, plus `min_retries_per_second` for each second. The
/// budget starts full.
///
/// # Examples
///
/// ```
/// use hardy_retry::RetryBudgetConfig;
///
/// let config = RetryBudgetConfig { retry_ratio: -0.1, ..RetryBudgetConfig::default() };
/// assert_eq!(
///     config.validate("aws").unwrap_err().to_string(),
///     "retry budget \"aws\": retry_ratio = -0.1: must be a finite number within 0..=1000",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct RetryBudgetConfig {
    /// Tokens each call deposits: the share of calls that may be retried, within
    /// `0..=1000` (`0.1` allows one retry per ten calls). Resolution: 0.001.
    ///
    /// Default: [`DEFAULT_BUDGET_RETRY_RATIO`] (0.1).
    pub retry_ratio: f64,
    /// Tokens time adds each second, so that clients with little traffic can still
    /// retry; within `0..=1000000`. Resolution: 0.001.
    ///
    /// Default: [`DEFAULT_BUDGET_MIN_RETRIES_PER_SECOND`] (10).
    pub min_retries_per_second: f64,
    /// Most tokens the budget saves up (and holds at the start):
    /// `1..=MAX_BUDGET_BALANCE`.
    ///
    /// Default: [`DEFAULT_BUDGET_MAX_BALANCE`] (100).
    pub max_balance: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            retry_ratio: DEFAULT_BUDGET_RETRY_RATIO,
            min_retries_per_second: DEFAULT_BUDGET_MIN_RETRIES_PER_SECOND,
            max_balance: DEFAULT_BUDGET_MAX_BALANCE,
        }
    }
}

impl RetryBudgetConfig {
    /// Checks every setting; the error names the budget `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        self.validate_within(&Validate::new(BUDGET_COMPONENT, name), "")
    }

    /// Checks every setting as part of another handle's settings (a retry's, a
    /// hedge's): the error names `check`'s handle, and each field under `prefix`
    /// (`"retry_budget."`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate_within(&self, check: &Validate<'_>, prefix: &str) -> Result<(), ConfigError> {
        let field = |name: &str| format!("{prefix}{name}");
        if !(self.retry_ratio.is_finite()
            && (0.0..=MAX_BUDGET_RETRY_RATIO).contains(&self.retry_ratio))
        {
            return Err(check.error(
                field("retry_ratio"),
                self.retry_ratio,
                "must be a finite number within 0..=1000",
            ));
        }
        if !(self.min_retries_per_second.is_finite()
            && (0.0..=MAX_BUDGET_MIN_RETRIES_PER_SECOND).contains(&self.min_retries_per_second))
        {
            return Err(check.error(
                field("min_retries_per_second"),
                self.min_retries_per_second,
                "must be a finite number within 0..=1000000",
            ));
        }
        check.non_zero(field("max_balance"), self.max_balance)?;
        if self.max_balance > MAX_BUDGET_BALANCE {
            return Err(check.error(
                field("max_balance"),
                self.max_balance,
                format!("must be at most {MAX_BUDGET_BALANCE}"),
            ));
        }
        Ok(())
    }
}

/// Builds a [`Retry`]; made by [`Retry::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_retry::{Backoff, Jitter, Retry, RetryBudget, RetryBudgetConfig};
///
/// let budget = RetryBudget::new("aws", RetryBudgetConfig::default())?;
/// let retry = Retry::builder("ec2_run_instances")
///     .max_attempts(5)
///     .backoff(Backoff::Exponential { initial: Duration::from_millis(200), multiplier: 2.0 })
///     .jitter(Jitter::Decorrelated)
///     .max_delay(Duration::from_secs(5))
///     .max_duration(Duration::from_secs(20))
///     .shared_budget(budget)
///     .build()?;
/// assert_eq!(retry.name(), "ec2_run_instances");
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct RetryBuilder {
    name: Name,
    config: RetryConfig,
    budget: Option<RetryBudget>,
    listener: Listener<RetryEvent>,
}

impl RetryBuilder {
    pub(crate) fn new(name: Name) -> Self {
        RetryBuilder {
            name,
            config: RetryConfig::default(),
            budget: None,
            listener: Listener::none(),
        }
    }

    /// Attempts per call, the first included. Default: [`DEFAULT_MAX_ATTEMPTS`] (3).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.max_attempts = max_attempts;
        self
    }

    /// How the delays grow. Default: exponential from 100 ms, doubling.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// How the delays are spread. Default: [`Jitter::Full`].
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// Cap of every delay. Default: [`DEFAULT_MAX_DELAY`] (10 s).
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.config.max_delay = max_delay;
        self
    }

    /// Retry once at once, then follow the backoff. Default: `false`.
    pub fn first_retry_immediately(mut self, immediately: bool) -> Self {
        self.config.first_retry_immediately = immediately;
        self
    }

    /// Time a whole call may take; no retry is made whose delay would end later.
    /// Default: no limit.
    pub fn max_duration(mut self, total: Duration) -> Self {
        self.config.max_duration = Some(total);
        self
    }

    /// Wait for an inner layer's retry-after hint (an open breaker, a rate limit) and
    /// retry, instead of giving up. Default: `false`.
    pub fn wait_for_retry_after(mut self, wait: bool) -> Self {
        self.config.wait_for_retry_after = wait;
        self
    }

    /// Gives the handle a retry budget of its own, made at build. Default: no budget.
    pub fn retry_budget(mut self, budget: RetryBudgetConfig) -> Self {
        self.config.retry_budget = Some(budget);
        self
    }

    /// Draws retries from `budget`, which other handles may share. It takes precedence
    /// over a budget of the handle's own. Default: no budget.
    pub fn shared_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Seeds the jitter's random numbers. Default: seeded from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: RetryConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`RetryEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&RetryEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<RetryEvent>) -> Self {
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
    pub fn build(self) -> Result<Retry, ConfigError> {
        self.config.validate(&self.name)?;
        let budget = match (self.budget, &self.config.retry_budget) {
            (Some(shared), _) => Some(shared),
            (None, Some(own)) => Some(RetryBudget::new(self.name.clone(), own.clone())?),
            (None, None) => None,
        };
        Ok(Retry::from_parts(
            self.name,
            self.config,
            budget,
            self.listener,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(config: RetryConfig) -> String {
        config.validate("r").unwrap_err().to_string()
    }

    #[test]
    fn every_rule_rejects_its_bad_value() {
        assert_eq!(
            error(RetryConfig {
                max_attempts: 0,
                ..RetryConfig::default()
            }),
            "retry \"r\": max_attempts = 0: must be greater than zero"
        );
        for multiplier in [0.99, f64::NAN, f64::INFINITY, -2.0] {
            let message = error(RetryConfig {
                backoff: Backoff::Exponential {
                    initial: DEFAULT_INITIAL_DELAY,
                    multiplier,
                },
                ..RetryConfig::default()
            });
            assert!(
                message.starts_with(&format!("retry \"r\": backoff.multiplier = {multiplier}")),
                "{message}"
            );
        }
        assert_eq!(
            error(RetryConfig {
                max_duration: Some(Duration::ZERO),
                ..RetryConfig::default()
            }),
            "retry \"r\": max_duration = 0ns: must be greater than zero"
        );
        let budget = |budget| {
            error(RetryConfig {
                retry_budget: Some(budget),
                ..RetryConfig::default()
            })
        };
        assert_eq!(
            budget(RetryBudgetConfig {
                retry_ratio: f64::NAN,
                ..RetryBudgetConfig::default()
            }),
            "retry \"r\": retry_budget.retry_ratio = NaN: must be a finite number within 0..=1000"
        );
        assert_eq!(
            budget(RetryBudgetConfig {
                retry_ratio: 1_000.5,
                ..RetryBudgetConfig::default()
            }),
            "retry \"r\": retry_budget.retry_ratio = 1000.5: must be a finite number within 0..=1000"
        );
        assert_eq!(
            budget(RetryBudgetConfig {
                min_retries_per_second: -1.0,
                ..RetryBudgetConfig::default()
            }),
            "retry \"r\": retry_budget.min_retries_per_second = -1.0: must be a finite number within 0..=1000000"
        );
        assert_eq!(
            budget(RetryBudgetConfig {
                max_balance: 0,
                ..RetryBudgetConfig::default()
            }),
            "retry \"r\": retry_budget.max_balance = 0: must be greater than zero"
        );
        assert_eq!(
            budget(RetryBudgetConfig {
                max_balance: MAX_BUDGET_BALANCE + 1,
                ..RetryBudgetConfig::default()
            }),
            "retry \"r\": retry_budget.max_balance = 1000001: must be at most 1000000"
        );
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let config = RetryConfig::default();
        assert!(config.validate("r").is_ok());
        assert_eq!(config.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(config.backoff.initial(), DEFAULT_INITIAL_DELAY);
        assert_eq!(config.max_delay, DEFAULT_MAX_DELAY);
        assert_eq!(config.jitter, Jitter::Full);
        assert!(RetryBudgetConfig::default().validate("b").is_ok());
        assert!(
            RetryConfig {
                max_delay: Duration::ZERO,
                first_retry_immediately: true,
                wait_for_retry_after: true,
                retry_budget: Some(RetryBudgetConfig {
                    retry_ratio: 0.0,
                    min_retries_per_second: 0.0,
                    max_balance: 1,
                }),
                ..RetryConfig::default()
            }
            .validate("r")
            .is_ok()
        );
    }

    #[test]
    fn builder_rejects_bad_values_at_build() {
        let built = Retry::builder("r").max_attempts(0).build();
        assert_eq!(
            built.unwrap_err().field(),
            "max_attempts",
            "the builder validates"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn reads_a_policy_from_toml_and_rejects_unknown_keys() {
        let config: RetryConfig = toml::from_str(
            r#"
            max_attempts = 5
            backoff = { kind = "exponential", initial = "200ms", multiplier = 3.0 }
            jitter = "decorrelated"
            max_delay = "5s"
            max_duration = "20s"
            wait_for_retry_after = true
            retry_budget = { retry_ratio = 0.2, min_retries_per_second = 5.0 }
            "#,
        )
        .expect("a valid policy");
        assert_eq!(
            config,
            RetryConfig {
                max_attempts: 5,
                backoff: Backoff::Exponential {
                    initial: Duration::from_millis(200),
                    multiplier: 3.0,
                },
                jitter: Jitter::Decorrelated,
                max_delay: Duration::from_secs(5),
                max_duration: Some(Duration::from_secs(20)),
                wait_for_retry_after: true,
                retry_budget: Some(RetryBudgetConfig {
                    retry_ratio: 0.2,
                    min_retries_per_second: 5.0,
                    ..RetryBudgetConfig::default()
                }),
                ..RetryConfig::default()
            }
        );
        let back: RetryConfig =
            toml::from_str(&toml::to_string(&config).expect("serializes")).expect("reads back");
        assert_eq!(back, config);
        let older: RetryConfig = toml::from_str(
            r#"
            max_attempts = 5
            backoff = { kind = "exponential", initial = "200ms", multiplier = 3.0 }
            jitter = "decorrelated"
            max_delay = "5s"
            total_budget = "20s"
            wait_for_retry_after = true
            budget = { retry_ratio = 0.2, min_retries_per_second = 5.0 }
            "#,
        )
        .expect("the older names are still read");
        assert_eq!(older, config);
        for bad in [
            "max_atempts = 5",
            "retry_budget = { ratio = 0.2 }",
            "backoff = { kind = \"constant\", delay = \"1s\", step = \"1s\" }",
            "jitter = \"sometimes\"",
        ] {
            assert!(toml::from_str::<RetryConfig>(bad).is_err(), "{bad}");
        }
    }
}

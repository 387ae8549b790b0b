//! [`RateLimitConfig`] and the builders.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hardy_core::{Backend, ConfigError, Listener, Name, Validate};

use crate::{Clock, Degrade, KeyedRateLimiter, RateLimitEvent, RateLimiter, RateStore};

/// Calls admitted per period unless set: 10.
pub const DEFAULT_LIMIT: u32 = 10;
/// The period of the limit unless set: 1 s.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1);
/// How long a call may wait for its turn unless set: 0 (refused at once).
pub const DEFAULT_MAX_WAIT: Duration = Duration::ZERO;
/// Keys a keyed limiter tracks at most unless set: 10,000.
pub const DEFAULT_MAX_KEYS: usize = 10_000;
/// The longest burst window a limiter accepts (`burst × period / limit`): 100 years.
pub const MAX_BURST_WINDOW: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

pub(crate) const COMPONENT: &str = "rate limit";

/// Every setting of a [`RateLimiter`] or [`KeyedRateLimiter`].
///
/// On average `limit` calls are admitted per `period`, one every `period / limit`; up to
/// `burst` calls may come at once after a quiet spell. A call over the rate waits for
/// its turn if that comes within `max_wait`, and is otherwise refused with
/// [`Rejection::RateLimited`](hardy_core::Rejection::RateLimited), whose `retry_after`
/// says when it would be admitted. The algorithm is GCRA (the generic cell rate
/// algorithm): one timestamp per limiter (or per key), exact, no refill task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_rate_limit::RateLimitConfig;
///
/// // At most 3 waterings an hour per plant, never two at once.
/// let pump = RateLimitConfig {
///     limit: 3,
///     period: Duration::from_secs(3600),
///     burst: Some(1),
///     ..RateLimitConfig::default()
/// };
/// assert!(pump.validate("pump").is_ok());
/// let bad = RateLimitConfig { limit: 0, ..RateLimitConfig::default() };
/// assert_eq!(
///     bad.validate("api").unwrap_err().to_string(),
///     "rate limit \"api\": limit = 0: must be greater than zero",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct RateLimitConfig {
    /// Calls admitted per `period`, at least 1.
    ///
    /// Default: [`DEFAULT_LIMIT`] (10).
    pub limit: u32,
    /// The period of the limit, greater than zero and at least `limit` nanoseconds.
    ///
    /// Default: [`DEFAULT_PERIOD`] (1 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub period: Duration,
    /// Calls that may come at once after a quiet spell, at least 1; `None` means
    /// `limit`.
    ///
    /// Default: `None`.
    pub burst: Option<u32>,
    /// How long a call over the rate may wait for its turn; zero refuses it at once.
    ///
    /// Default: [`DEFAULT_MAX_WAIT`] (0).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_wait: Duration,
    /// Keys a keyed limiter tracks at most (idle keys are forgotten first); at least 1.
    /// Ignored by a direct limiter.
    ///
    /// Default: [`DEFAULT_MAX_KEYS`] (10,000).
    pub max_keys: usize,
    /// Where the limiter reads the time: Tokio's clock, which follows paused time, or
    /// the faster cycle counter, which follows only real time. See [`Clock`].
    ///
    /// Default: [`Clock::Tokio`].
    pub clock: Clock,
    /// Where the limiter's state lives: in the process, or in Redis for a fleet (built
    /// with [`RateLimitBuilder::build_shared`] and a store; a policy file's `[redis]`
    /// section provides it). [`build`](RateLimitBuilder::build) refuses
    /// [`Backend::Redis`], which would silently limit one instance only.
    ///
    /// Default: [`Backend::Local`].
    pub backend: Backend,
    /// For a limiter shared through a store: turns taken from the store in one round
    /// trip, the first for the call that asks and the rest for the next calls of this
    /// instance (which spend them without a round trip), at least 1 and at most
    /// `burst`. 1 leases nothing. Leased turns are dropped one `period` after they are
    /// taken. Leasing cuts round trips up to `lease`-fold; in exchange, the fleet may
    /// admit up to `lease - 1` calls per instance more than the limit in any window
    /// (turns taken before the window and spent in it). Ignored by a limiter kept in
    /// the process.
    ///
    /// Default: 1.
    pub lease: u32,
    /// For a limiter shared through a store: what it does while the store fails;
    /// `None` takes the store's default ([`RateStore::degrade`]: `[redis] degrade` in a
    /// policy file). Ignored by a limiter kept in the process.
    ///
    /// Default: `None` ([`Degrade::Local`] unless the store says otherwise).
    pub degrade: Option<Degrade>,
    /// For a limiter shared through a store: how many instances share the rate, at
    /// least 1; with [`Degrade::Local`], each instance keeps `limit / fleet_size` of it
    /// while the store fails. Ignored by a limiter kept in the process.
    ///
    /// Default: 1.
    pub fleet_size: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            limit: DEFAULT_LIMIT,
            period: DEFAULT_PERIOD,
            burst: None,
            max_wait: DEFAULT_MAX_WAIT,
            max_keys: DEFAULT_MAX_KEYS,
            clock: Clock::Tokio,
            backend: Backend::Local,
            lease: 1,
            degrade: None,
            fleet_size: 1,
        }
    }
}

impl RateLimitConfig {
    /// Checks every setting; the error names the limiter `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.non_zero("limit", self.limit)?;
        check.non_zero_duration("period", self.period)?;
        if (self.period / self.limit).is_zero() {
            return Err(check.error(
                "period",
                self.period,
                format!(
                    "must be at least one nanosecond per call ({} calls)",
                    self.limit
                ),
            ));
        }
        if let Some(burst) = self.burst {
            check.non_zero("burst", burst)?;
        }
        if (self.period / self.limit)
            .checked_mul(self.burst())
            .is_none_or(|window| window > MAX_BURST_WINDOW)
        {
            return Err(check.error(
                "burst",
                self.burst(),
                "must keep burst × period / limit within 100 years",
            ));
        }
        check.non_zero("max_keys", self.max_keys)?;
        check.non_zero("lease", self.lease)?;
        if self.lease > self.burst() {
            return Err(check.error(
                "lease",
                self.lease,
                format!(
                    "must be at most burst ({}): a lease is taken at once",
                    self.burst()
                ),
            ));
        }
        check.non_zero("fleet_size", self.fleet_size)?;
        if self.period.checked_mul(self.fleet_size).is_none() {
            return Err(check.error(
                "fleet_size",
                self.fleet_size,
                "must keep period × fleet_size within a duration's range",
            ));
        }
        Ok(())
    }

    /// The burst, `limit` when not set.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.limit)
    }
}

/// Builds a [`RateLimiter`] or a [`KeyedRateLimiter`]; made by
/// [`RateLimiter::builder`] or [`KeyedRateLimiter::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_rate_limit::RateLimiter;
///
/// let api = RateLimiter::builder("weather-api")
///     .per(100, Duration::from_secs(60))
///     .burst(10)
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(api.config().limit, 100);
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct RateLimitBuilder {
    name: Name,
    config: RateLimitConfig,
    listener: Listener<RateLimitEvent>,
}

impl RateLimitBuilder {
    pub(crate) fn new(name: Name) -> Self {
        RateLimitBuilder {
            name,
            config: RateLimitConfig::default(),
            listener: Listener::none(),
        }
    }

    /// `limit` calls per `period`. Default: 10 per second.
    pub fn per(mut self, limit: u32, period: Duration) -> Self {
        self.config.limit = limit;
        self.config.period = period;
        self
    }

    /// Calls that may come at once. Default: the limit.
    pub fn burst(mut self, burst: u32) -> Self {
        self.config.burst = Some(burst);
        self
    }

    /// How long a call over the rate may wait for its turn. Default: 0 (refused at once).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// Keys a keyed limiter tracks at most. Default: [`DEFAULT_MAX_KEYS`] (10,000).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.config.max_keys = max_keys;
        self
    }

    /// Where the limiter reads the time. Default: [`Clock::Tokio`], which follows
    /// paused time.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config.clock = clock;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: RateLimitConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`RateLimitEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&RateLimitEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// For a limiter shared through a store: turns taken in one round trip (see
    /// [`RateLimitConfig::lease`]). Default: 1 (no lease).
    pub fn lease(mut self, lease: u32) -> Self {
        self.config.lease = lease;
        self
    }

    /// For a limiter shared through a store: what it does while the store fails.
    /// Default: the store's ([`Degrade::Local`] unless it says otherwise).
    pub fn degrade(mut self, degrade: Degrade) -> Self {
        self.config.degrade = Some(degrade);
        self
    }

    /// For a limiter shared through a store: how many instances share the rate.
    /// Default: 1.
    pub fn fleet_size(mut self, fleet_size: u32) -> Self {
        self.config.fleet_size = fleet_size;
        self
    }

    /// Validates the settings and builds a direct limiter.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        self.config.validate(&self.name)?;
        self.kept_here()?;
        Ok(RateLimiter::from_parts(
            self.name,
            self.config,
            self.listener,
            None,
        ))
    }

    /// A limiter built without a store must be meant to be kept in the process.
    fn kept_here(&self) -> Result<(), ConfigError> {
        if self.config.backend == Backend::Local {
            return Ok(());
        }
        Err(Validate::new(COMPONENT, &self.name).error(
            "backend",
            self.config.backend,
            "a limiter kept in a shared store is built with build_shared and the store",
        ))
    }

    /// Validates the settings and builds a direct limiter shared by a fleet through
    /// `store`: every instance built on the same store with the same name shares one
    /// rate. A call is decided by the store in one round trip (or from a leased turn);
    /// while the store fails, per the [`degrade`](Self::degrade) setting.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build_shared(self, store: Arc<dyn RateStore>) -> Result<RateLimiter, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(RateLimiter::from_parts(
            self.name,
            self.config,
            self.listener,
            Some(store),
        ))
    }

    /// Validates the settings and builds a keyed limiter shared by a fleet through
    /// `store`: each key's rate is shared by every instance, the key named in the
    /// store by its text (`Display`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build_keyed_shared<K>(
        self,
        store: Arc<dyn RateStore>,
    ) -> Result<KeyedRateLimiter<K>, ConfigError>
    where
        K: std::hash::Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
    {
        self.config.validate(&self.name)?;
        Ok(KeyedRateLimiter::from_parts(
            self.name,
            self.config,
            self.listener,
            Some((store, K::to_string as fn(&K) -> String)),
        ))
    }

    /// Validates the settings and builds a limiter keeping one rate per key.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build_keyed<K>(self) -> Result<KeyedRateLimiter<K>, ConfigError>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.config.validate(&self.name)?;
        self.kept_here()?;
        Ok(KeyedRateLimiter::from_parts(
            self.name,
            self.config,
            self.listener,
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(config: RateLimitConfig) -> String {
        config.validate("r").unwrap_err().to_string()
    }

    #[test]
    fn every_rule_rejects_its_bad_value() {
        let base = RateLimitConfig::default;
        assert_eq!(
            error(RateLimitConfig { limit: 0, ..base() }),
            "rate limit \"r\": limit = 0: must be greater than zero"
        );
        assert_eq!(
            error(RateLimitConfig {
                period: Duration::ZERO,
                ..base()
            }),
            "rate limit \"r\": period = 0ns: must be greater than zero"
        );
        assert_eq!(
            error(RateLimitConfig {
                limit: 10,
                period: Duration::from_nanos(5),
                ..base()
            }),
            "rate limit \"r\": period = 5ns: must be at least one nanosecond per call (10 calls)"
        );
        assert_eq!(
            error(RateLimitConfig {
                burst: Some(0),
                ..base()
            }),
            "rate limit \"r\": burst = 0: must be greater than zero"
        );
        assert_eq!(
            error(RateLimitConfig {
                limit: 1,
                period: Duration::from_secs(365 * 24 * 3600),
                burst: Some(101),
                ..base()
            }),
            "rate limit \"r\": burst = 101: must keep burst × period / limit within 100 years"
        );
        assert_eq!(
            error(RateLimitConfig {
                max_keys: 0,
                ..base()
            }),
            "rate limit \"r\": max_keys = 0: must be greater than zero"
        );
        assert!(base().validate("r").is_ok());
        assert_eq!(base().burst(), DEFAULT_LIMIT);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn reads_from_toml() {
        let config: RateLimitConfig = toml::from_str(
            r#"
            limit = 3
            period = "1h"
            burst = 1
            "#,
        )
        .expect("valid");
        assert_eq!(config.period, Duration::from_secs(3600));
        assert_eq!(config.burst, Some(1));
        assert!(toml::from_str::<RateLimitConfig>("rate = 3").is_err());
    }
}

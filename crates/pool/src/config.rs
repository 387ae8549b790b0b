//! [`PoolConfig`]: sizes, timeouts and lifecycle of a pool.

use std::fmt;
use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Validate};

use crate::{Manager, Pool, PoolEvent};

/// Objects a pool keeps at most unless set: 10.
pub const DEFAULT_MAX_SIZE: usize = 10;
/// How long `get` may take unless set: 30 s (HikariCP's `connectionTimeout`).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long creating one object may take unless set: 10 s.
pub const DEFAULT_CREATE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long recycling or validating one object may take unless set: 5 s.
pub const DEFAULT_RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle objects beyond `min_idle` are closed after this unless set: 10 minutes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Objects are closed after this age unless set: 30 minutes (HikariCP's `maxLifetime`).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(1800);
/// The share of `max_lifetime` each object's lifetime is shortened by, at random, so
/// that objects created together do not all expire together, unless set: 0.025.
pub const DEFAULT_LIFETIME_JITTER: f64 = 0.025;
/// A good `validate_after_idle`: 500 ms (HikariCP's `aliveBypassWindowMs`).
pub const DEFAULT_VALIDATE_AFTER_IDLE: Duration = Duration::from_millis(500);
/// How often the background task maintains the pool unless set: 30 s.
pub const DEFAULT_MAINTENANCE_EVERY: Duration = Duration::from_secs(30);

pub(crate) const COMPONENT: &str = "pool";

/// Every setting of a [`Pool`](crate::Pool).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_pool::PoolConfig;
///
/// let db = PoolConfig { max_size: 8, min_idle: 2, max_overflow: 4, ..PoolConfig::default() };
/// assert!(db.validate("db").is_ok());
/// let bad = PoolConfig { min_idle: 20, ..db };
/// assert_eq!(
///     bad.validate("db").unwrap_err().to_string(),
///     "pool \"db\": min_idle = 20: must be at most max_size (8)",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct PoolConfig {
    /// Objects the pool keeps at most (idle and in use), at least 1.
    ///
    /// Default: [`DEFAULT_MAX_SIZE`] (10).
    pub max_size: usize,
    /// Idle objects the background task keeps ready, at most `max_size`.
    ///
    /// Default: 0.
    pub min_idle: usize,
    /// Extra objects beyond `max_size` for bursts; each is closed when returned.
    ///
    /// Default: 0.
    pub max_overflow: usize,
    /// How long `get` may take in all (waiting, creating, validating).
    ///
    /// Default: [`DEFAULT_ACQUIRE_TIMEOUT`] (30 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub acquire_timeout: Duration,
    /// How long creating one object may take.
    ///
    /// Default: [`DEFAULT_CREATE_TIMEOUT`] (10 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub create_timeout: Duration,
    /// How long recycling or validating one object may take.
    ///
    /// Default: [`DEFAULT_RECYCLE_TIMEOUT`] (5 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub recycle_timeout: Duration,
    /// Idle objects beyond `min_idle` are closed after this long idle; `None`: never.
    ///
    /// Default: [`DEFAULT_IDLE_TIMEOUT`] (10 min).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub idle_timeout: Option<Duration>,
    /// Objects are closed at this age (less a random `lifetime_jitter` share), never
    /// while in use: checked against the pool's clock as of its last maintenance pass
    /// or slow path, so up to `maintenance_every` late; `None`: never.
    ///
    /// Default: [`DEFAULT_MAX_LIFETIME`] (30 min).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_lifetime: Option<Duration>,
    /// The share of `max_lifetime`, within `0..=1`, each object's lifetime is shortened
    /// by at random.
    ///
    /// Default: [`DEFAULT_LIFETIME_JITTER`] (0.025).
    pub lifetime_jitter: f64,
    /// An object unused for longer is validated ([`Manager::is_valid`]) before it is
    /// handed out; `Some(0)`: always; `None`: never. Every reused object is recycled
    /// ([`Manager::recycle`]) whatever this says, so a cheap check belongs there; this
    /// is for a costlier one. Setting it reads the clock on every checkout.
    ///
    /// Default: `None` ([`DEFAULT_VALIDATE_AFTER_IDLE`], 500 ms, is HikariCP's value).
    ///
    /// [`Manager::is_valid`]: crate::Manager::is_valid
    /// [`Manager::recycle`]: crate::Manager::recycle
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub validate_after_idle: Option<Duration>,
    /// Idle objects are validated by the background task this often (keepalive);
    /// `None`: never.
    ///
    /// Default: `None`.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub keepalive: Option<Duration>,
    /// An object held longer than this is reported as a suspected leak; `None`: never.
    ///
    /// Default: `None`.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub leak_threshold: Option<Duration>,
    /// How often the background task closes idle and expired objects, keeps
    /// `min_idle` ready, runs keepalives and looks for leaks.
    ///
    /// Default: [`DEFAULT_MAINTENANCE_EVERY`] (30 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub maintenance_every: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_size: DEFAULT_MAX_SIZE,
            min_idle: 0,
            max_overflow: 0,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            create_timeout: DEFAULT_CREATE_TIMEOUT,
            recycle_timeout: DEFAULT_RECYCLE_TIMEOUT,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_lifetime: Some(DEFAULT_MAX_LIFETIME),
            lifetime_jitter: DEFAULT_LIFETIME_JITTER,
            validate_after_idle: None,
            keepalive: None,
            leak_threshold: None,
            maintenance_every: DEFAULT_MAINTENANCE_EVERY,
        }
    }
}

impl PoolConfig {
    /// Checks every setting; the error names the pool, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        check.non_zero("max_size", self.max_size)?;
        if self.min_idle > self.max_size {
            return Err(check.error(
                "min_idle",
                self.min_idle,
                format!("must be at most max_size ({})", self.max_size),
            ));
        }
        check.non_zero_duration("acquire_timeout", self.acquire_timeout)?;
        check.non_zero_duration("create_timeout", self.create_timeout)?;
        check.non_zero_duration("recycle_timeout", self.recycle_timeout)?;
        for (field, value) in [
            ("idle_timeout", self.idle_timeout),
            ("max_lifetime", self.max_lifetime),
            ("keepalive", self.keepalive),
            ("leak_threshold", self.leak_threshold),
        ] {
            if let Some(value) = value {
                check.non_zero_duration(field, value)?;
            }
        }
        check.ratio("lifetime_jitter", self.lifetime_jitter)?;
        check.non_zero_duration("maintenance_every", self.maintenance_every)?;
        Ok(())
    }
}

/// Builds a [`Pool`]; made by [`Pool::builder`].
#[must_use = "a builder does nothing until built"]
pub struct PoolBuilder<M> {
    name: Name,
    manager: M,
    config: PoolConfig,
    listener: Listener<PoolEvent>,
}

impl<M> fmt::Debug for PoolBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> PoolBuilder<M> {
    pub(crate) fn new(name: Name, manager: M) -> Self {
        PoolBuilder {
            name,
            manager,
            config: PoolConfig::default(),
            listener: Listener::none(),
        }
    }

    /// Objects kept at most. Default: 10.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.config.max_size = max_size;
        self
    }

    /// Idle objects kept ready. Default: 0.
    pub fn min_idle(mut self, min_idle: usize) -> Self {
        self.config.min_idle = min_idle;
        self
    }

    /// Extra objects for bursts, closed on return. Default: 0.
    pub fn max_overflow(mut self, max_overflow: usize) -> Self {
        self.config.max_overflow = max_overflow;
        self
    }

    /// How long `get` may take. Default: 30 s.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.config.acquire_timeout = timeout;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`PoolEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&PoolEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Validates the settings and builds the pool. Inside a Tokio runtime, this starts
    /// the background maintenance task (which ends when the last handle is dropped);
    /// outside one, there is no maintenance: call [`Pool::maintain`] yourself.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<Pool<M>, ConfigError> {
        self.config.validate(&self.name)?;
        let pool = Pool::from_parts(self.name, self.manager, self.config, self.listener);
        if tokio::runtime::Handle::try_current().is_ok() {
            crate::maintenance::spawn(pool.weak());
        }
        Ok(pool)
    }
}

//! [`RedisConfig`] and its builder.

use std::fmt;
use std::time::Duration;

use hardy_breaker::{BreakerConfig, BreakerEvent};
use hardy_core::{Backend, ConfigError, Listener, Name, Validate};
use hardy_rate_limit::Degrade;

use crate::Redis;

/// The server a handle connects to unless set: a local Redis on its default port.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
/// How long one call to Redis may take unless set: 5 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5);
/// How long one attempt to connect may take unless set: 1 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The first part of every key Hardy writes unless set: `hardy`.
pub const DEFAULT_KEY_PREFIX: &str = "hardy";
/// How often shared breakers read the fleet's state unless set: 1 s.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a half-open probe slot is held at most unless set: 10 s.
pub const DEFAULT_PROBE_LEASE: Duration = Duration::from_secs(10);

pub(crate) const COMPONENT: &str = "redis";

/// Every setting of a [`Redis`] handle: where Redis is, how long a call to it may take,
/// and the breaker that guards it.
///
/// Every call to Redis is bounded by `timeout` and guarded by a circuit breaker
/// (`guard`): while Redis is down or slow, calls fail within the timeout, then at once
/// while the guard is open, and what depends on Redis degrades as its own settings say.
/// The guard's probes find Redis again when it is back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_redis::RedisConfig;
///
/// let config = RedisConfig {
///     url: "redis://cache.internal:6379/0".into(),
///     timeout: Duration::from_millis(20),
///     ..RedisConfig::default()
/// };
/// assert!(config.validate("fleet").is_ok());
/// let bad = RedisConfig { url: "http://cache".into(), ..RedisConfig::default() };
/// assert!(bad.validate("fleet").unwrap_err().to_string().contains("url"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct RedisConfig {
    /// The server: `redis://[user:password@]host[:port][/db]` (or `rediss://` where the
    /// redis crate is built with TLS, `unix:///path`). Ignored when `cluster` is set.
    ///
    /// Default: [`DEFAULT_URL`].
    pub url: String,
    /// The nodes of a Redis Cluster to start from (`redis://host:port` each); empty for
    /// a single server at `url`. Every key Hardy writes is hash-tagged, so what one
    /// script touches lives in one slot.
    ///
    /// Default: empty.
    pub cluster: Vec<String>,
    /// How long one call to Redis may take, round trip and any wait for a connection
    /// included; greater than zero. A caller of a shared handle never waits for Redis
    /// longer than this.
    ///
    /// Default: [`DEFAULT_TIMEOUT`] (5 ms).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub timeout: Duration,
    /// How long one attempt to connect may take, greater than zero. Connections are
    /// made and remade in the background; calls meanwhile fail within `timeout`.
    ///
    /// Default: [`DEFAULT_CONNECT_TIMEOUT`] (1 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub connect_timeout: Duration,
    /// The first part of every key Hardy writes (`<prefix>:{<name>}:rl`), not empty and
    /// without `{` or `}`; instances share state only under the same prefix.
    ///
    /// Default: [`DEFAULT_KEY_PREFIX`].
    pub key_prefix: String,
    /// How often shared breakers read the fleet's state, greater than zero: the
    /// fallback of the changes Redis pushes, which may be lost (pub/sub keeps nothing
    /// for a subscriber that is away). On a Redis Cluster, the only way.
    ///
    /// Default: [`DEFAULT_POLL_INTERVAL`] (1 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub poll_interval: Duration,
    /// How long a shared breaker's half-open probe slot is held at most, greater than
    /// zero: an instance that dies holding one loses it after this long. Longer than
    /// a probe call takes.
    ///
    /// Default: [`DEFAULT_PROBE_LEASE`] (10 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub probe_lease: Duration,
    /// What shared rate limiters that do not say otherwise do while Redis fails.
    ///
    /// Default: [`Degrade::Local`]: this instance's share of the fleet's rate.
    pub degrade: Degrade,
    /// The breaker guarding every call to Redis (kept in the process: its `backend`
    /// must be `local`).
    ///
    /// Default: [`RedisConfig::default_guard`]: open after 3 failures in a row, for
    /// 1 s, doubling up to 30 s while Redis stays down; one probe at a time.
    pub guard: BreakerConfig,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: DEFAULT_URL.to_owned(),
            cluster: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            probe_lease: DEFAULT_PROBE_LEASE,
            degrade: Degrade::Local,
            guard: RedisConfig::default_guard(),
        }
    }
}

impl RedisConfig {
    /// The guard breaker's default settings: open after 3 failures in a row, for 1 s,
    /// doubling up to 30 s while Redis stays down; one probe at a time.
    #[must_use]
    pub fn default_guard() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 3,
            half_open_calls: 1,
            open_for: Duration::from_secs(1),
            open_backoff: 2.0,
            max_open_for: Duration::from_secs(30),
            ..BreakerConfig::default()
        }
    }

    /// Checks every setting; the error names the handle `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        if self.cluster.is_empty() {
            check_url(&check, "url", &self.url)?;
        }
        for (index, node) in self.cluster.iter().enumerate() {
            check_url(&check, format!("cluster[{index}]"), node)?;
        }
        check.non_zero_duration("timeout", self.timeout)?;
        check.non_zero_duration("connect_timeout", self.connect_timeout)?;
        check.non_zero_duration("poll_interval", self.poll_interval)?;
        check.non_zero_duration("probe_lease", self.probe_lease)?;
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}']) {
            return Err(check.error(
                "key_prefix",
                &self.key_prefix,
                "must not be empty nor hold `{` or `}` (they make Redis Cluster hash tags)",
            ));
        }
        if self.guard.backend != Backend::Local {
            return Err(check.error(
                "guard.backend",
                self.guard.backend,
                "the breaker guarding Redis cannot keep its state in Redis",
            ));
        }
        self.guard.validate(name).map_err(|error| {
            check.error(
                format!("guard.{}", error.field()),
                Verbatim(error.value().to_owned()),
                error.reason().to_owned(),
            )
        })
    }
}

/// A value already written for people, shown as it is.
struct Verbatim(String);

impl fmt::Debug for Verbatim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_url(
    check: &Validate<'_>,
    field: impl Into<std::borrow::Cow<'static, str>>,
    url: &str,
) -> Result<(), ConfigError> {
    redis::Client::open(url)
        .map(drop)
        .map_err(|error| check.error(field, url, format!("is not a Redis URL: {error}")))
}

/// Builds a [`Redis`] handle; made by [`Redis::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_redis::Redis;
///
/// let redis = Redis::builder("fleet")
///     .url("redis://127.0.0.1:6379")
///     .timeout(Duration::from_millis(10))
///     .build()?;
/// assert_eq!(redis.config().timeout, Duration::from_millis(10));
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct RedisBuilder {
    name: Name,
    config: RedisConfig,
    guard_listener: Listener<BreakerEvent>,
}

impl RedisBuilder {
    pub(crate) fn new(name: Name) -> Self {
        RedisBuilder {
            name,
            config: RedisConfig::default(),
            guard_listener: Listener::none(),
        }
    }

    /// The server. Default: [`DEFAULT_URL`].
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.config.url = url.into();
        self
    }

    /// The nodes of a Redis Cluster to start from, instead of one server.
    pub fn cluster<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.cluster = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// How long one call to Redis may take. Default: 5 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// How long one attempt to connect may take. Default: 1 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// The first part of every key Hardy writes. Default: `hardy`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.key_prefix = prefix.into();
        self
    }

    /// What shared rate limiters that do not say otherwise do while Redis fails.
    /// Default: [`Degrade::Local`].
    pub fn degrade(mut self, degrade: Degrade) -> Self {
        self.config.degrade = degrade;
        self
    }

    /// How often shared breakers read the fleet's state. Default: 1 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// How long a shared breaker's probe slot is held at most. Default: 10 s.
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.config.probe_lease = lease;
        self
    }

    /// The breaker guarding every call to Redis. Default:
    /// [`RedisConfig::default_guard`].
    pub fn guard(mut self, guard: BreakerConfig) -> Self {
        self.config.guard = guard;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: RedisConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every event of the guard breaker: `StateChanged` to
    /// `Open` when Redis starts failing, back to `Closed` when it answers again, and
    /// `Rejected` for each call refused meanwhile. Default: no listener.
    pub fn on_guard_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&BreakerEvent) + Send + Sync + 'static,
    {
        self.guard_listener = Listener::new(listener);
        self
    }

    /// Validates the settings and builds the handle. Nothing connects yet: the first
    /// call connects, and until Redis answers, calls fail within the timeout.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<Redis, ConfigError> {
        self.config.validate(&self.name)?;
        Redis::from_parts(self.name, self.config, self.guard_listener)
    }
}

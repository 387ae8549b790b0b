//! [`BreakerConfig`], [`Window`] and the [`BreakerBuilder`].

use std::time::Duration;

use hardy_core::{Backend, ConfigError, Listener, Name, Validate};

use crate::{BreakerEvent, CircuitBreaker};

/// Consecutive failures that open the breaker unless set: 5. `0` turns the rule off.
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 5;
/// Failure ratio over the window that opens the breaker unless set: 0.5.
pub const DEFAULT_FAILURE_RATIO: f64 = 0.5;
/// Size of the default count window: the last 100 calls.
pub const DEFAULT_WINDOW_SIZE: u32 = 100;
/// Number of buckets of a time window unless set: 10.
pub const DEFAULT_TIME_BUCKETS: u32 = 10;
/// Calls the window must hold before its ratios are judged unless set: 10.
pub const DEFAULT_MINIMUM_CALLS: u32 = 10;
/// Slow-call ratio that opens the breaker unless set: 1.0 (every call in the window slow).
pub const DEFAULT_SLOW_CALL_RATIO: f64 = 1.0;
/// Probe calls admitted in half-open unless set: 3.
pub const DEFAULT_HALF_OPEN_CALLS: u32 = 3;
/// How long probes may hang in half-open before the breaker reopens, unless set: 60 s.
pub const DEFAULT_MAX_WAIT_IN_HALF_OPEN: Duration = Duration::from_secs(60);
/// How long the breaker stays open unless set: 30 s.
pub const DEFAULT_OPEN_FOR: Duration = Duration::from_secs(30);
/// Growth of the open duration after each failed half-open attempt unless set: 1.0
/// (fixed).
pub const DEFAULT_OPEN_BACKOFF: f64 = 1.0;
/// Cap of the growing open duration unless set: 5 minutes.
pub const DEFAULT_MAX_OPEN_FOR: Duration = Duration::from_secs(300);
/// Random spread of the open duration unless set: 0 (none).
pub const DEFAULT_OPEN_JITTER: f64 = 0.0;

/// Largest count window: 1,048,576 calls.
pub const MAX_WINDOW_SIZE: u32 = 1 << 20;
/// Most buckets of a time window.
pub const MAX_TIME_BUCKETS: u32 = 1_000;
/// Most probe calls in half-open.
pub const MAX_HALF_OPEN_CALLS: u32 = (1 << 24) - 1;

pub(crate) const COMPONENT: &str = "breaker";

/// The sliding window over which failure and slow-call ratios are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Window {
    /// No window: only the consecutive-failures rule can open the breaker.
    Off,
    /// The last `size` calls. Recording costs no clock read.
    Count {
        /// Calls in the window, `1..=MAX_WINDOW_SIZE`.
        size: u32,
    },
    /// The calls of the last `length`, kept in `buckets` fixed buckets of
    /// `length / buckets` each; a whole bucket leaves the window at once.
    Time {
        /// How far back the window reaches.
        #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
        length: Duration,
        /// Buckets the window is split into, `1..=MAX_TIME_BUCKETS`.
        buckets: u32,
    },
}

impl Default for Window {
    fn default() -> Self {
        Window::Count {
            size: DEFAULT_WINDOW_SIZE,
        }
    }
}

/// Every setting of a [`CircuitBreaker`].
///
/// The breaker opens when any rule trips: `consecutive_failures` failures in a row, or,
/// once the window holds `minimum_calls`, a failure ratio of at least `failure_ratio`
/// or a slow-call ratio of at least `slow_call_ratio`. After `open_for` it lets
/// `half_open_calls` probes through, and closes or reopens by their results.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_breaker::{BreakerConfig, Window};
///
/// let config = BreakerConfig {
///     consecutive_failures: 3,
///     window: Window::Time { length: Duration::from_secs(60), buckets: 6 },
///     failure_ratio: 1.5,
///     ..BreakerConfig::default()
/// };
/// assert_eq!(
///     config.validate("soil-1").unwrap_err().to_string(),
///     "breaker \"soil-1\": failure_ratio = 1.5: must be within 0..=1",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct BreakerConfig {
    /// Failures in a row that open the breaker; `0` turns the rule off.
    ///
    /// Default: [`DEFAULT_CONSECUTIVE_FAILURES`] (5).
    pub consecutive_failures: u32,
    /// The window the ratios are computed over.
    ///
    /// Default: the last [`DEFAULT_WINDOW_SIZE`] (100) calls.
    pub window: Window,
    /// Failure ratio over the window at which the breaker opens, within `0..=1`.
    ///
    /// Default: [`DEFAULT_FAILURE_RATIO`] (0.5).
    pub failure_ratio: f64,
    /// Calls the window must hold before a ratio is judged; at least 1, and at most the
    /// size of a count window.
    ///
    /// Default: [`DEFAULT_MINIMUM_CALLS`] (10).
    pub minimum_calls: u32,
    /// A call that takes at least this long is slow; `None` turns slow-call detection
    /// off (and with it every clock read of a count window).
    ///
    /// Default: `None`.
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub slow_call_threshold: Option<Duration>,
    /// Slow-call ratio over the window at which the breaker opens, within `0..=1`.
    ///
    /// Default: [`DEFAULT_SLOW_CALL_RATIO`] (1.0).
    pub slow_call_ratio: f64,
    /// Probe calls admitted in half-open, `1..=MAX_HALF_OPEN_CALLS`; further calls are
    /// rejected until the probes finish.
    ///
    /// Default: [`DEFAULT_HALF_OPEN_CALLS`] (3).
    pub half_open_calls: u32,
    /// How long probes may hang before the breaker gives up on them and reopens; `None`
    /// waits for them however long they take.
    ///
    /// Default: `Some(`[`DEFAULT_MAX_WAIT_IN_HALF_OPEN`]`)` (60 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_wait_in_half_open: Option<Duration>,
    /// How long the breaker stays open before letting probes through; greater than zero.
    ///
    /// Default: [`DEFAULT_OPEN_FOR`] (30 s).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub open_for: Duration,
    /// The open duration is multiplied by this after each failed half-open attempt (`1.0`
    /// keeps it fixed); finite and at least 1.
    ///
    /// Default: [`DEFAULT_OPEN_BACKOFF`] (1.0).
    pub open_backoff: f64,
    /// Cap of the growing open duration; at least `open_for`.
    ///
    /// Default: [`DEFAULT_MAX_OPEN_FOR`] (5 min).
    #[cfg_attr(feature = "serde", serde(with = "hardy_core::duration"))]
    pub max_open_for: Duration,
    /// Random spread of each open duration, within `0..=1`: `0.2` draws it from ±20 %
    /// (never above `max_open_for`), so breakers opened together do not probe together.
    ///
    /// Default: [`DEFAULT_OPEN_JITTER`] (0).
    pub open_jitter: f64,
    /// When a failure's classification carries a retry-after hint (a server's
    /// `Retry-After`), open the breaker at once until then.
    ///
    /// Default: `false`.
    pub honor_retry_after: bool,
    /// Seed of the jitter's random numbers, for reproducible runs; `None` seeds from the
    /// operating system.
    ///
    /// Default: `None`.
    pub seed: Option<u64>,
    /// Where the breaker's state lives: in the process, or in Redis for a fleet (built
    /// with [`BreakerBuilder::build_shared`] and a store; a policy file's `[redis]`
    /// section provides it). [`build`](BreakerBuilder::build) refuses
    /// [`Backend::Redis`], which would silently keep the breaker to one instance.
    ///
    /// Default: [`Backend::Local`].
    pub backend: Backend,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: DEFAULT_CONSECUTIVE_FAILURES,
            window: Window::default(),
            failure_ratio: DEFAULT_FAILURE_RATIO,
            minimum_calls: DEFAULT_MINIMUM_CALLS,
            slow_call_threshold: None,
            slow_call_ratio: DEFAULT_SLOW_CALL_RATIO,
            half_open_calls: DEFAULT_HALF_OPEN_CALLS,
            max_wait_in_half_open: Some(DEFAULT_MAX_WAIT_IN_HALF_OPEN),
            open_for: DEFAULT_OPEN_FOR,
            open_backoff: DEFAULT_OPEN_BACKOFF,
            max_open_for: DEFAULT_MAX_OPEN_FOR,
            open_jitter: DEFAULT_OPEN_JITTER,
            honor_retry_after: false,
            seed: None,
            backend: Backend::Local,
        }
    }
}

impl BreakerConfig {
    /// Checks every setting; the error names the breaker `name`, the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first setting out of range.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        match self.window {
            Window::Off => {}
            Window::Count { size } => {
                check.non_zero("window.size", size)?;
                if size > MAX_WINDOW_SIZE {
                    return Err(check.error(
                        "window.size",
                        size,
                        format!("must be at most {MAX_WINDOW_SIZE}"),
                    ));
                }
                if self.minimum_calls > size {
                    return Err(check.error(
                        "minimum_calls",
                        self.minimum_calls,
                        format!("must be at most window.size ({size})"),
                    ));
                }
            }
            Window::Time { length, buckets } => {
                check.non_zero("window.buckets", buckets)?;
                if buckets > MAX_TIME_BUCKETS {
                    return Err(check.error(
                        "window.buckets",
                        buckets,
                        format!("must be at most {MAX_TIME_BUCKETS}"),
                    ));
                }
                check.non_zero_duration("window.length", length)?;
                if (length / buckets).is_zero() {
                    return Err(check.error(
                        "window.length",
                        length,
                        format!("must be at least one nanosecond per bucket ({buckets} buckets)"),
                    ));
                }
            }
        }
        check.ratio("failure_ratio", self.failure_ratio)?;
        check.non_zero("failure_ratio", self.failure_ratio)?;
        check.non_zero("minimum_calls", self.minimum_calls)?;
        if let Some(threshold) = self.slow_call_threshold {
            check.non_zero_duration("slow_call_threshold", threshold)?;
        }
        check.ratio("slow_call_ratio", self.slow_call_ratio)?;
        check.non_zero("slow_call_ratio", self.slow_call_ratio)?;
        // Without a threshold no call is slow, so a ratio of slow calls does nothing.
        if self.slow_call_threshold.is_none()
            && (self.slow_call_ratio - DEFAULT_SLOW_CALL_RATIO).abs() > f64::EPSILON
        {
            return Err(check.error(
                "slow_call_ratio",
                self.slow_call_ratio,
                "does nothing without slow_call_threshold (no call counts as slow): set it too",
            ));
        }
        if self.window == Window::Off {
            self.check_windowless(&check)?;
        }
        check.non_zero("half_open_calls", self.half_open_calls)?;
        if self.half_open_calls > MAX_HALF_OPEN_CALLS {
            return Err(check.error(
                "half_open_calls",
                self.half_open_calls,
                format!("must be at most {MAX_HALF_OPEN_CALLS}"),
            ));
        }
        if let Some(wait) = self.max_wait_in_half_open {
            check.non_zero_duration("max_wait_in_half_open", wait)?;
        }
        check.non_zero_duration("open_for", self.open_for)?;
        if !(self.open_backoff.is_finite() && self.open_backoff >= 1.0) {
            return Err(check.error(
                "open_backoff",
                self.open_backoff,
                "must be a finite number of at least 1",
            ));
        }
        check.at_least("max_open_for", self.max_open_for, "open_for", self.open_for)?;
        check.ratio("open_jitter", self.open_jitter)?;
        // With a fixed, unjittered open duration nothing can reach the cap.
        if self.max_open_for != DEFAULT_MAX_OPEN_FOR
            && self.open_backoff == DEFAULT_OPEN_BACKOFF
            && self.open_jitter == 0.0
        {
            return Err(check.error(
                "max_open_for",
                self.max_open_for,
                "does nothing while open_backoff is 1 and open_jitter 0 (the open duration \
                 never grows): set open_backoff or open_jitter too",
            ));
        }
        Ok(())
    }

    /// Without a window only `consecutive_failures` opens the breaker: a ratio, a
    /// minimum or a slow-call threshold set for the window would do nothing.
    fn check_windowless(&self, check: &Validate<'_>) -> Result<(), ConfigError> {
        const REASON: &str = "does nothing with window = off (only consecutive_failures \
                              opens the breaker): set a window or remove it";
        if let Some(threshold) = self.slow_call_threshold {
            return Err(check.error("slow_call_threshold", threshold, REASON));
        }
        if (self.failure_ratio - DEFAULT_FAILURE_RATIO).abs() > f64::EPSILON {
            return Err(check.error("failure_ratio", self.failure_ratio, REASON));
        }
        if self.minimum_calls != DEFAULT_MINIMUM_CALLS {
            return Err(check.error("minimum_calls", self.minimum_calls, REASON));
        }
        Ok(())
    }
}

/// Builds a [`CircuitBreaker`]; made by [`CircuitBreaker::builder`]. Every setter
/// documents its default; see [`BreakerConfig`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_breaker::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("soil-1")
///     .consecutive_failures(3)
///     .failure_ratio(0.5)
///     .open_for(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(breaker.name(), "soil-1");
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct BreakerBuilder {
    name: Name,
    config: BreakerConfig,
    listener: Listener<BreakerEvent>,
}

impl BreakerBuilder {
    pub(crate) fn new(name: Name) -> Self {
        BreakerBuilder {
            name,
            config: BreakerConfig::default(),
            listener: Listener::none(),
        }
    }

    /// Failures in a row that open the breaker; `0` turns the rule off. Default: 5.
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.config.consecutive_failures = failures;
        self
    }

    /// The window of the ratio rules. Default: the last 100 calls.
    pub fn window(mut self, window: Window) -> Self {
        self.config.window = window;
        self
    }

    /// A count window of the last `size` calls. Default: 100.
    pub fn count_window(self, size: u32) -> Self {
        self.window(Window::Count { size })
    }

    /// A time window of the last `length`, in `buckets` buckets.
    pub fn time_window(self, length: Duration, buckets: u32) -> Self {
        self.window(Window::Time { length, buckets })
    }

    /// Failure ratio at which the breaker opens. Default: 0.5.
    pub fn failure_ratio(mut self, ratio: f64) -> Self {
        self.config.failure_ratio = ratio;
        self
    }

    /// Calls the window must hold before a ratio is judged. Default: 10.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Calls at least this long are slow, and open the breaker at `ratio`. Default: off.
    pub fn slow_calls(mut self, threshold: Duration, ratio: f64) -> Self {
        self.config.slow_call_threshold = Some(threshold);
        self.config.slow_call_ratio = ratio;
        self
    }

    /// Probe calls admitted in half-open. Default: 3.
    pub fn half_open_calls(mut self, calls: u32) -> Self {
        self.config.half_open_calls = calls;
        self
    }

    /// How long probes may hang before the breaker reopens; `None` waits forever.
    /// Default: 60 s.
    pub fn max_wait_in_half_open(mut self, wait: Option<Duration>) -> Self {
        self.config.max_wait_in_half_open = wait;
        self
    }

    /// How long the breaker stays open. Default: 30 s.
    pub fn open_for(mut self, open_for: Duration) -> Self {
        self.config.open_for = open_for;
        self
    }

    /// Grow the open duration by `multiplier` after each failed half-open attempt, up to
    /// `max`. Default: fixed (1.0), capped at 5 min.
    pub fn open_backoff(mut self, multiplier: f64, max: Duration) -> Self {
        self.config.open_backoff = multiplier;
        self.config.max_open_for = max;
        self
    }

    /// Random spread of the open duration, within `0..=1`. Default: 0.
    pub fn open_jitter(mut self, jitter: f64) -> Self {
        self.config.open_jitter = jitter;
        self
    }

    /// Open at once until a failure's retry-after hint. Default: `false`.
    pub fn honor_retry_after(mut self, honor: bool) -> Self {
        self.config.honor_retry_after = honor;
        self
    }

    /// Seed of the jitter's random numbers. Default: from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: BreakerConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`BreakerEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&BreakerEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Sets the event listener, or removes it with [`Listener::none`].
    pub fn listener(mut self, listener: Listener<BreakerEvent>) -> Self {
        self.listener = listener;
        self
    }

    /// Validates the settings and builds the breaker, registering its metric handles.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.config.validate(&self.name)?;
        if self.config.backend != Backend::Local {
            return Err(Validate::new(COMPONENT, &self.name).error(
                "backend",
                self.config.backend,
                "a breaker kept in a shared store is built with build_shared and the store",
            ));
        }
        Ok(CircuitBreaker::from_parts(
            self.name,
            self.config,
            self.listener,
            None,
        ))
    }

    /// Validates the settings and builds a breaker shared by a fleet through `store`:
    /// a trip here opens the breakers with this name on every instance, and the whole
    /// fleet sends at most `half_open_calls` probes in half-open. Calls are still
    /// counted here; only transitions travel. While the store cannot be reached, the
    /// breaker works on its own.
    ///
    /// The store starts following the fleet at once (with `hardy-redis`, a task on
    /// the current Tokio runtime).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    #[cfg(not(hardy_loom))]
    pub fn build_shared(
        self,
        store: std::sync::Arc<dyn crate::BreakerStore>,
    ) -> Result<CircuitBreaker, ConfigError> {
        self.config.validate(&self.name)?;
        Ok(CircuitBreaker::shared_from_parts(
            self.name,
            self.config,
            self.listener,
            store,
        ))
    }
}

//! The [`CircuitBreaker`] handle: its shared state, settings and direct calls; how
//! calls are admitted and recorded and the state moves is in [`transitions`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use hardy_core::{
    AsRejection, Classify, ConfigError, DefaultClassifier, Listener, Name, Outcome, Rejection,
    Retryability, thread_index,
};
use metrics::{Counter, Gauge};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::fleet::BreakerStore;
use crate::future::CallFuture;
use crate::permit::Pass;
use crate::state::{Mark, Totals, Word};
use crate::stats::{BreakerStats, Counts};
use crate::sync::{Arc, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::window::{CountWindow, TimeWindow};
use crate::{
    BreakerBuilder, BreakerConfig, BreakerEvent, BreakerLayer, BreakerState, TransitionReason,
    Window,
};

/// `hardy_breaker_calls_total{name, outcome}`: calls by outcome (`success`, `failure`,
/// `ignored`, `rejected`).
pub const METRIC_CALLS: &str = "hardy_breaker_calls_total";
/// `hardy_breaker_state{name}`: the current state, as a number (0 closed, 1 open,
/// 2 half-open, 3 forced open, 4 disabled, 5 metrics only).
pub const METRIC_STATE: &str = "hardy_breaker_state";
/// `hardy_breaker_transitions_total{name, to}`: state changes by the state entered.
pub const METRIC_TRANSITIONS: &str = "hardy_breaker_transitions_total";

const STATES: [BreakerState; 6] = [
    BreakerState::Closed,
    BreakerState::Open,
    BreakerState::HalfOpen,
    BreakerState::ForcedOpen,
    BreakerState::Disabled,
    BreakerState::MetricsOnly,
];

/// A circuit breaker: stops calling a dependency that keeps failing, and lets a few
/// probes through after a while to find out whether it has recovered.
///
/// The hot state is one packed atomic word (state, probes admitted, generation) and
/// atomic counters in fixed rings of buckets; a lock is taken only on a transition. A
/// closed breaker admits a call with one atomic load, and records it without a clock
/// read unless a time window or slow-call detection needs one.
///
/// Every admitted call carries the generation it was admitted in: a result that arrives
/// after the breaker moved on is ignored. A probe whose future is dropped frees its slot.
///
/// `CircuitBreaker` is cheap to clone; clones share one state, so one breaker per
/// dependency can guard every caller of it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_breaker::{BreakerState, CircuitBreaker};
/// use hardy_core::Error;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = CircuitBreaker::builder("soil-1")
///     .consecutive_failures(3)
///     .open_for(Duration::from_secs(30))
///     .build()?;
///
/// for _ in 0..3 {
///     let _ = breaker.call(|| async { Err::<f32, _>(std::io::Error::other("no ack")) }).await;
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
///
/// let refused = breaker.call(|| async { Ok::<_, std::io::Error>(0.4) }).await;
/// assert!(matches!(refused, Err(Error::Rejected(r)) if r.is_circuit_open()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    name: Name,
    config: BreakerConfig,
    word: AtomicU64,
    consecutive: AtomicU32,
    window: Ring,
    /// Whether a call's start must be timed (slow-call detection).
    times_calls: bool,
    /// The zero of the nanosecond clocks below.
    epoch: Instant,
    /// When the open state ends, in nanoseconds since `epoch`.
    open_until: AtomicU64,
    /// When the current half-open state began, in nanoseconds since `epoch`.
    half_open_since: AtomicU64,
    control: Mutex<Control>,
    listener: Listener<BreakerEvent>,
    metrics: Metrics,
    pub(crate) tally: Counts,
    /// The store of a breaker shared by a fleet.
    pub(crate) fleet: Option<Fleet>,
}

/// What a shared breaker keeps for its store: the store, and the probes the fleet
/// granted in the current half-open state.
pub(crate) struct Fleet {
    pub(crate) store: std::sync::Arc<dyn BreakerStore>,
    pub(crate) probes: AtomicU32,
}

impl Fleet {
    #[cfg_attr(hardy_loom, allow(dead_code))]
    pub(crate) fn new(store: std::sync::Arc<dyn BreakerStore>) -> Self {
        Fleet {
            store,
            probes: AtomicU32::new(0),
        }
    }
}

/// The window of the ratio rules, as configured.
#[allow(
    clippy::large_enum_variant,
    reason = "one per breaker; boxing the count window would add a pointer chase to every call"
)]
enum Ring {
    Off,
    Count(CountWindow),
    Time(TimeWindow),
}

/// State changed only under the lock, on transitions and half-open probes.
struct Control {
    failed_attempts: u32,
    probe_successes: u32,
    probe_failures: u32,
    probe_slow: u32,
    rng: SmallRng,
}

struct Metrics {
    success: Counter,
    failure: Counter,
    ignored: Counter,
    rejected: Counter,
    state: Gauge,
    transitions: [Counter; 6],
}

impl Metrics {
    fn register(name: &Name) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls through a circuit breaker, by outcome"
        );
        metrics::describe_gauge!(
            METRIC_STATE,
            "Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only"
        );
        metrics::describe_counter!(
            METRIC_TRANSITIONS,
            metrics::Unit::Count,
            "Circuit breaker state changes, by state entered"
        );
        let calls = |outcome: &'static str| metrics::counter!(METRIC_CALLS, "name" => name.to_string(), "outcome" => outcome);
        let metrics = Metrics {
            success: calls("success"),
            failure: calls("failure"),
            ignored: calls("ignored"),
            rejected: calls("rejected"),
            state: metrics::gauge!(METRIC_STATE, "name" => name.to_string()),
            transitions: STATES.map(|to| metrics::counter!(METRIC_TRANSITIONS, "name" => name.to_string(), "to" => to.as_str())),
        };
        metrics.state.set(0.0);
        metrics
    }
}

/// A snapshot of a breaker: its state and what its window holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The breaker's name.
    pub name: Name,
    /// Its state.
    pub state: BreakerState,
    /// Calls in the window.
    pub calls: u32,
    /// Failures in the window.
    pub failures: u32,
    /// Slow calls in the window.
    pub slow_calls: u32,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// How long until an open breaker lets probes through.
    pub retry_after: Option<Duration>,
}

impl BreakerSnapshot {
    /// Failures over calls in the window; 0 when it is empty.
    #[must_use]
    pub fn failure_ratio(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// Slow calls over calls in the window; 0 when it is empty.
    #[must_use]
    pub fn slow_call_ratio(&self) -> f64 {
        ratio(self.slow_calls, self.calls)
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// The start of a call that is not timed.
pub(crate) const NOT_TIMED: u64 = u64::MAX;

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl CircuitBreaker {
    /// Starts building a breaker named `name`; the name labels its metrics, events and
    /// rejections.
    pub fn builder(name: impl Into<Name>) -> BreakerBuilder {
        BreakerBuilder::new(name.into())
    }

    /// A breaker named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(name: impl Into<Name>, config: BreakerConfig) -> Result<Self, ConfigError> {
        CircuitBreaker::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: BreakerConfig,
        listener: Listener<BreakerEvent>,
        fleet: Option<Fleet>,
    ) -> Self {
        let window = match config.window {
            Window::Off => Ring::Off,
            Window::Count { size } => Ring::Count(CountWindow::new(
                size,
                config.slow_call_threshold.is_some(),
                hardy_core::sync::thread_slots(),
            )),
            Window::Time { length, buckets } => Ring::Time(TimeWindow::new(length, buckets)),
        };
        let rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        CircuitBreaker {
            shared: Arc::new(Shared {
                metrics: Metrics::register(&name),
                name,
                times_calls: config.slow_call_threshold.is_some(),
                config,
                word: AtomicU64::new(Word::new(BreakerState::Closed, 0).0),
                consecutive: AtomicU32::new(0),
                window,
                epoch: Instant::now(),
                open_until: AtomicU64::new(0),
                half_open_since: AtomicU64::new(0),
                control: Mutex::new(Control {
                    failed_attempts: 0,
                    probe_successes: 0,
                    probe_failures: 0,
                    probe_slow: 0,
                    rng,
                }),
                listener,
                tally: Counts::new(),
                fleet,
            }),
        }
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The settings the breaker was built with.
    #[must_use]
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// The current state. An open breaker whose open time has ended reports `Open` until
    /// the next call moves it to half-open.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.word().state()
    }

    /// A snapshot of the state and the window.
    #[must_use]
    pub fn snapshot(&self) -> BreakerSnapshot {
        let shared = &*self.shared;
        let state = self.state();
        let totals = self.totals(self.word().generation(), self.since_epoch());
        BreakerSnapshot {
            name: shared.name.clone(),
            state,
            calls: totals.calls,
            failures: totals.failures,
            slow_calls: totals.slow,
            consecutive_failures: shared.consecutive.load(Ordering::Relaxed),
            retry_after: (state == BreakerState::Open).then(|| self.open_remaining()),
        }
    }

    /// Its running totals since it was built: failures, slow and ignored calls,
    /// rejections and state changes, without a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> BreakerStats {
        self.shared.tally.stats(&self.shared.name, self.state())
    }

    /// A tower layer guarding a service with this breaker and the default classifier.
    pub fn layer(&self) -> BreakerLayer {
        BreakerLayer::new(self.clone())
    }

    /// Runs the future `operation` builds if the breaker admits it, and records its
    /// result with the [`DefaultClassifier`].
    ///
    /// The breaker decides when the returned future is first polled, and `operation`
    /// is called then. The future borrows the breaker; a call spawned as a task moves
    /// a clone of the handle in with it.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`](hardy_core::Error::Rejected) with [`Rejection::CircuitOpen`]
    /// (and `operation` is not run) when the breaker is open or its probes are taken;
    /// otherwise [`Error::Inner`](hardy_core::Error::Inner) with the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops the operation, records nothing, and frees the
    /// probe slot if the call was a half-open probe; dropped before its first poll, it
    /// was never admitted.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<'_, F, Fut, DefaultClassifier>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: AsRejection,
    {
        self.call_with(DefaultClassifier, operation)
    }

    /// Like [`call`](Self::call), with `classifier` deciding what the result counts as.
    ///
    /// ```
    /// use hardy_breaker::CircuitBreaker;
    /// use hardy_core::Outcome;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let breaker = CircuitBreaker::builder("api").consecutive_failures(2).build()?;
    /// // A 503 is an Ok response, but a failure of the dependency.
    /// let by_status = |result: &Result<u16, std::io::Error>| match result {
    ///     Ok(status) if *status >= 500 => Outcome::RETRYABLE_FAILURE,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::RETRYABLE_FAILURE,
    /// };
    /// for _ in 0..2 {
    ///     breaker.call_with(by_status, || async { Ok::<u16, std::io::Error>(503) }).await?;
    /// }
    /// assert!(breaker.state() == hardy_breaker::BreakerState::Open);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub fn call_with<C, F, Fut, T, E>(
        &self,
        classifier: C,
        operation: F,
    ) -> CallFuture<'_, F, Fut, C>
    where
        C: Classify<T, E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallFuture::new(self, operation, classifier)
    }

    /// Opens the breaker until [`reset`](Self::reset): every call is rejected.
    pub fn force_open(&self) {
        self.set_manual(BreakerState::ForcedOpen);
    }

    /// Disables the breaker until [`reset`](Self::reset): every call passes and is
    /// recorded, and it never opens.
    pub fn disable(&self) {
        self.set_manual(BreakerState::Disabled);
    }

    /// Every call passes and is recorded; a rule that trips emits
    /// [`BreakerEvent::ThresholdExceeded`] instead of opening the breaker. Until
    /// [`reset`](Self::reset).
    pub fn metrics_only(&self) {
        self.set_manual(BreakerState::MetricsOnly);
    }

    /// Closes the breaker and forgets its window, failures in a row and open backoff.
    pub fn reset(&self) {
        let mut control = self.shared.control.lock();
        control.failed_attempts = 0;
        self.transition(
            &mut control,
            self.word(),
            BreakerState::Closed,
            TransitionReason::Manual,
            None,
        );
    }

    fn set_manual(&self, state: BreakerState) {
        let mut control = self.shared.control.lock();
        let word = self.word();
        if word.state() != state {
            self.transition(&mut control, word, state, TransitionReason::Manual, None);
        }
    }

    /// The start of a call, for slow-call detection: a clock read only when needed.
    #[inline]
    pub(crate) fn call_started(&self) -> u64 {
        if self.shared.times_calls {
            nanos(self.since_epoch())
        } else {
            NOT_TIMED
        }
    }

    #[inline]
    pub(crate) fn word(&self) -> Word {
        Word(self.shared.word.load(Ordering::Acquire))
    }

    fn since_epoch(&self) -> Duration {
        Instant::now().saturating_duration_since(self.shared.epoch)
    }

    fn totals(&self, generation: u32, since_epoch: Duration) -> Totals {
        match &self.shared.window {
            Ring::Count(count) => count.totals(generation),
            Ring::Time(time) => time.totals(since_epoch),
            Ring::Off => Totals::default(),
        }
    }

    /// Keeps an open breaker open at least `remaining` more.
    pub(crate) fn stay_open_for(&self, remaining: Duration) {
        let until = nanos(self.since_epoch()).saturating_add(nanos(remaining));
        self.shared.open_until.fetch_max(until, Ordering::AcqRel);
    }

    fn open_remaining(&self) -> Duration {
        let until = self.shared.open_until.load(Ordering::Acquire);
        Duration::from_nanos(until.saturating_sub(nanos(self.since_epoch())))
    }

    /// Admits a call, or says why not.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<Pass, Rejection> {
        let word = self.word();
        if word.is_closed() {
            return Ok(Pass::new(word.generation(), false));
        }
        self.try_acquire_slow()
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

pub(crate) mod fleet;
mod transitions;

#[cfg(all(test, hardy_loom))]
mod loom_models;

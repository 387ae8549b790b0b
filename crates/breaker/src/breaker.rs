//! The [`CircuitBreaker`] handle: admission, recording, transitions, direct calls.

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

use crate::future::CallFuture;
use crate::state::{CountWindow, Mark, TimeWindow, Totals, Word};
use crate::sync::{Arc, AtomicU32, AtomicU64, Mutex, Ordering};
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
    shared: Arc<Shared>,
}

struct Shared {
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

/// `Permit::started` of a call that is not timed.
const NOT_TIMED: u64 = u64::MAX;

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// What a call reaches its breaker through: a borrow of the handle (direct calls, which
/// then take no reference), or the service's own `Arc` (tower), so that services on
/// different threads do not contend on one reference count.
pub(crate) trait Owner: fmt::Debug {
    fn breaker(&self) -> &CircuitBreaker;
}

impl Owner for CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

impl Owner for &CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

impl Owner for std::sync::Arc<CircuitBreaker> {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

/// An admitted call: the generation it was admitted in and whether it is a probe (and
/// not yet recorded), in one word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admission {
    /// Generation in the high 32 bits, the probe flag in bit 0.
    word: u64,
}

const PROBE: u64 = 1;
/// The admission word of a permit whose call is recorded: no admission has bit 1 set.
const SPENT: u64 = 2;

impl Admission {
    fn new(generation: u32, probe: bool) -> Self {
        Admission {
            word: (u64::from(generation) << 32) | u64::from(probe),
        }
    }

    pub(crate) fn generation(self) -> u32 {
        (self.word >> 32) as u32
    }

    pub(crate) fn probe(self) -> bool {
        self.word & PROBE != 0
    }
}

/// The right to run one call, and the duty to record it, without the breaker: whoever
/// holds it keeps the breaker and hands it to [`record`](Self::record), or to
/// [`release`](Self::release) if the call ends unrecorded (cancelled or panicked), which
/// frees a half-open probe's slot. A ticket neither recorded nor released leaves a
/// probe's slot taken until the breaker's next transition.
///
/// The breaker's own futures hold a permit (a ticket and what keeps the breaker
/// alive); a future that composes several patterns and keeps one reference to all their
/// handles holds tickets instead (`hardy::Pipeline`).
#[derive(Debug)]
#[must_use = "a ticket is recorded or released"]
pub struct Ticket {
    admission: Admission,
    /// When the call started, in nanoseconds since the breaker's epoch, when slow calls
    /// are detected; `NOT_TIMED` otherwise.
    started: u64,
}

impl Ticket {
    /// Admits a call to `breaker` (and starts its clock, if slow calls are detected), or
    /// says why not: [`Rejection::CircuitOpen`].
    #[inline(always)]
    pub fn admit(breaker: &CircuitBreaker) -> Result<Ticket, Rejection> {
        let admission = breaker.try_acquire()?;
        Ok(Ticket::new(breaker, admission))
    }

    #[inline(always)]
    fn new(breaker: &CircuitBreaker, admission: Admission) -> Self {
        Ticket {
            started: breaker.call_started(),
            admission,
        }
    }

    /// Records the call's outcome on `breaker`, the breaker that admitted it, once: a
    /// ticket recorded or released records nothing more.
    #[inline(always)]
    pub fn record(&mut self, breaker: &CircuitBreaker, outcome: Outcome) {
        let admission = self.admission;
        if admission.word == SPENT {
            return;
        }
        // Recorded: releasing the ticket now must not free a probe slot.
        self.admission.word = SPENT;
        breaker.record(admission, self.started, outcome);
    }

    /// Lets go of a call that ends unrecorded: a probe's slot is freed for another
    /// probe. Nothing happens for a ticket already recorded or released.
    #[inline]
    pub fn release(&mut self, breaker: &CircuitBreaker) {
        let admission = self.admission;
        self.admission.word = SPENT;
        if admission.word != SPENT && admission.probe() {
            breaker.release_probe(admission.generation());
        }
    }

    /// Whether the ticket is recorded or released.
    #[must_use]
    pub fn is_spent(&self) -> bool {
        self.admission.word == SPENT
    }
}

/// A [`Ticket`] and what keeps its breaker alive. Dropping it unrecorded (the call was
/// cancelled or panicked) frees a probe slot.
#[derive(Debug)]
pub(crate) struct Permit<O: Owner> {
    breaker: O,
    ticket: Ticket,
}

impl<O: Owner> Permit<O> {
    #[inline]
    pub(crate) fn new(breaker: O, admission: Admission) -> Self {
        Permit {
            ticket: Ticket::new(breaker.breaker(), admission),
            breaker,
        }
    }

    /// Records the call's outcome, once; the permit is then spent, and dropping it frees
    /// nothing. Futures record through this rather than moving the permit out:
    /// a moved permit is copied in wide loads from the narrow stores that built it,
    /// which stalls the processor's store forwarding.
    #[inline(always)]
    pub(crate) fn record(&mut self, outcome: Outcome) {
        self.ticket.record(self.breaker.breaker(), outcome);
    }
}

impl<O: Owner> Drop for Permit<O> {
    fn drop(&mut self) {
        if self.ticket.admission.probe() {
            self.ticket.release(self.breaker.breaker());
        }
    }
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
    fn call_started(&self) -> u64 {
        if self.shared.times_calls {
            nanos(self.since_epoch())
        } else {
            NOT_TIMED
        }
    }

    #[inline]
    fn word(&self) -> Word {
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

    fn open_remaining(&self) -> Duration {
        let until = self.shared.open_until.load(Ordering::Acquire);
        Duration::from_nanos(until.saturating_sub(nanos(self.since_epoch())))
    }

    /// Admits a call, or says why not.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<Admission, Rejection> {
        let word = self.word();
        if word.is_closed() {
            return Ok(Admission::new(word.generation(), false));
        }
        self.try_acquire_slow()
    }

    /// [`try_acquire`](Self::try_acquire) in every state but closed: out of line, so
    /// that the closed test stays one branch rather than a jump table over the states.
    #[inline(never)]
    fn try_acquire_slow(&self) -> Result<Admission, Rejection> {
        loop {
            let word = self.word();
            match word.state() {
                BreakerState::Closed | BreakerState::Disabled | BreakerState::MetricsOnly => {
                    return Ok(Admission::new(word.generation(), false));
                }
                BreakerState::Open => {
                    let remaining = self.open_remaining();
                    if !remaining.is_zero() {
                        return Err(self.reject(BreakerState::Open, Some(remaining)));
                    }
                    let mut control = self.shared.control.lock();
                    if self.word() == word {
                        self.transition(
                            &mut control,
                            word,
                            BreakerState::HalfOpen,
                            TransitionReason::OpenTimeElapsed,
                            None,
                        );
                    }
                }
                BreakerState::HalfOpen => {
                    if word.probes() < self.shared.config.half_open_calls {
                        let next = word.with_probes(word.probes() + 1);
                        if self
                            .shared
                            .word
                            .compare_exchange(word.0, next.0, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                        {
                            return Ok(Admission::new(word.generation(), true));
                        }
                        continue;
                    }
                    if let Some(wait) = self.shared.config.max_wait_in_half_open {
                        let since = self.shared.half_open_since.load(Ordering::Acquire);
                        if nanos(self.since_epoch()).saturating_sub(since) >= nanos(wait) {
                            let mut control = self.shared.control.lock();
                            if self.word() == word {
                                control.failed_attempts = control.failed_attempts.saturating_add(1);
                                self.transition(
                                    &mut control,
                                    word,
                                    BreakerState::Open,
                                    TransitionReason::ProbesTimedOut,
                                    None,
                                );
                            }
                            continue;
                        }
                    }
                    return Err(self.reject(BreakerState::HalfOpen, None));
                }
                BreakerState::ForcedOpen => return Err(self.reject(BreakerState::ForcedOpen, None)),
            }
        }
    }

    #[cold]
    fn reject(&self, state: BreakerState, retry_after: Option<Duration>) -> Rejection {
        let shared = &*self.shared;
        shared.metrics.rejected.increment(1);
        shared.listener.emit_with(|| BreakerEvent::Rejected {
            name: shared.name.clone(),
            state,
            retry_after,
        });
        Rejection::CircuitOpen {
            name: shared.name.clone(),
            retry_after,
        }
    }

    /// A probe left without a result (cancelled, panicked, or ignored): free its slot.
    #[cold]
    #[inline(never)]
    fn release_probe(&self, generation: u32) {
        let _ = self
            .shared
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |raw| {
                let word = Word(raw);
                (word.state() == BreakerState::HalfOpen
                    && word.generation() == generation
                    && word.probes() > 0)
                    .then(|| word.with_probes(word.probes() - 1).0)
            });
    }

    /// Records a finished call.
    #[inline(always)]
    fn record(&self, admission: Admission, started: u64, outcome: Outcome) {
        if let Outcome::Success = outcome
            && !admission.probe()
            && started == NOT_TIMED
        {
            self.record_success(admission);
        } else {
            self.record_outcome(admission, started, outcome);
        }
    }

    /// Records an untimed success that is not a probe, the common case: what
    /// [`record_outcome`](Self::record_outcome) does for it, without the tests that
    /// cannot apply (slow, retry-after, probe, trip).
    #[inline(always)]
    fn record_success(&self, admission: Admission) {
        const SUCCESS: Mark = Mark {
            failure: false,
            slow: false,
        };
        let shared = &*self.shared;
        shared.metrics.success.increment(1);
        if let Ring::Count(count) = &shared.window {
            // The count window's generation answers for the state word's: it is cleared
            // for every new cycle but half-open, whose probes are not recorded here, and
            // a call of an earlier cycle finds its run emptied and the counter moved on.
            let Some(slot) = count.take(thread_index(), admission.generation()) else {
                return;
            };
            count.record_in_slot(slot, SUCCESS);
        } else {
            if self.word().generation() != admission.generation() {
                return;
            }
            self.record_in_window(admission, SUCCESS);
        }
        self.end_failure_run();
    }

    /// Puts a finished call's mark in the window: in the count window, at the current
    /// thread's next position, unless the window has moved on to a new cycle since the
    /// caller checked the generation.
    #[inline]
    fn record_in_window(&self, admission: Admission, mark: Mark) {
        match &self.shared.window {
            Ring::Count(count) => {
                if let Some(slot) = count.take(thread_index(), admission.generation()) {
                    count.record_in_slot(slot, mark);
                }
            }
            Ring::Time(time) => time.record(self.since_epoch(), mark),
            Ring::Off => {}
        }
    }

    /// A success ends the run of consecutive failures (written only if there was one).
    #[inline]
    fn end_failure_run(&self) {
        let consecutive = &self.shared.consecutive;
        if consecutive.load(Ordering::Relaxed) != 0 {
            consecutive.store(0, Ordering::Relaxed);
        }
    }

    /// Records a finished call admitted in `admission`'s generation.
    #[inline(never)]
    fn record_outcome(&self, admission: Admission, started: u64, outcome: Outcome) {
        let (generation, probe) = (admission.generation(), admission.probe());
        let shared = &*self.shared;
        let (failure, retry) = match outcome {
            Outcome::Success => (false, None),
            Outcome::Failure(retry) => (true, Some(retry)),
            Outcome::Ignore(_) => {
                shared.metrics.ignored.increment(1);
                if probe {
                    self.release_probe(generation);
                }
                return;
            }
        };
        if failure {
            shared.metrics.failure.increment(1);
        } else {
            shared.metrics.success.increment(1);
        }
        let word = self.word();
        if word.generation() != generation {
            // The breaker moved on since this call was admitted: its result says
            // nothing about the new cycle.
            return;
        }
        let slow = match shared.config.slow_call_threshold {
            Some(threshold) if started != NOT_TIMED => {
                nanos(self.since_epoch()).saturating_sub(started) >= nanos(threshold)
            }
            _ => false,
        };
        let mark = Mark { failure, slow };
        if let (true, Some(Retryability::RetryAfter(wait))) =
            (shared.config.honor_retry_after, retry)
            && word.state() != BreakerState::Disabled
            && word.state() != BreakerState::MetricsOnly
        {
            let mut control = shared.control.lock();
            if self.word().generation() == generation {
                self.transition(
                    &mut control,
                    self.word(),
                    BreakerState::Open,
                    TransitionReason::RetryAfter { wait },
                    Some(wait),
                );
            }
            return;
        }
        if probe {
            self.record_probe(generation, outcome, mark);
            return;
        }
        self.record_in_window(admission, mark);
        if failure {
            let in_a_row = shared
                .consecutive
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            let threshold = shared.config.consecutive_failures;
            if threshold != 0 && in_a_row >= threshold {
                self.trip(
                    generation,
                    TransitionReason::ConsecutiveFailures { count: in_a_row },
                );
                return;
            }
        } else {
            self.end_failure_run();
        }
        if failure || slow {
            let totals = self.totals(generation, self.since_epoch());
            // `minimum_calls` is at least 1, so the window is never empty here.
            if totals.calls >= shared.config.minimum_calls {
                let failures = ratio(totals.failures, totals.calls);
                let slow_calls = ratio(totals.slow, totals.calls);
                if failure && failures >= shared.config.failure_ratio {
                    self.trip(
                        generation,
                        TransitionReason::FailureRatio { ratio: failures },
                    );
                } else if slow && slow_calls >= shared.config.slow_call_ratio {
                    self.trip(
                        generation,
                        TransitionReason::SlowCallRatio { ratio: slow_calls },
                    );
                }
            }
        }
    }

    /// A rule tripped in generation `generation`: open (or report, in metrics-only mode).
    #[cold]
    fn trip(&self, generation: u32, reason: TransitionReason) {
        let shared = &*self.shared;
        let mut control = shared.control.lock();
        let word = self.word();
        if word.generation() != generation {
            return;
        }
        match word.state() {
            BreakerState::Closed => {
                self.transition(&mut control, word, BreakerState::Open, reason, None)
            }
            BreakerState::MetricsOnly => {
                self.clear_window(generation);
                shared
                    .listener
                    .emit_with(|| BreakerEvent::ThresholdExceeded {
                        name: shared.name.clone(),
                        reason,
                    });
            }
            _ => {}
        }
    }

    #[cold]
    fn record_probe(&self, generation: u32, outcome: Outcome, mark: Mark) {
        let shared = &*self.shared;
        let mut control = shared.control.lock();
        let word = self.word();
        if word.generation() != generation || word.state() != BreakerState::HalfOpen {
            return;
        }
        shared.listener.emit_with(|| BreakerEvent::ProbeResult {
            name: shared.name.clone(),
            outcome,
        });
        if mark.failure {
            control.probe_failures += 1;
        } else {
            control.probe_successes += 1;
        }
        if mark.slow {
            control.probe_slow += 1;
        }
        let probes = shared.config.half_open_calls;
        let failures = ratio(control.probe_failures, probes);
        // Slow probes are only counted with a threshold set, and `slow_call_ratio` is
        // greater than zero, so no threshold never trips this.
        let slow = ratio(control.probe_slow, probes);
        if failures >= shared.config.failure_ratio || slow >= shared.config.slow_call_ratio {
            control.failed_attempts = control.failed_attempts.saturating_add(1);
            self.transition(
                &mut control,
                word,
                BreakerState::Open,
                TransitionReason::ProbesFailed,
                None,
            );
        } else if control.probe_failures + control.probe_successes >= probes {
            control.failed_attempts = 0;
            self.transition(
                &mut control,
                word,
                BreakerState::Closed,
                TransitionReason::ProbesSucceeded,
                None,
            );
        }
    }

    /// Empties the window for the calls of `generation`.
    fn clear_window(&self, generation: u32) {
        let shared = &*self.shared;
        match &shared.window {
            Ring::Count(count) => count.clear(generation),
            Ring::Time(time) => time.clear(),
            Ring::Off => {}
        }
        shared.consecutive.store(0, Ordering::Relaxed);
    }

    /// How long to stay open this time: `open_for` grown by the backoff per failed
    /// half-open attempt, capped, then spread by the jitter.
    fn open_duration(&self, control: &mut Control) -> Duration {
        let config = &self.shared.config;
        let grown = config.open_for.as_secs_f64()
            * config.open_backoff.powf(f64::from(control.failed_attempts));
        let capped = grown.min(config.max_open_for.as_secs_f64());
        let spread = if config.open_jitter > 0.0 {
            let factor = control
                .rng
                .random_range(1.0 - config.open_jitter..=1.0 + config.open_jitter);
            (capped * factor).min(config.max_open_for.as_secs_f64())
        } else {
            capped
        };
        Duration::try_from_secs_f64(spread).unwrap_or(config.max_open_for)
    }

    /// Moves from `from` to `to`, under the control lock.
    fn transition(
        &self,
        control: &mut Control,
        from: Word,
        to: BreakerState,
        reason: TransitionReason,
        open_for: Option<Duration>,
    ) {
        let shared = &*self.shared;
        let now = nanos(self.since_epoch());
        match to {
            BreakerState::Open => {
                let open_for = open_for.unwrap_or_else(|| self.open_duration(control));
                shared
                    .open_until
                    .store(now.saturating_add(nanos(open_for)), Ordering::Release);
            }
            BreakerState::HalfOpen => {
                control.probe_successes = 0;
                control.probe_failures = 0;
                control.probe_slow = 0;
                shared.half_open_since.store(now, Ordering::Release);
            }
            _ => {}
        }
        let next = from.next(to);
        if to != BreakerState::HalfOpen {
            // Before the new word: a call of the old cycle that passed its generation
            // test takes no position in the new window.
            self.clear_window(next.generation());
        }
        shared.word.store(next.0, Ordering::Release);
        shared.metrics.state.set(to.code() as f64);
        shared.metrics.transitions[to.code() as usize].increment(1);
        shared.listener.emit_with(|| BreakerEvent::StateChanged {
            name: shared.name.clone(),
            from: from.state(),
            to,
            reason,
        });
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

/// Loom models of the packed state word: `RUSTFLAGS="--cfg hardy_loom" cargo test -p
/// hardy-breaker --lib --release loom`.
#[cfg(all(test, hardy_loom))]
mod loom_models {
    use super::*;

    /// A breaker with one probe slot, opened, whose open time (1 ns) has passed.
    fn open_breaker() -> CircuitBreaker {
        let breaker = CircuitBreaker::builder("loom")
            .consecutive_failures(1)
            .window(Window::Off)
            .half_open_calls(1)
            .max_wait_in_half_open(None)
            .open_for(Duration::from_nanos(1))
            .seed(1)
            .build()
            .unwrap();
        let admission = breaker.try_acquire().unwrap();
        Permit::new(breaker.clone(), admission).record(Outcome::RETRYABLE_FAILURE);
        assert_eq!(breaker.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_micros(10));
        breaker
    }

    /// Two callers race for the one probe slot: exactly one gets it.
    #[test]
    fn loom_exactly_one_probe_is_admitted() {
        loom::model(|| {
            let breaker = open_breaker();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let breaker = breaker.clone();
                    loom::thread::spawn(move || breaker.try_acquire().ok())
                })
                .collect();
            let admitted: Vec<Admission> = threads
                .into_iter()
                .filter_map(|t| t.join().unwrap())
                .collect();
            assert_eq!(admitted.len(), 1);
            assert!(admitted[0].probe());
            let word = breaker.word();
            assert_eq!((word.state(), word.probes()), (BreakerState::HalfOpen, 1));
        });
    }

    /// A probe finishing while another caller asks: the breaker ends closed, and the
    /// caller was either refused (probe still running) or admitted closed.
    #[test]
    fn loom_probe_result_races_a_caller() {
        loom::model(|| {
            let breaker = open_breaker();
            let probe = breaker.try_acquire().unwrap();
            assert!(probe.probe());
            let finisher = {
                let breaker = breaker.clone();
                loom::thread::spawn(move || {
                    Permit::new(breaker, probe).record(Outcome::Success);
                })
            };
            let caller = {
                let breaker = breaker.clone();
                loom::thread::spawn(move || breaker.try_acquire().ok())
            };
            finisher.join().unwrap();
            let admitted = caller.join().unwrap();
            assert_eq!(breaker.state(), BreakerState::Closed);
            if let Some(admission) = admitted {
                assert!(
                    !admission.probe(),
                    "no second probe in a one-probe half-open"
                );
            }
        });
    }

    /// A cancelled probe frees its slot while another caller asks: no slot is lost.
    #[test]
    fn loom_cancelled_probe_frees_its_slot() {
        loom::model(|| {
            let breaker = open_breaker();
            let probe = breaker.try_acquire().unwrap();
            let canceller = {
                let breaker = breaker.clone();
                loom::thread::spawn(move || drop(Permit::new(breaker, probe)))
            };
            let caller = {
                let breaker = breaker.clone();
                loom::thread::spawn(move || breaker.try_acquire().ok())
            };
            canceller.join().unwrap();
            let admitted = caller.join().unwrap();
            let probes = breaker.word().probes();
            assert_eq!(probes, u32::from(admitted.is_some()));
        });
    }
}

//! The [`LoadShedder`] handle: admission, permits, direct calls, run-time settings.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use hardy_core::{
    Classify, ConfigError, DefaultClassifier, Listener, Name, Outcome, Rejection, ShedReason,
    Validate,
};
use metrics::{Counter, Gauge, Histogram};
use tokio::time::Instant;

use crate::config::{COMPONENT, MAX_LIMIT};
use crate::extract::{CallInfo, Priority};
use crate::future::{AcquireFuture, CallFuture, Waiting};
use crate::limit::{Algorithm, Step, nanos};
use crate::sampler::{Closed, Sampler};
use crate::stages::{Fair, Throttle};
use crate::state::{Enqueued, Gate, QueueLimits};
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering};
use crate::{LoadShedBuilder, LoadShedConfig, LoadShedEvent, LoadShedLayer};

/// `hardy_load_shed_calls_total{name, outcome}`: calls by outcome, `admitted` or `shed`.
pub const METRIC_CALLS: &str = "hardy_load_shed_calls_total";
/// `hardy_load_shed_shed_total{name, reason, priority}`: shed calls by reason
/// ([`ShedReason::as_str`]) and priority level.
pub const METRIC_SHED: &str = "hardy_load_shed_shed_total";
/// `hardy_load_shed_limit{name}`: the concurrency limit now.
pub const METRIC_LIMIT: &str = "hardy_load_shed_limit";
/// `hardy_load_shed_in_flight{name}`: calls running now.
pub const METRIC_IN_FLIGHT: &str = "hardy_load_shed_in_flight";
/// `hardy_load_shed_rtt_seconds{name}`: each window's mean latency (adaptive limits).
pub const METRIC_RTT: &str = "hardy_load_shed_rtt_seconds";
/// `hardy_load_shed_min_rtt_seconds{name}`: the minimum latency measured (gradient).
pub const METRIC_MIN_RTT: &str = "hardy_load_shed_min_rtt_seconds";

const REASONS: [ShedReason; 5] = [
    ShedReason::Overload,
    ShedReason::Priority,
    ShedReason::Fairness,
    ShedReason::QueueDelay,
    ShedReason::Probabilistic,
];

fn reason_index(reason: ShedReason) -> usize {
    REASONS
        .iter()
        .position(|known| *known == reason)
        .unwrap_or(0)
}

/// Keeps a service fast under overload by shedding the calls it cannot serve in time.
///
/// Each call is admitted or shed in `call`, in this order:
///
/// 1. **Probabilistic**: a random `shed_rate` share, and client-side adaptive throttling
///    when configured (both spare priority 0 when there are several levels).
/// 2. **Fairness**: once the limit is busy, a client holding its fair share is shed.
/// 3. **Limit**: a call is admitted while the calls in flight are below its priority's
///    threshold. The limit is fixed, or learned from latency (AIMD or gradient); lower
///    priorities have lower thresholds, so they are shed first and the top tier keeps a
///    reserved share.
/// 4. **Queue**: a call over its threshold waits in a CoDel queue if there is one, or
///    is shed.
///
/// A shed call gets [`Rejection::Shed`] with its [`ShedReason`] and, once latency has
/// been measured, a `retry_after` of the recent mean latency. A slot is held by a
/// [`LoadShedPermit`] (or the call future) and released on every exit path; a
/// cancelled or panicking call is not measured.
///
/// An admission below the limit is one compare-and-swap and its release one atomic
/// subtraction; an adaptive limit adds two clock readings and four atomic additions per
/// call.
///
/// `LoadShedder` is cheap to clone; clones share the limit and the calls in flight.
///
/// # Examples
///
/// ```
/// use hardy_load_shed::{CallInfo, LoadShedder};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let api = LoadShedder::builder("api").fixed_limit(1).priorities(2).build()?;
///
/// let held = api.try_acquire(CallInfo::new().priority(1))?;
/// let shed = api.call(|| async { Ok::<_, std::io::Error>(()) }).await;
/// assert!(matches!(shed, Err(hardy_core::Error::Rejected(r)) if r.is_shed()));
/// drop(held);
/// api.call(|| async { Ok::<_, std::io::Error>(()) }).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LoadShedder {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    name: Name,
    pub(crate) gate: Gate,
    epoch: Instant,
    bounds: (u32, u32),
    sampler: Option<Sampler>,
    fair: Option<Fair>,
    throttle: Option<Throttle>,
    /// Whether a probabilistic stage is on (`shed_rate` above zero, or throttling).
    probabilistic: AtomicBool,
    shed_rate: AtomicU64,
    rng: crate::rng::Rng,
    shed: [AtomicU64; REASONS.len()],
    listener: Listener<LoadShedEvent>,
    metrics: Metrics,
}

struct Metrics {
    admitted: Counter,
    shed_total: Counter,
    shed: Vec<[Counter; REASONS.len()]>,
    limit: Gauge,
    in_flight: Gauge,
    rtt: Histogram,
    min_rtt: Gauge,
}

impl Metrics {
    fn register(name: &Name, levels: u8) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls through a load shedder, by outcome"
        );
        metrics::describe_counter!(
            METRIC_SHED,
            metrics::Unit::Count,
            "Calls shed, by reason and priority"
        );
        metrics::describe_gauge!(METRIC_LIMIT, "A load shedder's concurrency limit");
        metrics::describe_gauge!(METRIC_IN_FLIGHT, "Calls running through a load shedder");
        metrics::describe_histogram!(
            METRIC_RTT,
            metrics::Unit::Seconds,
            "Mean latency of each window of calls through a load shedder"
        );
        metrics::describe_gauge!(
            METRIC_MIN_RTT,
            metrics::Unit::Seconds,
            "Minimum latency measured by a gradient load shedder"
        );
        let label = name.to_string();
        let shed = (0..levels)
            .map(|level| {
                REASONS.map(|reason| {
                    metrics::counter!(
                        METRIC_SHED,
                        "name" => label.clone(),
                        "reason" => reason.as_str(),
                        "priority" => level.to_string(),
                    )
                })
            })
            .collect();
        Metrics {
            shed_total: metrics::counter!(METRIC_CALLS, "name" => label.clone(), "outcome" => "shed"),
            admitted: metrics::counter!(METRIC_CALLS, "name" => label.clone(), "outcome" => "admitted"),
            shed,
            limit: metrics::gauge!(METRIC_LIMIT, "name" => label.clone()),
            in_flight: metrics::gauge!(METRIC_IN_FLIGHT, "name" => label.clone()),
            rtt: metrics::histogram!(METRIC_RTT, "name" => label.clone()),
            min_rtt: metrics::gauge!(METRIC_MIN_RTT, "name" => label),
        }
    }
}

/// Shed calls so far, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShedCounts {
    /// Over the limit (or the queue full).
    pub overload: u64,
    /// Over their priority's threshold, below the limit.
    pub priority: u64,
    /// Their client held its fair share.
    pub fairness: u64,
    /// Waited in the queue past their deadline.
    pub queue_delay: u64,
    /// Shed at random or by adaptive throttling.
    pub probabilistic: u64,
}

impl ShedCounts {
    /// Every shed call.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.overload + self.priority + self.fairness + self.queue_delay + self.probabilistic
    }

    /// The count for one reason (zero for a reason this shedder never gives).
    #[must_use]
    pub fn get(&self, reason: ShedReason) -> u64 {
        match reason {
            ShedReason::Overload => self.overload,
            ShedReason::Priority => self.priority,
            ShedReason::Fairness => self.fairness,
            ShedReason::QueueDelay => self.queue_delay,
            ShedReason::Probabilistic => self.probabilistic,
            _ => 0,
        }
    }
}

/// A snapshot of a shedder's state.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadShedStats {
    /// The shedder's name.
    pub name: Name,
    /// The concurrency limit now.
    pub limit: u32,
    /// Calls running now.
    pub in_flight: u32,
    /// Calls waiting in the queue now.
    pub waiting: u32,
    /// Clients with calls in flight now (with fairness on; zero otherwise).
    pub clients: u32,
    /// Shed calls so far.
    pub shed: ShedCounts,
    /// The last window's mean latency (adaptive limits).
    pub rtt: Option<Duration>,
    /// The minimum latency measured (gradient).
    pub min_rtt: Option<Duration>,
    /// Whether the gradient limit is measuring the minimum latency now.
    pub probing: bool,
    /// The random shed rate now.
    pub shed_rate: f64,
    /// The adaptive throttling probability now (zero without throttling).
    pub throttle_probability: f64,
}

/// What [`LoadShedder::admit`] decided.
pub(crate) enum Admission {
    Now(LoadShedPermit),
    Wait(Box<Waiting>),
    Shed(Rejection),
}

impl LoadShedder {
    /// Starts building a shedder named `name`.
    pub fn builder(name: impl Into<Name>) -> LoadShedBuilder {
        LoadShedBuilder::new(name.into())
    }

    /// A shedder with `config`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn new(name: impl Into<Name>, config: LoadShedConfig) -> Result<Self, ConfigError> {
        Self::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: LoadShedConfig,
        seed: Option<u64>,
        listener: Listener<LoadShedEvent>,
    ) -> Self {
        let epoch = Instant::now();
        let seed = seed.unwrap_or_else(|| crate::extract::client_hash(name.as_str()));
        let algorithm = Algorithm::new(&config.limit, 0, seed);
        let limit = algorithm.published();
        let sampler = match &config.limit {
            crate::LimitConfig::Fixed(_) => None,
            crate::LimitConfig::Aimd(aimd) => Some(Sampler::new(
                algorithm,
                nanos(aimd.window),
                aimd.latency_threshold.map_or(u64::MAX, nanos),
            )),
            crate::LimitConfig::Gradient(gradient) => {
                Some(Sampler::new(algorithm, nanos(gradient.window), u64::MAX))
            }
        };
        let queue = config.queue.as_ref().map(|queue| QueueLimits {
            max_waiting: queue.max_waiting,
            target: nanos(queue.target),
            interval: nanos(queue.interval),
        });
        let metrics = Metrics::register(&name, config.priorities);
        metrics.limit.set(f64::from(limit));
        LoadShedder {
            shared: Arc::new(Shared {
                gate: Gate::new(limit, config.reserve, config.priorities, queue),
                epoch,
                bounds: config.limit.bounds(),
                sampler,
                fair: config
                    .fairness
                    .as_ref()
                    .map(|fair| Fair::new(fair.engage_at)),
                throttle: config
                    .throttle
                    .as_ref()
                    .map(|throttle| Throttle::new(throttle.k, nanos(throttle.window))),
                probabilistic: AtomicBool::new(config.shed_rate > 0.0 || config.throttle.is_some()),
                shed_rate: AtomicU64::new(config.shed_rate.to_bits()),
                rng: crate::rng::Rng::new(seed),
                shed: Default::default(),
                listener,
                metrics,
                name,
            }),
        }
    }

    /// The shedder's name.
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// A tower layer shedding each call of the services it wraps through this shedder.
    pub fn layer(&self) -> LoadShedLayer {
        LoadShedLayer::new(self.clone())
    }

    /// Admits a call now or sheds it; never waits in the queue.
    ///
    /// # Errors
    ///
    /// [`Rejection::Shed`] when the call is shed.
    pub fn try_acquire(&self, info: CallInfo) -> Result<LoadShedPermit, Rejection> {
        match self.admit_with(info, false) {
            Admission::Now(permit) => Ok(permit),
            Admission::Wait(_) => unreachable!("admit_with(.., false) never queues"),
            Admission::Shed(rejection) => Err(rejection),
        }
    }

    /// Admits a call, waiting in the queue if there is one; resolves to a permit or to
    /// [`Rejection::Shed`].
    pub fn acquire(&self, info: CallInfo) -> AcquireFuture {
        AcquireFuture::new(self.admit(info))
    }

    /// Runs `operation` at priority 0 if admitted; a failure is its error, classified
    /// with [`DefaultClassifier`].
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<'_, F, Fut, DefaultClassifier>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        DefaultClassifier: Classify<T, E>,
    {
        self.call_with(CallInfo::new(), DefaultClassifier, operation)
    }

    /// Runs `operation` with `info`'s priority and client if admitted.
    pub fn call_as<F, Fut, T, E>(
        &self,
        info: CallInfo,
        operation: F,
    ) -> CallFuture<'_, F, Fut, DefaultClassifier>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        DefaultClassifier: Classify<T, E>,
    {
        self.call_with(info, DefaultClassifier, operation)
    }

    /// Like [`call_as`](Self::call_as), with `classifier` deciding what a result counts
    /// as: a failure is a drop for AIMD and not an accept for throttling; an ignored
    /// result is not measured.
    pub fn call_with<F, Fut, T, E, C>(
        &self,
        info: CallInfo,
        classifier: C,
        operation: F,
    ) -> CallFuture<'_, F, Fut, C>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
    {
        CallFuture::new(self, info, operation, classifier)
    }

    /// A snapshot of the limit, the calls in flight and what was shed.
    pub fn stats(&self) -> LoadShedStats {
        let shared = &self.shared;
        let counts = |reason| shared.shed[reason_index(reason)].load(Ordering::Relaxed);
        let duration = |nanos: Option<u64>| nanos.map(Duration::from_nanos);
        LoadShedStats {
            name: shared.name.clone(),
            limit: shared.gate.limit(),
            in_flight: shared.gate.in_flight(),
            waiting: shared.gate.waiting(),
            clients: shared.fair.as_ref().map_or(0, Fair::active),
            shed: ShedCounts {
                overload: counts(ShedReason::Overload),
                priority: counts(ShedReason::Priority),
                fairness: counts(ShedReason::Fairness),
                queue_delay: counts(ShedReason::QueueDelay),
                probabilistic: counts(ShedReason::Probabilistic),
            },
            rtt: duration(shared.sampler.as_ref().and_then(Sampler::rtt)),
            min_rtt: duration(shared.sampler.as_ref().and_then(Sampler::min_rtt)),
            probing: shared.sampler.as_ref().is_some_and(Sampler::probing),
            shed_rate: f64::from_bits(shared.shed_rate.load(Ordering::Relaxed)),
            throttle_probability: shared
                .throttle
                .as_ref()
                .map_or(0.0, |throttle| throttle.probability(shared.now())),
        }
    }

    /// Sets the concurrency limit now (an adaptive limit goes on learning from it); a
    /// lower limit drains as calls finish, a higher one admits waiters at once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `limit` is outside the configured bounds.
    pub fn set_limit(&self, limit: u32) -> Result<(), ConfigError> {
        let shared = &self.shared;
        let (min, max) = shared.bounds;
        let check = Validate::new(COMPONENT, &shared.name);
        check.non_zero("limit", limit)?;
        if limit < min || limit > max.min(MAX_LIMIT) {
            return Err(check.error("limit", limit, format!("must be within {min}..={max}")));
        }
        let published = match &shared.sampler {
            Some(sampler) => sampler.set(limit),
            None => limit,
        };
        shared.publish(published, None);
        Ok(())
    }

    /// Sets the share of calls shed at random, within `0..=1` (zero turns it off).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `rate` is outside `0..=1`.
    pub fn set_shed_rate(&self, rate: f64) -> Result<(), ConfigError> {
        let shared = &self.shared;
        Validate::new(COMPONENT, &shared.name).ratio("shed_rate", rate)?;
        shared.shed_rate.store(rate.to_bits(), Ordering::Relaxed);
        shared
            .probabilistic
            .store(rate > 0.0 || shared.throttle.is_some(), Ordering::Relaxed);
        Ok(())
    }

    /// Admits or sheds a call with `info`, queueing it if the shedder has a queue.
    #[inline(always)]
    pub(crate) fn admit(&self, info: CallInfo) -> Admission {
        self.admit_with(info, true)
    }

    /// The fast path alone: whether a slot was taken because no probabilistic stage or
    /// fair share applies and the call is below its threshold; `false` means "take the
    /// full path". The caller makes the slot's permit
    /// ([`CallPermit::new`] with no client).
    #[inline(always)]
    pub(crate) fn admit_fast(&self, info: &CallInfo) -> bool {
        let shared = &self.shared;
        if shared.probabilistic.load(Ordering::Relaxed)
            || (info.client_id() != 0 && shared.fair.is_some())
        {
            return false;
        }
        let level = info.get_priority().level().min(shared.gate.levels() - 1);
        shared.gate.try_admit(level)
    }

    #[inline(always)]
    fn admit_with(&self, info: CallInfo, may_wait: bool) -> Admission {
        let shared = &self.shared;
        let level = info.get_priority().level().min(shared.gate.levels() - 1);
        let client = info.client_id();
        if shared.probabilistic.load(Ordering::Relaxed)
            && !(level == 0 && shared.gate.levels() > 1)
            && shared.draw_shed()
        {
            return Admission::Shed(shared.shed(ShedReason::Probabilistic, level));
        }
        let client = match &shared.fair {
            Some(fair) if client != 0 => {
                if !fair.enter(client, shared.gate.in_flight(), shared.gate.limit()) {
                    return Admission::Shed(shared.shed(ShedReason::Fairness, level));
                }
                client
            }
            _ => 0,
        };
        if shared.gate.try_admit(level) {
            return Admission::Now(LoadShedPermit::new(Arc::clone(&self.shared), client));
        }
        self.admit_slowly(level, client, may_wait)
    }

    #[cold]
    fn admit_slowly(&self, level: u8, client: u64, may_wait: bool) -> Admission {
        let shared = &self.shared;
        if may_wait && shared.gate.has_queue() {
            match shared.gate.enqueue(level, shared.now()) {
                Enqueued::Admitted => {
                    return Admission::Now(LoadShedPermit::new(Arc::clone(&self.shared), client));
                }
                Enqueued::Waiting(waiter, wait) => {
                    return Admission::Wait(Box::new(Waiting::new(
                        self.shared.clone(),
                        waiter,
                        Duration::from_nanos(wait),
                        level,
                        client,
                    )));
                }
                Enqueued::Full => {}
            }
        }
        shared.leave(client);
        let reason = if shared.gate.in_flight() < shared.gate.limit() && level > 0 {
            ShedReason::Priority
        } else {
            ShedReason::Overload
        };
        Admission::Shed(shared.shed(reason, level))
    }
}

impl Shared {
    /// Nanoseconds since the shedder was built, on Tokio's clock.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    /// Counts a call of `client` (zero: none) out of the fair shares.
    #[inline]
    pub(crate) fn leave(&self, client: u64) {
        if client != 0
            && let Some(fair) = &self.fair
        {
            fair.leave(client);
        }
    }

    fn draw_shed(&self) -> bool {
        let rate = f64::from_bits(self.shed_rate.load(Ordering::Relaxed));
        if rate > 0.0 && self.rng.next_unit() < rate {
            return true;
        }
        match &self.throttle {
            Some(throttle) => throttle.request(self.now(), self.rng.next_unit()),
            None => false,
        }
    }

    /// Counts, reports and builds the rejection of a call shed at `level`.
    #[cold]
    pub(crate) fn shed(&self, reason: ShedReason, level: u8) -> Rejection {
        self.shed[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
        self.metrics.shed_total.increment(1);
        self.metrics.shed[usize::from(level)][reason_index(reason)].increment(1);
        self.listener.emit_with(|| LoadShedEvent::Shed {
            name: self.name.clone(),
            reason,
            priority: Priority(level),
            in_flight: self.gate.in_flight(),
            limit: self.gate.limit(),
        });
        let retry_after = match reason {
            ShedReason::Probabilistic => None,
            _ => self
                .sampler
                .as_ref()
                .and_then(Sampler::rtt)
                .map(Duration::from_nanos),
        };
        Rejection::Shed {
            name: self.name.clone(),
            reason,
            retry_after,
        }
    }

    /// A call was admitted: counts it and, with an adaptive limit, reads its start.
    #[inline(always)]
    fn admitted(&self) -> u64 {
        self.metrics.admitted.increment(1);
        self.metrics.in_flight.increment(1.0);
        if self.sampler.is_some() {
            self.now()
        } else {
            0
        }
    }

    /// A call admitted at `start` ended with `outcome` (none: cancelled or panicked).
    #[inline(always)]
    fn complete(&self, start: u64, client: u64, outcome: Option<Outcome>) {
        self.metrics.in_flight.decrement(1.0);
        if client != 0 || self.sampler.is_some() || self.throttle.is_some() {
            return self.complete_measured(start, client, outcome);
        }
        self.gate.release(|| self.now());
    }

    /// [`complete`](Self::complete) with fair shares, throttling or an adaptive limit.
    #[inline(never)]
    fn complete_measured(&self, start: u64, client: u64, outcome: Option<Outcome>) {
        self.leave(client);
        let Some(outcome) = outcome else {
            self.gate.release(|| self.now());
            return;
        };
        let now = if self.sampler.is_some() || self.throttle.is_some() {
            self.now()
        } else {
            0
        };
        if let Some(throttle) = &self.throttle
            && !outcome.is_failure()
        {
            throttle.accept(now);
        }
        let in_flight = self.gate.release(|| now);
        if let Some(sampler) = &self.sampler
            && !outcome.is_ignored()
            && let Some(closed) = sampler.record(start, now, in_flight, outcome.is_failure())
        {
            self.window_closed(closed, now);
        }
    }

    #[cold]
    fn window_closed(&self, closed: Closed, now: u64) {
        self.metrics.rtt.record(closed.rtt / 1e9);
        match closed.step {
            Step::ProbeStarted => self.listener.emit_with(|| LoadShedEvent::ProbeStarted {
                name: self.name.clone(),
            }),
            Step::ProbeFinished(min_rtt) => {
                self.metrics.min_rtt.set(min_rtt / 1e9);
                self.listener.emit_with(|| LoadShedEvent::ProbeFinished {
                    name: self.name.clone(),
                    min_rtt: Duration::from_nanos(min_rtt as u64),
                });
            }
            Step::Unchanged | Step::Updated => {}
        }
        let rtt = Some(Duration::from_nanos(closed.rtt as u64));
        self.publish_at(closed.limit, rtt, now);
    }

    fn publish(&self, limit: u32, rtt: Option<Duration>) {
        let now = self.now();
        self.publish_at(limit, rtt, now);
    }

    fn publish_at(&self, limit: u32, rtt: Option<Duration>, now: u64) {
        let from = self.gate.limit();
        if from == limit {
            return;
        }
        self.gate.set_limit(limit, || now);
        self.metrics.limit.set(f64::from(limit));
        self.listener.emit_with(|| LoadShedEvent::LimitChanged {
            name: self.name.clone(),
            from,
            to: limit,
            rtt,
        });
    }
}

impl fmt::Debug for LoadShedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("LoadShedder")
            .field("name", &shared.name)
            .field("limit", &shared.gate.limit())
            .field("in_flight", &shared.gate.in_flight())
            .field("waiting", &shared.gate.waiting())
            .finish_non_exhaustive()
    }
}

/// A held slot of a [`LoadShedder`]: the call it admits may run. Report how the call
/// went with [`success`](Self::success), [`failure`](Self::failure) or
/// [`record`](Self::record), which feeds an adaptive limit; dropping it unreported frees
/// the slot without a measurement (as for a cancelled call).
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct LoadShedPermit(CallPermit<Arc<Shared>>);

impl LoadShedPermit {
    #[inline(always)]
    pub(crate) fn new(shared: Arc<Shared>, client: u64) -> Self {
        LoadShedPermit(CallPermit::new(shared, client))
    }

    /// The call succeeded: frees the slot and measures the call.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// The call failed (a drop, for AIMD): frees the slot and measures the call.
    pub fn failure(self) {
        self.record(Outcome::RETRYABLE_FAILURE);
    }

    /// Frees the slot, measuring the call as `outcome` (an ignored outcome is not
    /// measured).
    pub fn record(mut self, outcome: Outcome) {
        self.0.finish(Some(outcome));
    }

    /// The same slot, held through `owner`: a service's own reference to the shedder, or
    /// a direct call's borrow.
    #[inline]
    pub(crate) fn into_call<O: Owner>(mut self, owner: O) -> CallPermit<O> {
        let slot = &mut self.0;
        // Let go of this permit's reference without freeing the slot.
        slot.owner = None;
        CallPermit {
            owner: Some(owner),
            start: slot.start,
            client: slot.client,
        }
    }
}

/// What keeps a shedder alive while a slot is held: a permit's reference to its
/// state, a service's own `Arc` of the shedder (so that services on different threads
/// do not contend on one reference count), or a direct call's borrow.
pub(crate) trait Owner {
    fn shared(&self) -> &Shared;
}

impl Owner for Arc<Shared> {
    #[inline(always)]
    fn shared(&self) -> &Shared {
        self
    }
}

impl Owner for std::sync::Arc<LoadShedder> {
    #[inline(always)]
    fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Owner for &LoadShedder {
    #[inline(always)]
    fn shared(&self) -> &Shared {
        &self.shared
    }
}

/// A held slot, kept alive by `O`; dropping it unreported frees the slot without a
/// measurement.
pub(crate) struct CallPermit<O: Owner = std::sync::Arc<LoadShedder>> {
    /// Taken when the slot is freed.
    owner: Option<O>,
    start: u64,
    /// The client's hash; zero: none.
    client: u64,
}

impl<O: Owner> CallPermit<O> {
    /// The permit of a slot just taken for `client` (zero: none).
    #[inline(always)]
    pub(crate) fn new(owner: O, client: u64) -> Self {
        let start = owner.shared().admitted();
        CallPermit {
            owner: Some(owner),
            start,
            client,
        }
    }

    /// Frees the slot, reporting a result as classified by `classifier`; the permit is
    /// spent.
    #[inline(always)]
    pub(crate) fn complete<C, T, E>(&mut self, classifier: &C, result: &Result<T, E>)
    where
        C: Classify<T, E>,
    {
        self.finish(Some(classifier.classify(result)));
    }

    /// Whether the slot is already freed.
    #[inline(always)]
    pub(crate) fn is_spent(&self) -> bool {
        self.owner.is_none()
    }

    #[inline(always)]
    fn finish(&mut self, outcome: Option<Outcome>) {
        if let Some(owner) = self.owner.take() {
            owner.shared().complete(self.start, self.client, outcome);
        }
    }
}

impl<O: Owner> Drop for CallPermit<O> {
    #[inline]
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl fmt::Debug for LoadShedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedPermit")
            .field("shedder", &self.0.owner.as_ref().map(|shared| &shared.name))
            .finish_non_exhaustive()
    }
}

//! The [`LoadShedder`] handle: admission, direct calls, run-time settings.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use hardy_core::admission::{Admission, Gate};
use hardy_core::{
    Classify, ConfigError, DefaultClassifier, Listener, Name, Rejection, ShedReason, Validate,
};
use tokio::time::Instant;

use crate::admit;
use crate::config::{COMPONENT, MAX_LIMIT};
use crate::extract::CallInfo;
use crate::future::{AcquireFuture, CallFuture};
use crate::limit::{Algorithm, nanos};
use crate::permit::LoadShedPermit;
use crate::sampler::Sampler;
use crate::stages::{Fair, Throttle};
use crate::state::{Metrics, QueueLimits, Shared, reason_index, thresholds};
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
    /// Shed because the service behind was not ready (only with
    /// [`LoadShedLayer::shed_when_not_ready`](crate::LoadShedLayer::shed_when_not_ready)).
    pub not_ready: u64,
}

impl ShedCounts {
    /// Every shed call.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.overload
            + self.priority
            + self.fairness
            + self.queue_delay
            + self.probabilistic
            + self.not_ready
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
            ShedReason::NotReady => self.not_ready,
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
                gate: Gate::new(
                    thresholds(limit, config.reserve, config.priorities),
                    queue.map(|limits| limits.interval),
                ),
                reserve: config.reserve,
                queue,
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
        match admit::admit_with(&self.shared, info, false) {
            Admission::Now(permit) => Ok(permit),
            Admission::Later(_) => unreachable!("admit_with(.., false) never queues"),
            Admission::Refused(rejection) => Err(rejection),
        }
    }

    /// Admits a call, waiting in the queue if there is one; resolves to a permit or to
    /// [`Rejection::Shed`].
    pub fn acquire(&self, info: CallInfo) -> AcquireFuture {
        AcquireFuture::new(admit::admit(&self.shared, info))
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
            limit: shared.limit(),
            in_flight: shared.gate.in_flight(),
            waiting: shared.gate.waiting(),
            clients: shared.fair.as_ref().map_or(0, Fair::active),
            shed: ShedCounts {
                overload: counts(ShedReason::Overload),
                priority: counts(ShedReason::Priority),
                fairness: counts(ShedReason::Fairness),
                queue_delay: counts(ShedReason::QueueDelay),
                probabilistic: counts(ShedReason::Probabilistic),
                not_ready: counts(ShedReason::NotReady),
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
}

impl fmt::Debug for LoadShedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("LoadShedder")
            .field("name", &shared.name)
            .field("limit", &shared.limit())
            .field("in_flight", &shared.gate.in_flight())
            .field("waiting", &shared.gate.waiting())
            .finish_non_exhaustive()
    }
}

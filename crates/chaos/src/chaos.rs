//! The [`Chaos`] handle: draws, run-time control, direct calls, statistics and events.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hardy_core::future::WrapInner;
use hardy_core::{ConfigError, Error, Listener, Name};
use metrics::{Counter, Histogram};

use crate::future::{CallFuture, ResponseFuture};
use crate::inject::{Corrupt, MakeError, NoCorrupt, NoError};
use crate::rng;
use crate::sync::{AtomicBool, AtomicU64, Ordering, RwLock};
use crate::{
    ChaosBuilder, ChaosConfig, ChaosEvent, ChaosLayer, Fault, FaultOutcome, InjectedRejection,
    Latency,
};

/// What a [`Chaos`] handle has injected since it was built: running totals kept in the
/// process whether or not a `metrics` recorder is installed; made by [`Chaos::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosStats {
    /// The handle's name.
    pub name: Name,
    /// Calls that drew a fault (every call while enabled).
    pub calls: u64,
    /// Calls delayed.
    pub delayed: u64,
    /// The delays added up.
    pub total_delay: Duration,
    /// Calls answered with an injected error.
    pub errors: u64,
    /// Calls refused with an injected rejection.
    pub rejections: u64,
    /// Calls whose response was corrupted.
    pub corrupted: u64,
}

/// The counter of calls that drew a fault, labelled `name`.
pub const METRIC_CALLS: &str = "hardy_chaos_calls_total";
/// The counter of injected faults, labelled `name` and `fault` (`latency`, `error`,
/// `rejection`, `corrupt`).
pub const METRIC_INJECTED: &str = "hardy_chaos_injected_total";
/// The histogram of injected delays in seconds, labelled `name`.
pub const METRIC_DELAY: &str = "hardy_chaos_delay_seconds";

/// Injects faults into calls: errors, rejections, latency and wrong-but-`Ok` answers,
/// each with a rate, from a seeded sequence of draws.
///
/// Call `n` of a handle (counted from its build, or from the last change of seed) draws
/// from the `n`-th block of a SplitMix64 stream of the seed, so the same seed gives the
/// same faults call by call, whatever ran before; concurrent calls take their numbers
/// from one atomic counter and never lock each other out. Rates, the latency
/// distribution, the rejection and the seed can be changed at run time with
/// [`set_config`](Self::set_config) / [`update`](Self::update), and injection turned
/// off and on with [`set_enabled`](Self::set_enabled).
///
/// `Chaos` is cheap to clone (an `Arc` inside); clones share the settings, the sequence,
/// the statistics and the metrics.
///
/// # Examples
///
/// ```
/// use hardy_chaos::Chaos;
/// use hardy_core::Error;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let chaos = Chaos::builder("ec2").seed(7).error_rate(0.5).build()?;
/// let mut failed = 0u64;
/// for _ in 0..100 {
///     let result = chaos
///         .call_with(|| "injected", hardy_chaos::NoCorrupt, || async { Ok::<_, &str>(1) })
///         .await;
///     if matches!(result, Err(Error::Inner("injected"))) {
///         failed += 1;
///     }
/// }
/// assert_eq!(failed, chaos.stats().errors);
/// assert!((30..=70).contains(&failed));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Chaos {
    shared: Arc<Shared>,
}

struct Shared {
    name: Name,
    enabled: AtomicBool,
    settings: RwLock<Settings>,
    next: AtomicU64,
    listener: Listener<ChaosEvent>,
    stats: Counts,
    metrics: Metrics,
}

/// The settings a draw reads, with the seed resolved.
#[derive(Debug, Clone)]
struct Settings {
    config: ChaosConfig,
    seed: u64,
}

#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    delayed: AtomicU64,
    delay_nanos: AtomicU64,
    errors: AtomicU64,
    rejections: AtomicU64,
    corrupted: AtomicU64,
}

struct Metrics {
    calls: Counter,
    latency: Counter,
    error: Counter,
    rejection: Counter,
    corrupt: Counter,
    delay: Histogram,
}

/// An error maker for direct calls: the operation's error `E`, as
/// [`Error::Inner`].
struct InnerError<M>(M);

impl<M: MakeError<E>, E> MakeError<Error<E>> for InnerError<M> {
    fn make_error(&self) -> Option<Error<E>> {
        self.0.make_error().map(Error::Inner)
    }
}

/// A drawn fault with what acting on it needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) fault: Fault,
    pub(crate) rejection: InjectedRejection,
    pub(crate) retry_after: Duration,
}

impl Chaos {
    /// Starts building a chaos handle named `name`; the name labels its metrics, events
    /// and injected rejections.
    pub fn builder(name: impl Into<Name>) -> ChaosBuilder {
        ChaosBuilder::new(name.into())
    }

    /// A chaos handle named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(name: impl Into<Name>, config: ChaosConfig) -> Result<Self, ConfigError> {
        Chaos::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: ChaosConfig,
        listener: Listener<ChaosEvent>,
    ) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls that drew a fault from a chaos handle"
        );
        metrics::describe_counter!(
            METRIC_INJECTED,
            metrics::Unit::Count,
            "Faults injected, by fault (latency, error, rejection, corrupt)"
        );
        metrics::describe_histogram!(
            METRIC_DELAY,
            metrics::Unit::Seconds,
            "Delays injected by a chaos handle"
        );
        let injected = |fault: &'static str| metrics::counter!(METRIC_INJECTED, "name" => name.to_string(), "fault" => fault);
        let metrics = Metrics {
            calls: metrics::counter!(METRIC_CALLS, "name" => name.to_string()),
            latency: injected("latency"),
            error: injected("error"),
            rejection: injected("rejection"),
            corrupt: injected("corrupt"),
            delay: metrics::histogram!(METRIC_DELAY, "name" => name.to_string()),
        };
        let seed = config.seed.unwrap_or_else(rng::os_seed);
        Chaos {
            shared: Arc::new(Shared {
                name,
                enabled: AtomicBool::new(config.enabled),
                settings: RwLock::new(Settings { config, seed }),
                next: AtomicU64::new(0),
                listener,
                stats: Counts::default(),
                metrics,
            }),
        }
    }

    /// The handle's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The settings in force (with `seed` as given, `None` when it came from the
    /// operating system).
    #[must_use]
    pub fn config(&self) -> ChaosConfig {
        self.shared.settings.read().config.clone()
    }

    /// The seed in force, as given or as taken from the operating system: build a
    /// handle with it to replay a run.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.shared.settings.read().seed
    }

    /// Whether faults are injected.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// Turns injection on or off; while off every call passes through untouched and
    /// draws nothing.
    pub fn set_enabled(&self, enabled: bool) {
        {
            let mut settings = self.shared.settings.write();
            settings.config.enabled = enabled;
            self.shared.enabled.store(enabled, Ordering::Relaxed);
        }
        self.reconfigured(enabled);
    }

    /// Replaces every setting with `config`, validated first. A new seed restarts the
    /// sequence at call 0 (`None` keeps the seed in force).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting; nothing changes then.
    pub fn set_config(&self, config: ChaosConfig) -> Result<(), ConfigError> {
        config.validate(&self.shared.name)?;
        let enabled = config.enabled;
        {
            let mut settings = self.shared.settings.write();
            if let Some(seed) = config.seed
                && seed != settings.seed
            {
                settings.seed = seed;
                self.shared.next.store(0, Ordering::Relaxed);
            }
            settings.config = config;
            self.shared.enabled.store(enabled, Ordering::Relaxed);
        }
        self.reconfigured(enabled);
        Ok(())
    }

    /// Changes the settings in place: `change` edits a copy, which is validated and
    /// then put in force, as [`set_config`](Self::set_config) does.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use hardy_chaos::Chaos;
    ///
    /// let chaos = Chaos::builder("ec2").seed(1).build()?;
    /// chaos.update(|config| config.error_rate = 0.2)?;
    /// assert_eq!(chaos.config().error_rate, 0.2);
    /// assert!(chaos.update(|config| config.error_rate = 2.0).is_err());
    /// assert_eq!(chaos.config().error_rate, 0.2);
    /// # Ok::<(), hardy_core::ConfigError>(())
    /// ```
    pub fn update(&self, change: impl FnOnce(&mut ChaosConfig)) -> Result<(), ConfigError> {
        let mut config = self.config();
        change(&mut config);
        self.set_config(config)
    }

    /// Sets the share of calls answered with an injected error.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `rate` is outside `0..=1` or the outcome rates would add up
    /// to more than 1.
    pub fn set_error_rate(&self, rate: f64) -> Result<(), ConfigError> {
        self.update(|config| config.error_rate = rate)
    }

    /// Sets the share of calls refused with an injected rejection.
    ///
    /// # Errors
    ///
    /// As [`set_error_rate`](Self::set_error_rate).
    pub fn set_rejection_rate(&self, rate: f64) -> Result<(), ConfigError> {
        self.update(|config| config.rejection_rate = rate)
    }

    /// Sets the share of calls whose response is corrupted.
    ///
    /// # Errors
    ///
    /// As [`set_error_rate`](Self::set_error_rate).
    pub fn set_corrupt_rate(&self, rate: f64) -> Result<(), ConfigError> {
        self.update(|config| config.corrupt_rate = rate)
    }

    /// Sets the share of calls delayed and the distribution of the delays.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `rate` is outside `0..=1` or `latency` is invalid.
    pub fn set_latency(&self, rate: f64, latency: Latency) -> Result<(), ConfigError> {
        self.update(|config| {
            config.latency_rate = rate;
            config.latency = latency;
        })
    }

    /// Starts the sequence again at call 0: the calls that follow draw the faults that
    /// the first calls after the build drew (with the same settings).
    pub fn restart(&self) {
        self.shared.next.store(0, Ordering::Relaxed);
    }

    /// What injection has done since the handle was built.
    #[must_use]
    pub fn stats(&self) -> ChaosStats {
        let counts = &self.shared.stats;
        ChaosStats {
            name: self.shared.name.clone(),
            calls: counts.calls.load(Ordering::Relaxed),
            delayed: counts.delayed.load(Ordering::Relaxed),
            total_delay: Duration::from_nanos(counts.delay_nanos.load(Ordering::Relaxed)),
            errors: counts.errors.load(Ordering::Relaxed),
            rejections: counts.rejections.load(Ordering::Relaxed),
            corrupted: counts.corrupted.load(Ordering::Relaxed),
        }
    }

    /// Draws the next fault of the sequence, as a call would; [`Fault::NONE`] while
    /// disabled. The draw is used up, but nothing is counted: statistics, metrics and
    /// events follow what calls inject.
    #[must_use]
    pub fn next_fault(&self) -> Fault {
        self.plan().map_or(Fault::NONE, |plan| plan.fault)
    }

    /// A tower layer injecting faults into every wrapped service's calls: latency and
    /// rejections; add an error maker with [`ChaosLayer::error`] and a corrupter with
    /// [`ChaosLayer::corrupt`] to inject those too.
    pub fn layer(&self) -> ChaosLayer {
        ChaosLayer::new(self.clone())
    }

    /// Runs `operation` with injected latency and rejections (an outcome drawn as an
    /// error or a corruption passes the call through: use
    /// [`call_with`](Self::call_with) to inject those).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] with the injected rejection, or [`Error::Inner`] with the
    /// operation's own error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the delay and the operation; nothing is held.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<Fut, E, NoCorrupt>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(NoError, NoCorrupt, operation)
    }

    /// Runs `operation` with every fault: errors from `make_error`, rejections,
    /// latency, and `Ok` answers passed through `corrupt`.
    ///
    /// `make_error` is a `Fn() -> E` closure (or [`NoError`]), `corrupt` a `Clone`
    /// `Fn(T) -> T` closure (or [`NoCorrupt`]).
    ///
    /// # Errors
    ///
    /// [`Error::Inner`] with an injected or a real error, [`Error::Rejected`] with the
    /// injected rejection.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the delay and the operation; nothing is held.
    pub fn call_with<F, Fut, T, E, M, C>(
        &self,
        make_error: M,
        corrupt: C,
        operation: F,
    ) -> CallFuture<Fut, E, C>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        M: MakeError<E>,
        C: Corrupt<T> + Clone,
    {
        self.respond(&InnerError(make_error), &corrupt, || {
            WrapInner::new(operation())
        })
    }

    /// Draws the next fault and acts on it: an injected error or rejection without
    /// calling `call`, else `call`'s future, delayed and corrupted as drawn. The tower
    /// service and the direct calls both answer through it.
    ///
    // A disabled chaos is one atomic load here, inlined into the caller, so that the
    // passed-through future is built where it is returned (returned from an out-of-line
    // call, it went through memory and was read back in wide loads from the narrow
    // stores that wrote it, a store-forwarding stall).
    #[inline(always)]
    pub(crate) fn respond<Fut, T, E, M, C>(
        &self,
        make_error: &M,
        corrupt: &C,
        call: impl FnOnce() -> Fut,
    ) -> ResponseFuture<Fut, E, C>
    where
        Fut: Future<Output = Result<T, E>>,
        E: From<hardy_core::Rejection>,
        M: MakeError<E>,
        C: Corrupt<T> + Clone,
    {
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return ResponseFuture::pass(call());
        }
        self.respond_enabled(make_error, corrupt, call)
    }

    /// [`respond`](Self::respond) while enabled: draws the fault and acts on it.
    #[inline(never)]
    fn respond_enabled<Fut, T, E, M, C>(
        &self,
        make_error: &M,
        corrupt: &C,
        call: impl FnOnce() -> Fut,
    ) -> ResponseFuture<Fut, E, C>
    where
        Fut: Future<Output = Result<T, E>>,
        E: From<hardy_core::Rejection>,
        M: MakeError<E>,
        C: Corrupt<T> + Clone,
    {
        // `respond` has read the enabled flag; the settings decide under their lock.
        let Some(plan) = self.plan_enabled() else {
            return ResponseFuture::pass(call());
        };
        let delay = self.delayed(plan.fault.delay);
        match plan.fault.outcome {
            FaultOutcome::Error => {
                if let Some(error) = make_error.make_error() {
                    self.injected_error();
                    return ResponseFuture::fail(error, delay);
                }
            }
            FaultOutcome::Rejection => {
                return ResponseFuture::fail(E::from(self.rejected(&plan)), delay);
            }
            FaultOutcome::Corrupt if corrupt.is_armed() => {
                self.corrupted();
                return ResponseFuture::call(call(), delay, Some(corrupt.clone()));
            }
            FaultOutcome::Corrupt | FaultOutcome::Pass => {}
        }
        ResponseFuture::call(call(), delay, None)
    }

    /// The next draw, or `None` while disabled (one atomic load).
    #[inline]
    pub(crate) fn plan(&self) -> Option<Plan> {
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return None;
        }
        self.plan_enabled()
    }

    /// The next call's number, with the settings it draws under: read together, so a
    /// new seed always starts from call 0 and no number is drawn twice under one seed.
    #[inline]
    fn numbered(&self) -> Option<(impl std::ops::Deref<Target = Settings> + '_, u64)> {
        let settings = self.shared.settings.read();
        if !settings.config.enabled {
            return None;
        }
        let n = self.shared.next.fetch_add(1, Ordering::Relaxed);
        Some((settings, n))
    }

    fn plan_enabled(&self) -> Option<Plan> {
        let (settings, n) = self.numbered()?;
        let config = &settings.config;
        let draws = rng::Draws::new(settings.seed, n);
        let pick = draws.unit(0);
        let outcome = if pick < config.error_rate {
            FaultOutcome::Error
        } else if pick < config.error_rate + config.rejection_rate {
            FaultOutcome::Rejection
        } else if pick < config.error_rate + config.rejection_rate + config.corrupt_rate {
            FaultOutcome::Corrupt
        } else {
            FaultOutcome::Pass
        };
        let delay = (draws.unit(1) < config.latency_rate)
            .then(|| config.latency.sample(draws.unit(2), draws.unit(3)));
        let plan = Plan {
            fault: Fault { outcome, delay },
            rejection: config.rejection,
            retry_after: config.retry_after,
        };
        drop(settings);
        self.shared.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.calls.increment(1);
        Some(plan)
    }

    /// Records a delay about to be injected, and returns it.
    fn delayed(&self, delay: Option<Duration>) -> Option<Duration> {
        let delay = delay?;
        let shared = &*self.shared;
        shared.stats.delayed.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        shared.stats.delay_nanos.fetch_add(nanos, Ordering::Relaxed);
        shared.metrics.latency.increment(1);
        shared.metrics.delay.record(delay.as_secs_f64());
        shared.listener.emit_with(|| ChaosEvent::Delayed {
            name: shared.name.clone(),
            delay,
        });
        Some(delay)
    }

    fn injected_error(&self) {
        let shared = &*self.shared;
        shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        shared.metrics.error.increment(1);
        shared.listener.emit_with(|| ChaosEvent::ErrorInjected {
            name: shared.name.clone(),
        });
    }

    fn rejected(&self, plan: &Plan) -> hardy_core::Rejection {
        let shared = &*self.shared;
        shared.stats.rejections.fetch_add(1, Ordering::Relaxed);
        shared.metrics.rejection.increment(1);
        shared.listener.emit_with(|| ChaosEvent::Rejected {
            name: shared.name.clone(),
            rejection: plan.rejection,
        });
        plan.rejection.rejection(&shared.name, plan.retry_after)
    }

    fn corrupted(&self) {
        let shared = &*self.shared;
        shared.stats.corrupted.fetch_add(1, Ordering::Relaxed);
        shared.metrics.corrupt.increment(1);
        shared.listener.emit_with(|| ChaosEvent::Corrupted {
            name: shared.name.clone(),
        });
    }

    fn reconfigured(&self, enabled: bool) {
        let shared = &*self.shared;
        shared.listener.emit_with(|| ChaosEvent::Reconfigured {
            name: shared.name.clone(),
            enabled,
        });
    }
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = self.shared.settings.read();
        f.debug_struct("Chaos")
            .field("name", &self.shared.name)
            .field("config", &settings.config)
            .field("seed", &settings.seed)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, hardy_loom))]
mod loom_models;

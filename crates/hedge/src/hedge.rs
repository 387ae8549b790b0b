//! The [`Hedge`] handle: its settings, its budget, recent latencies and telemetry, and
//! the decisions its calls ask it for.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hardy_breaker::{BreakerState, CircuitBreaker};
use hardy_core::{ConfigError, DefaultClassifier, Listener, Name};
use hardy_retry::RetryBudget;
use metrics::Counter;
use parking_lot::Mutex;

use crate::future::{Ended, Hedging, Operation};
use crate::stats::{Counts, HedgeStats, index};
use crate::{HedgeBuilder, HedgeConfig, HedgeDelay, HedgeEvent, HedgeLayer, Latencies, SkipReason};

/// `hardy_hedge_calls_total{name, outcome}`: calls by how they ended: `first` (the
/// first attempt won), `hedge` (an extra attempt won), `failed`.
pub const METRIC_CALLS: &str = "hardy_hedge_calls_total";
/// `hardy_hedge_attempts_total{name}`: extra attempts started.
pub const METRIC_HEDGES: &str = "hardy_hedge_attempts_total";
/// `hardy_hedge_skipped_total{name, reason}`: extra attempts due but not made, by
/// reason (`budget`, `breaker`, `not_cloneable`, `not_ready`).
pub const METRIC_SKIPPED: &str = "hardy_hedge_skipped_total";

const SKIP_REASONS: [SkipReason; 4] = [
    SkipReason::Budget,
    SkipReason::Breaker,
    SkipReason::NotCloneable,
    SkipReason::NotReady,
];

/// Hedged requests: when a call is slower than most, another copy of it goes out and
/// the first success wins ("The Tail at Scale"); the other attempts are cancelled,
/// their futures dropped, so whatever they held below is given back.
///
/// - **When**: after a fixed delay, or once the call outlives a percentile of recent
///   first attempts' latencies (bounded memory, rotated every period; no hedging until
///   enough are known). Each further extra attempt waits the delay again.
/// - **How much**: at most `max_hedges` extra attempts a call, drawn from a budget the
///   calls fill (10 % of the calls by default), and none while a breaker on the path
///   is not closed: hedging never doubles the load on a struggling dependency.
/// - **Which answer**: the first success. A failure ends the call only when no other
///   attempt is running (or at once, with `first_failure_ends`); the call's error is
///   the last attempt's.
///
/// Requests are copied for extra attempts as the retry copies them
/// ([`CloneRequest`](hardy_retry::CloneRequest): `Clone` by default, `SendOnce` or an
/// idempotency rule such as `hardy_http::clone_idempotent`), and a request that cannot
/// be copied is not hedged.
///
/// A hedge is a cheap handle: clones share the same budget, latencies and telemetry.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_hedge::Hedge;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), std::io::Error> {
/// let hedge = Hedge::builder("replicas")
///     .fixed_delay(Duration::from_millis(20))
///     .build()
///     .expect("valid");
/// let mut replica = 0;
/// let answer = hedge
///     .call(|| {
///         replica += 1;
///         // The first replica is stuck; the second answers.
///         let wait = if replica == 1 { Duration::from_secs(5) } else { Duration::from_millis(3) };
///         async move {
///             tokio::time::sleep(wait).await;
///             Ok::<_, std::io::Error>(replica)
///         }
///     })
///     .await?;
/// assert_eq!(answer, 2);
/// assert_eq!(hedge.stats().hedge_wins, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Hedge {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    name: Name,
    config: HedgeConfig,
    budget: Option<RetryBudget>,
    breaker: Option<CircuitBreaker>,
    /// Recent first attempts' latencies, for a percentile delay.
    latencies: Option<Mutex<Latencies>>,
    listener: Listener<HedgeEvent>,
    metrics: Metrics,
    counts: Counts,
}

struct Metrics {
    first: Counter,
    hedge: Counter,
    failed: Counter,
    hedges: Counter,
    skipped: [Counter; 4],
}

impl Metrics {
    fn register(name: &Name) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Hedged calls by how they ended"
        );
        metrics::describe_counter!(
            METRIC_HEDGES,
            metrics::Unit::Count,
            "Extra attempts started"
        );
        metrics::describe_counter!(
            METRIC_SKIPPED,
            metrics::Unit::Count,
            "Extra attempts due but not made, by reason"
        );
        let calls = |outcome: &'static str| metrics::counter!(METRIC_CALLS, "name" => name.to_string(), "outcome" => outcome);
        Metrics {
            first: calls("first"),
            hedge: calls("hedge"),
            failed: calls("failed"),
            hedges: metrics::counter!(METRIC_HEDGES, "name" => name.to_string()),
            skipped: SKIP_REASONS.map(|reason| metrics::counter!(METRIC_SKIPPED, "name" => name.to_string(), "reason" => reason.as_str())),
        }
    }
}

impl Hedge {
    /// Starts building a hedge named `name`; the name labels its metrics and events.
    pub fn builder(name: impl Into<Name>) -> HedgeBuilder {
        HedgeBuilder::new(name.into())
    }

    /// A hedge named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(name: impl Into<Name>, config: HedgeConfig) -> Result<Self, ConfigError> {
        Hedge::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: HedgeConfig,
        budget: Option<RetryBudget>,
        breaker: Option<CircuitBreaker>,
        listener: Listener<HedgeEvent>,
    ) -> Self {
        let latencies = match config.delay {
            HedgeDelay::Percentile { period, .. } => Some(Mutex::new(Latencies::new(period))),
            HedgeDelay::Fixed { .. } => None,
        };
        Hedge {
            shared: Arc::new(Shared {
                metrics: Metrics::register(&name),
                name,
                config,
                budget,
                breaker,
                latencies,
                listener,
                counts: Counts::new(),
            }),
        }
    }

    /// The hedge's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The settings the hedge was built with.
    #[must_use]
    pub fn config(&self) -> &HedgeConfig {
        &self.shared.config
    }

    /// The budget extra attempts are drawn from, its own or a shared one, if any.
    #[must_use]
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.shared.budget.as_ref()
    }

    /// Its running totals since it was built, without a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> HedgeStats {
        self.shared.counts.stats(&self.shared.name)
    }

    /// How long a call started now would run before its first extra attempt: the fixed
    /// delay, or the percentile of recent latencies; `None` while too few latencies are
    /// known to trust a percentile (no call is hedged then).
    #[must_use]
    pub fn delay(&self) -> Option<Duration> {
        match self.shared.config.delay {
            HedgeDelay::Fixed { delay } => Some(delay),
            HedgeDelay::Percentile {
                percentile,
                min_samples,
                ..
            } => self
                .shared
                .latencies
                .as_ref()
                .and_then(|latencies| latencies.lock().percentile(percentile, min_samples)),
        }
    }

    /// Runs `operation`'s future, and, when it is slow, more of them (each call of
    /// `operation` makes one attempt), until the first success; see [`Hedge`]. Results
    /// are classified with the default classifier.
    ///
    /// # Errors
    ///
    /// The error of the last attempt to fail, when none succeeded.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops every attempt still running.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> Hedging<Operation<'_, F>, DefaultClassifier>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Hedging::direct(self, operation, DefaultClassifier)
    }

    /// A tower layer hedging a service's calls with this hedge, the default classifier
    /// and requests copied with `Clone`.
    pub fn layer(&self) -> HedgeLayer {
        HedgeLayer::new(self.clone())
    }

    // What a call asks the handle.

    /// A call starts: it is counted and deposits in the budget.
    #[inline]
    pub(crate) fn started(&self) {
        let shared = &*self.shared;
        shared.counts.calls.add(1);
        if let Some(budget) = &shared.budget {
            budget.deposit();
        }
    }

    /// Whether the percentile delay is in use (first attempts' latencies are recorded).
    #[inline]
    pub(crate) fn records_latency(&self) -> bool {
        self.shared.latencies.is_some()
    }

    /// Records a first attempt's latency (or, for one cancelled, how long it ran: a
    /// lower bound); `None` for one answered at its first poll, recorded without
    /// reading the clock.
    pub(crate) fn record(&self, latency: Option<Duration>) {
        if let Some(latencies) = &self.shared.latencies {
            let mut latencies = latencies.lock();
            match latency {
                Some(latency) => latencies.record(latency),
                None => latencies.record_at_once(),
            }
        }
    }

    /// An extra attempt is due: whether it may be made (the handle's breaker and the
    /// path's, `path`, both closed), taking a budget token.
    pub(crate) fn may_hedge(&self, path: Option<&CircuitBreaker>) -> Result<(), SkipReason> {
        let shared = &*self.shared;
        if shared
            .breaker
            .iter()
            .chain(path)
            .any(|breaker| breaker.state() != BreakerState::Closed)
        {
            return Err(SkipReason::Breaker);
        }
        if shared
            .budget
            .as_ref()
            .is_some_and(|budget| !budget.try_withdraw())
        {
            return Err(SkipReason::Budget);
        }
        Ok(())
    }

    /// An extra attempt (`attempt`, 2 for the first) started `after` into the call.
    pub(crate) fn hedged(&self, attempt: u32, after: Duration) {
        let shared = &*self.shared;
        shared.metrics.hedges.increment(1);
        Counts::add(&shared.counts.hedges, 1);
        shared.listener.emit_with(|| HedgeEvent::Hedged {
            name: shared.name.clone(),
            attempt,
            after,
        });
    }

    /// An extra attempt was due and not made.
    pub(crate) fn skipped(&self, reason: SkipReason) {
        let shared = &*self.shared;
        shared.metrics.skipped[index(reason)].increment(1);
        Counts::add(shared.counts.skipped(reason), 1);
        shared.listener.emit_with(|| HedgeEvent::Skipped {
            name: shared.name.clone(),
            reason,
        });
    }

    /// The call ended.
    pub(crate) fn ended(&self, ended: Ended) {
        let shared = &*self.shared;
        match ended {
            Ended::Won {
                attempt: 1,
                cancelled,
            } => {
                shared.metrics.first.increment(1);
                self.cancelled(cancelled);
            }
            Ended::Won { attempt, cancelled } => {
                shared.metrics.hedge.increment(1);
                Counts::add(&shared.counts.hedge_wins, 1);
                self.cancelled(cancelled);
                shared.listener.emit_with(|| HedgeEvent::Won {
                    name: shared.name.clone(),
                    attempt,
                    cancelled,
                });
            }
            Ended::Failed { cancelled } => {
                shared.metrics.failed.increment(1);
                self.cancelled(cancelled);
            }
        }
    }

    /// Attempts dropped unfinished.
    pub(crate) fn cancelled(&self, cancelled: u32) {
        if cancelled > 0 {
            Counts::add(&self.shared.counts.cancelled, u64::from(cancelled));
        }
    }
}

impl fmt::Debug for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

//! The [`Retry`] handle: deciding retries, and direct calls.

use std::fmt;
use std::future::Future;

use hardy_core::{DefaultClassifier, Listener, Name, Outcome, Retryability};
use hardy_timeout::Deadline;
use metrics::{Counter, Histogram};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;

use crate::future::{CallFuture, Operation};
use crate::retrying::Retrying;
use crate::schedule::Plan;
use crate::stats::{Counts, RetryStats};
use crate::sync::{Arc, Mutex};
use crate::tries::{CallState, Next};
use crate::{
    GiveUpReason, RetryBudget, RetryBuilder, RetryConfig, RetryEvent, RetryLayer, Schedule,
};

/// `hardy_retry_calls_total{name, result}`: calls (not attempts) by how they ended,
/// `success` or `failure`.
pub const METRIC_CALLS: &str = "hardy_retry_calls_total";
/// `hardy_retry_retries_total{name}`: retries made.
pub const METRIC_RETRIES: &str = "hardy_retry_retries_total";
/// `hardy_retry_gave_up_total{name, reason}`: calls that ended in a failure, by the
/// reason no further attempt was made ([`GiveUpReason::as_str`]).
pub const METRIC_GAVE_UP: &str = "hardy_retry_gave_up_total";
/// `hardy_retry_budget_refusals_total{name}`: retries the retry budget refused.
pub const METRIC_BUDGET_REFUSALS: &str = "hardy_retry_budget_refusals_total";
/// `hardy_retry_attempts_per_call{name}`: a histogram of the attempts each call made,
/// first attempts included. Its sum counts all attempts, its count all calls.
pub const METRIC_ATTEMPTS_PER_CALL: &str = "hardy_retry_attempts_per_call";

const REASONS: [GiveUpReason; 6] = [
    GiveUpReason::NotRetryable,
    GiveUpReason::MaxAttempts,
    GiveUpReason::Deadline,
    GiveUpReason::BudgetExhausted,
    GiveUpReason::NotCloneable,
    GiveUpReason::NotReady,
];

/// Retries an operation whose failures are transient, with backoff and jitter, within a
/// deadline and a retry budget, so that retries never amplify an outage.
///
/// A result is retried only when its classifier marks it retryable (by default: any
/// error that is not a refusal by another Hardy layer, and a timeout); a retry-after
/// hint in the classification replaces the schedule's delay. The caller always gets the
/// last real result: when attempts, the deadline or the budget run out, the last
/// attempt's own error, never an error of the retry's making.
///
/// `Retry` is cheap to clone; clones share the budget, the random numbers, the listener
/// and the metrics.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use hardy_retry::{Backoff, Jitter, Retry};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let retry = Retry::builder("soil-1")
///     .max_attempts(3)
///     .backoff(Backoff::Constant { delay: Duration::from_millis(200) })
///     .jitter(Jitter::None)
///     .build()?;
///
/// let tries = AtomicU32::new(0);
/// let moisture = retry
///     .call(|| async {
///         if tries.fetch_add(1, Ordering::Relaxed) == 0 {
///             Err(std::io::Error::other("no ack from the ADC"))
///         } else {
///             Ok(0.41)
///         }
///     })
///     .await?;
/// assert_eq!((moisture, tries.load(Ordering::Relaxed)), (0.41, 2));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Retry {
    shared: Arc<Shared>,
}

struct Shared {
    name: Name,
    config: RetryConfig,
    plan: Plan,
    budget: Option<RetryBudget>,
    rng: Mutex<SmallRng>,
    listener: Listener<RetryEvent>,
    metrics: Metrics,
    tally: Counts,
}

struct Metrics {
    success: Counter,
    failure: Counter,
    retries: Counter,
    budget_refusals: Counter,
    gave_up: [Counter; REASONS.len()],
    attempts_per_call: Histogram,
}

impl Metrics {
    fn register(name: &Name) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls through a retry, by how they ended"
        );
        metrics::describe_counter!(
            METRIC_RETRIES,
            metrics::Unit::Count,
            "Retries made by a retry"
        );
        metrics::describe_counter!(
            METRIC_GAVE_UP,
            metrics::Unit::Count,
            "Calls a retry ended with a failure, by reason"
        );
        metrics::describe_counter!(
            METRIC_BUDGET_REFUSALS,
            metrics::Unit::Count,
            "Retries refused by the retry budget"
        );
        metrics::describe_histogram!(
            METRIC_ATTEMPTS_PER_CALL,
            metrics::Unit::Count,
            "Attempts each call through a retry made"
        );
        let calls = |result: &'static str| metrics::counter!(METRIC_CALLS, "name" => name.to_string(), "result" => result);
        Metrics {
            success: calls("success"),
            failure: calls("failure"),
            retries: metrics::counter!(METRIC_RETRIES, "name" => name.to_string()),
            budget_refusals: metrics::counter!(METRIC_BUDGET_REFUSALS, "name" => name.to_string()),
            gave_up: REASONS.map(|reason| metrics::counter!(METRIC_GAVE_UP, "name" => name.to_string(), "reason" => reason.as_str())),
            attempts_per_call: metrics::histogram!(METRIC_ATTEMPTS_PER_CALL, "name" => name.to_string()),
        }
    }
}

impl Retry {
    /// Starts building a retry named `name`; the name labels its metrics and events.
    pub fn builder(name: impl Into<Name>) -> RetryBuilder {
        RetryBuilder::new(name.into())
    }

    /// A retry named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`](hardy_core::ConfigError) naming the first bad setting.
    pub fn from_config(
        name: impl Into<Name>,
        config: RetryConfig,
    ) -> Result<Self, hardy_core::ConfigError> {
        Retry::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: RetryConfig,
        budget: Option<RetryBudget>,
        listener: Listener<RetryEvent>,
    ) -> Self {
        let rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        Retry {
            shared: Arc::new(Shared {
                metrics: Metrics::register(&name),
                plan: Plan {
                    backoff: config.backoff,
                    jitter: config.jitter,
                    max_delay: config.max_delay,
                    first_retry_immediately: config.first_retry_immediately,
                },
                name,
                config,
                budget,
                rng: Mutex::new(rng),
                tally: Counts::new(),
                listener,
            }),
        }
    }

    /// The retry's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The retry's settings.
    #[must_use]
    pub fn config(&self) -> &RetryConfig {
        &self.shared.config
    }

    /// Its running totals since it was built: retries, calls that succeeded after
    /// retrying, and calls given up on by reason, without a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> RetryStats {
        self.shared.tally.stats(&self.shared.name)
    }

    /// The retry budget it draws on, its own or a shared one, if any.
    #[must_use]
    pub fn retry_budget(&self) -> Option<&RetryBudget> {
        self.shared.budget.as_ref()
    }

    /// The schedule of this retry's delays, on its own (seeded with `seed`): what a call
    /// whose every attempt fails retryably waits, before the deadline and the budget
    /// have their say.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_retry::{Jitter, Retry};
    ///
    /// let retry = Retry::builder("r").jitter(Jitter::None).build()?;
    /// let delays: Vec<_> = retry.schedule(0).take(3).collect();
    /// assert_eq!(delays, [100, 200, 400].map(Duration::from_millis));
    /// # Ok::<(), hardy_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn schedule(&self, seed: u64) -> Schedule {
        Schedule::from_plan(self.shared.plan, SmallRng::seed_from_u64(seed))
    }

    /// A tower layer retrying each wrapped service's calls with this retry.
    pub fn layer(&self) -> RetryLayer {
        RetryLayer::new(self.clone())
    }

    /// Runs `operation` (which makes one attempt each time it is called) until an
    /// attempt succeeds, fails permanently, or attempts, deadline or budget run out.
    /// Results are classified by the [`DefaultClassifier`].
    ///
    /// # Errors
    ///
    /// `Err(Error::Inner(e))` with the last attempt's error. The retry adds no error of
    /// its own.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the running attempt or the pending delay; nothing else
    /// is held.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<'_, F, Fut, DefaultClassifier>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(DefaultClassifier, operation)
    }

    /// As [`call`](Self::call), with the results classified by `classifier` (a closure
    /// `Fn(&Result<T, E>) -> Outcome`): an `Ok` may be retried ("retry on result"), an
    /// error may be final, and a classification may carry a retry-after hint.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_core::{Outcome, Retryability};
    /// use hardy_retry::Retry;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let retry = Retry::builder("api").max_attempts(2).build()?;
    /// // A 503 is an Ok response worth another try, after the server's Retry-After.
    /// let by_status = |result: &Result<u16, std::io::Error>| match result {
    ///     Ok(503) => Outcome::Failure(Retryability::RetryAfter(Duration::from_secs(2))),
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::RETRYABLE_FAILURE,
    /// };
    /// let started = tokio::time::Instant::now();
    /// let status = retry.call_with(by_status, || async { Ok::<u16, std::io::Error>(503) }).await?;
    /// assert_eq!(status, 503, "the last real result");
    /// assert_eq!(started.elapsed(), Duration::from_secs(2));
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
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallFuture::new(Retrying::starting(
            Operation {
                retry: self,
                operation,
            },
            classifier,
            None,
        ))
    }

    /// As [`call`](Self::call), making no retry whose delay would end past `deadline`
    /// (nor past the `max_duration`, whichever is earlier). A running attempt is not cut
    /// short: put a timeout inside for that, such as hardy-timeout's
    /// `Timeout::call_until` with the same deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_retry::{Backoff, Jitter, Retry};
    /// use hardy_timeout::Deadline;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let retry = Retry::builder("soil-1")
    ///     .max_attempts(10)
    ///     .backoff(Backoff::Constant { delay: Duration::from_secs(1) })
    ///     .jitter(Jitter::None)
    ///     .build()?;
    /// let deadline = Deadline::after(Duration::from_millis(2_500));
    /// let mut attempts = 0;
    /// let result = retry
    ///     .call_until(deadline, || {
    ///         attempts += 1;
    ///         async { Err::<f32, _>(std::io::Error::other("bus stuck")) }
    ///     })
    ///     .await;
    /// assert!(result.is_err());
    /// assert_eq!(attempts, 3, "at 0 s, 1 s and 2 s; a fourth at 3 s would be too late");
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
    pub fn call_until<F, Fut, T, E>(
        &self,
        deadline: Deadline,
        operation: F,
    ) -> CallFuture<'_, F, Fut, DefaultClassifier>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call(operation).until(deadline)
    }

    /// A call starts: deposit in the budget, fix the deadline.
    #[inline]
    pub(crate) fn start(&self, deadline: Option<Deadline>) -> CallState {
        let shared = &*self.shared;
        if let Some(budget) = &shared.budget {
            budget.deposit();
        }
        // A budget too large to add to the clock is no limit.
        let total = shared
            .config
            .max_duration
            .and_then(|total| Instant::now().checked_add(total));
        let deadline = match (deadline.map(Deadline::instant), total) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        CallState {
            deadline,
            ..CallState::default()
        }
    }

    /// An attempt succeeded: the call ends with it.
    #[inline]
    pub(crate) fn succeeded(&self, call: &CallState) {
        let shared = &*self.shared;
        let attempts = call.attempts.saturating_add(1);
        shared.metrics.success.increment(1);
        shared.metrics.attempts_per_call.record(f64::from(attempts));
        shared.tally.succeeded.add(1);
        if attempts > 1 {
            Counts::add(&shared.tally.succeeded_after_retry);
        }
        shared.listener.emit_with(|| RetryEvent::Succeeded {
            name: shared.name.clone(),
            attempt: attempts,
        });
    }

    /// An attempt failed with `outcome`: end the call with its result, or retry after a
    /// delay. `can_retry` says whether another attempt can be made at all.
    pub(crate) fn after_failure(
        &self,
        call: &mut CallState,
        outcome: Outcome,
        can_retry: bool,
    ) -> Next {
        let shared = &*self.shared;
        call.attempts = call.attempts.saturating_add(1);
        let (retryable, hint) = match outcome {
            Outcome::Success => (false, None),
            Outcome::Failure(Retryability::RetryAfter(after)) => (true, Some(after)),
            Outcome::Ignore(Retryability::RetryAfter(after)) => {
                (shared.config.wait_for_retry_after, Some(after))
            }
            Outcome::Failure(retry) | Outcome::Ignore(retry) => (retry.is_retryable(), None),
        };
        if !retryable {
            return self.give_up(call, outcome, GiveUpReason::NotRetryable);
        }
        if call.attempts >= shared.config.max_attempts {
            return self.give_up(call, outcome, GiveUpReason::MaxAttempts);
        }
        if !can_retry {
            return self.give_up(call, outcome, GiveUpReason::NotCloneable);
        }
        let delay = match hint {
            Some(hint) => shared.plan.hinted_delay(&mut call.progress, hint),
            None => shared
                .plan
                .next_delay(&mut call.progress, &mut *shared.rng.lock()),
        };
        if let Some(deadline) = call.deadline
            && deadline.saturating_duration_since(Instant::now()) <= delay
        {
            return self.give_up(call, outcome, GiveUpReason::Deadline);
        }
        if let Some(budget) = &shared.budget
            && !budget.try_withdraw()
        {
            shared.metrics.budget_refusals.increment(1);
            return self.give_up(call, outcome, GiveUpReason::BudgetExhausted);
        }
        // Counted when scheduled: a call dropped during the delay took its token and is
        // counted as retried.
        shared.metrics.retries.increment(1);
        Counts::add(&shared.tally.retries);
        shared.listener.emit_with(|| RetryEvent::Retrying {
            name: shared.name.clone(),
            attempt: call.attempts,
            outcome,
            delay,
        });
        Next::Retry(delay)
    }

    /// The inner service failed getting ready for another attempt: the call ends with
    /// that error.
    #[cold]
    pub(crate) fn not_ready(&self, call: &CallState, outcome: Outcome) {
        // The attempt never started; the last finished one counts.
        let _ = self.give_up(call, outcome, GiveUpReason::NotReady);
    }

    fn give_up(&self, call: &CallState, outcome: Outcome, reason: GiveUpReason) -> Next {
        let shared = &*self.shared;
        shared.metrics.failure.increment(1);
        shared.metrics.gave_up[reason as usize].increment(1);
        Counts::add(&shared.tally.gave_up[reason as usize]);
        shared
            .metrics
            .attempts_per_call
            .record(f64::from(call.attempts));
        shared.listener.emit_with(|| RetryEvent::GaveUp {
            name: shared.name.clone(),
            attempt: call.attempts,
            outcome,
            reason,
        });
        Next::Return
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .field("budget", &self.shared.budget)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_counters() {
        for (index, reason) in REASONS.into_iter().enumerate() {
            assert_eq!(reason as usize, index, "{reason:?}");
        }
    }
}

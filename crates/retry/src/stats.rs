//! [`RetryStats`]: what a retry policy has done since it was built.

use hardy_core::Name;
use hardy_core::sync::Tally;

use crate::GiveUpReason;
use crate::sync::{AtomicU64, Ordering};

/// Running totals of a [`Retry`](crate::Retry) since it was built, kept in the process
/// whether or not a `metrics` recorder is installed; made by
/// [`Retry::stats`](crate::Retry::stats). Each total only grows.
///
/// Successes are counted per thread (a load and a store on the thread's own cache
/// line), so counting them costs a call that succeeds at once no shared write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryStats {
    /// The retry's name.
    pub name: Name,
    /// Calls that succeeded, at once or after retries.
    pub succeeded: u64,
    /// Retries scheduled (each attempt after the first).
    pub retries: u64,
    /// Calls that succeeded after at least one retry.
    pub succeeded_after_retry: u64,
    /// Calls that ended without a success, by why the retry stopped.
    pub gave_up: GaveUpCounts,
}

/// Calls a retry gave up on, by [`GiveUpReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GaveUpCounts {
    /// The last failure was not retryable.
    pub not_retryable: u64,
    /// Every attempt was made.
    pub max_attempts: u64,
    /// The next retry would have ended past the deadline.
    pub deadline: u64,
    /// The retry budget refused the retry.
    pub budget_exhausted: u64,
    /// The request could not be copied for another attempt.
    pub not_cloneable: u64,
    /// The service failed getting ready for another attempt.
    pub not_ready: u64,
}

impl GaveUpCounts {
    /// Every call given up on.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.not_retryable
            + self.max_attempts
            + self.deadline
            + self.budget_exhausted
            + self.not_cloneable
            + self.not_ready
    }

    /// The count for one reason.
    #[must_use]
    pub fn get(&self, reason: GiveUpReason) -> u64 {
        match reason {
            GiveUpReason::NotRetryable => self.not_retryable,
            GiveUpReason::MaxAttempts => self.max_attempts,
            GiveUpReason::Deadline => self.deadline,
            GiveUpReason::BudgetExhausted => self.budget_exhausted,
            GiveUpReason::NotCloneable => self.not_cloneable,
            GiveUpReason::NotReady => self.not_ready,
        }
    }
}

/// The counters behind [`RetryStats`].
pub(crate) struct Counts {
    pub(crate) succeeded: Tally,
    pub(crate) retries: AtomicU64,
    pub(crate) succeeded_after_retry: AtomicU64,
    /// By `GiveUpReason as usize`.
    pub(crate) gave_up: [AtomicU64; 6],
}

impl Counts {
    pub(crate) fn new() -> Self {
        Counts {
            succeeded: Tally::new(),
            retries: AtomicU64::new(0),
            succeeded_after_retry: AtomicU64::new(0),
            gave_up: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self, name: &Name) -> RetryStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let gave_up = |reason: GiveUpReason| read(&self.gave_up[reason as usize]);
        RetryStats {
            name: name.clone(),
            succeeded: self.succeeded.sum(),
            retries: read(&self.retries),
            succeeded_after_retry: read(&self.succeeded_after_retry),
            gave_up: GaveUpCounts {
                not_retryable: gave_up(GiveUpReason::NotRetryable),
                max_attempts: gave_up(GiveUpReason::MaxAttempts),
                deadline: gave_up(GiveUpReason::Deadline),
                budget_exhausted: gave_up(GiveUpReason::BudgetExhausted),
                not_cloneable: gave_up(GiveUpReason::NotCloneable),
                not_ready: gave_up(GiveUpReason::NotReady),
            },
        }
    }
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts")
            .field("succeeded", &self.succeeded.sum())
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

//! [`Rejection`]: a Hardy layer refused or abandoned a call.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Name;

/// A shared, cloneable error, as carried by [`Rejection::PoolTimeout`].
pub type SharedError = Arc<dyn StdError + Send + Sync + 'static>;

/// A Hardy layer refused a call, or gave up on it, instead of the inner service failing.
///
/// Every variant names the handle that produced it and carries what the caller needs to
/// react: how long to wait before trying again, how full a bulkhead was, how long a call
/// ran before it timed out. A stack of Hardy layers has one error type: each layer's
/// error is its inner service's error, which is `From<Rejection>`, so a rejection from
/// any layer reaches the caller unwrapped.
///
/// The enum is `#[non_exhaustive]`: new patterns add variants, so a `match` needs a
/// wildcard arm. [`kind`](Self::kind) gives a fieldless, comparable summary.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_core::{Name, Rejection, RejectionKind};
///
/// let rejection = Rejection::CircuitOpen {
///     name: Name::from("soil-1"),
///     retry_after: Some(Duration::from_secs(12)),
/// };
/// assert!(rejection.is_circuit_open());
/// assert_eq!(rejection.kind(), RejectionKind::CircuitOpen);
/// assert_eq!(rejection.retry_after(), Some(Duration::from_secs(12)));
/// assert_eq!(rejection.to_string(), "circuit breaker \"soil-1\" open: retry after 12s");
/// ```
#[derive(Clone)]
#[non_exhaustive]
// A whole word for the variant: the futures of every layer hold an `Option<Rejection>`
// beside their running state, and with a one-byte tag the seven bytes after it (a
// variant's small fields) are copied as two overlapping loads every time a future is
// moved, a store-forwarding stall on the success path. The niche is kept: an
// `Option<Rejection>` is no larger.
#[repr(u64)]
pub enum Rejection {
    /// A circuit breaker is open (or its half-open probes are all taken) and refused the
    /// call without trying it.
    CircuitOpen {
        /// The breaker's name.
        name: Name,
        /// How long until the breaker lets a probe through, if it knows (`None` when it
        /// was forced open by hand).
        retry_after: Option<Duration>,
    },
    /// A bulkhead had no free slot, and its wait queue was full or the wait expired.
    BulkheadFull {
        /// The bulkhead's name.
        name: Name,
        /// Calls running when the call was refused.
        in_flight: usize,
        /// The bulkhead's concurrency limit.
        max_concurrent: usize,
        /// Calls waiting for a slot when the call was refused.
        waiting: usize,
        /// The bulkhead's wait-queue limit.
        max_waiting: usize,
    },
    /// A call did not finish within its time limit; the inner future was dropped.
    Timeout {
        /// The timeout's name.
        name: Name,
        /// How long the call ran before it was abandoned.
        elapsed: Duration,
        /// The limit in force: the configured timeout, or less when a caller's deadline
        /// was nearer.
        limit: Duration,
    },
    /// A rate limiter refused the call: the rate was used up.
    RateLimited {
        /// The rate limiter's name.
        name: Name,
        /// How long until a call would be admitted.
        retry_after: Duration,
    },
    /// A load shedder dropped the call to keep the service fast under overload.
    Shed {
        /// The load shedder's name.
        name: Name,
        /// Why the call was shed.
        reason: ShedReason,
        /// When trying again is likely to succeed, if the shedder can tell.
        retry_after: Option<Duration>,
    },
    /// No pooled object became available within the pool's acquire timeout.
    PoolTimeout {
        /// The pool's name.
        name: Name,
        /// How long the caller waited.
        waited: Duration,
        /// The last error the pool's manager returned while creating an object, if
        /// creation was failing: the real cause behind the wait. It is also this
        /// rejection's [`source`](std::error::Error::source).
        last_error: Option<SharedError>,
    },
    /// A retry budget was spent, so a retry was not attempted.
    ///
    /// Retry layers record this in their metrics and events and return the last real
    /// error to the caller; it reaches a caller only from code that asks for it.
    RetryBudgetExhausted {
        /// The retry policy's name.
        name: Name,
    },
}

/// Why a load shedder dropped a call: the `reason` of [`Rejection::Shed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShedReason {
    /// The adaptive concurrency limit was reached.
    Overload,
    /// The call's priority was too low for the current load.
    Priority,
    /// The caller already held its fair share of the limit.
    Fairness,
    /// Requests had been waiting longer than the target queue delay.
    QueueDelay,
    /// The call was dropped at random to bring the load down (adaptive throttling).
    Probabilistic,
}

impl ShedReason {
    /// A short `snake_case` label, as used in metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ShedReason::Overload => "overload",
            ShedReason::Priority => "priority",
            ShedReason::Fairness => "fairness",
            ShedReason::QueueDelay => "queue_delay",
            ShedReason::Probabilistic => "probabilistic",
        }
    }
}

impl fmt::Display for ShedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShedReason::Overload => "over the concurrency limit",
            ShedReason::Priority => "priority too low for the load",
            ShedReason::Fairness => "caller over its fair share",
            ShedReason::QueueDelay => "queue delay above target",
            ShedReason::Probabilistic => "adaptive throttling",
        })
    }
}

/// The kind of a [`Rejection`], without its context: `Copy`, comparable, and usable as a
/// metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RejectionKind {
    /// [`Rejection::CircuitOpen`].
    CircuitOpen,
    /// [`Rejection::BulkheadFull`].
    BulkheadFull,
    /// [`Rejection::Timeout`].
    Timeout,
    /// [`Rejection::RateLimited`].
    RateLimited,
    /// [`Rejection::Shed`].
    Shed,
    /// [`Rejection::PoolTimeout`].
    PoolTimeout,
    /// [`Rejection::RetryBudgetExhausted`].
    RetryBudgetExhausted,
}

impl RejectionKind {
    /// A short `snake_case` label, as used in metrics: `"circuit_open"`, `"timeout"`, …
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionKind::CircuitOpen => "circuit_open",
            RejectionKind::BulkheadFull => "bulkhead_full",
            RejectionKind::Timeout => "timeout",
            RejectionKind::RateLimited => "rate_limited",
            RejectionKind::Shed => "shed",
            RejectionKind::PoolTimeout => "pool_timeout",
            RejectionKind::RetryBudgetExhausted => "retry_budget_exhausted",
        }
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Rejection {
    /// The name of the handle that produced the rejection.
    #[must_use]
    pub fn name(&self) -> &Name {
        match self {
            Rejection::CircuitOpen { name, .. }
            | Rejection::BulkheadFull { name, .. }
            | Rejection::Timeout { name, .. }
            | Rejection::RateLimited { name, .. }
            | Rejection::Shed { name, .. }
            | Rejection::PoolTimeout { name, .. }
            | Rejection::RetryBudgetExhausted { name } => name,
        }
    }

    /// The kind of rejection, without its context.
    #[must_use]
    pub fn kind(&self) -> RejectionKind {
        match self {
            Rejection::CircuitOpen { .. } => RejectionKind::CircuitOpen,
            Rejection::BulkheadFull { .. } => RejectionKind::BulkheadFull,
            Rejection::Timeout { .. } => RejectionKind::Timeout,
            Rejection::RateLimited { .. } => RejectionKind::RateLimited,
            Rejection::Shed { .. } => RejectionKind::Shed,
            Rejection::PoolTimeout { .. } => RejectionKind::PoolTimeout,
            Rejection::RetryBudgetExhausted { .. } => RejectionKind::RetryBudgetExhausted,
        }
    }

    /// How long the caller should wait before trying again, when the layer that refused
    /// knows: an open breaker's remaining open time, a rate limiter's next free slot, a
    /// shedder's hint.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejection::CircuitOpen { retry_after, .. } | Rejection::Shed { retry_after, .. } => {
                *retry_after
            }
            Rejection::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether a circuit breaker refused the call.
    #[must_use]
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, Rejection::CircuitOpen { .. })
    }

    /// Whether a bulkhead was full.
    #[must_use]
    pub fn is_bulkhead_full(&self) -> bool {
        matches!(self, Rejection::BulkheadFull { .. })
    }

    /// Whether the call timed out.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Rejection::Timeout { .. })
    }

    /// Whether a rate limiter refused the call.
    #[must_use]
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Rejection::RateLimited { .. })
    }

    /// Whether a load shedder dropped the call.
    #[must_use]
    pub fn is_shed(&self) -> bool {
        matches!(self, Rejection::Shed { .. })
    }

    /// Whether a pool gave no object in time.
    #[must_use]
    pub fn is_pool_timeout(&self) -> bool {
        matches!(self, Rejection::PoolTimeout { .. })
    }

    /// Whether a retry budget was spent.
    #[must_use]
    pub fn is_retry_budget_exhausted(&self) -> bool {
        matches!(self, Rejection::RetryBudgetExhausted { .. })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::CircuitOpen { name, retry_after } => {
                write!(f, "circuit breaker \"{name}\" open")?;
                if let Some(after) = retry_after {
                    write!(f, ": retry after {after:?}")?;
                }
                Ok(())
            }
            Rejection::BulkheadFull {
                name,
                in_flight,
                max_concurrent,
                waiting,
                max_waiting,
            } => write!(
                f,
                "bulkhead \"{name}\" full: {in_flight}/{max_concurrent} in flight, \
                 {waiting}/{max_waiting} waiting"
            ),
            Rejection::Timeout {
                name,
                elapsed,
                limit,
            } => write!(
                f,
                "timeout \"{name}\" expired: no result after {elapsed:?} (limit {limit:?})"
            ),
            Rejection::RateLimited { name, retry_after } => write!(
                f,
                "rate limiter \"{name}\" refused the call: retry after {retry_after:?}"
            ),
            Rejection::Shed {
                name,
                reason,
                retry_after,
            } => {
                write!(f, "load shedder \"{name}\" shed the call: {reason}")?;
                if let Some(after) = retry_after {
                    write!(f, ", retry after {after:?}")?;
                }
                Ok(())
            }
            Rejection::PoolTimeout {
                name,
                waited,
                last_error,
            } => {
                write!(f, "pool \"{name}\" gave no object within {waited:?}")?;
                if last_error.is_some() {
                    f.write_str(" (object creation is failing)")?;
                }
                Ok(())
            }
            Rejection::RetryBudgetExhausted { name } => {
                write!(f, "retry budget \"{name}\" exhausted")
            }
        }
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::CircuitOpen { name, retry_after } => f
                .debug_struct("CircuitOpen")
                .field("name", name)
                .field("retry_after", retry_after)
                .finish(),
            Rejection::BulkheadFull {
                name,
                in_flight,
                max_concurrent,
                waiting,
                max_waiting,
            } => f
                .debug_struct("BulkheadFull")
                .field("name", name)
                .field("in_flight", in_flight)
                .field("max_concurrent", max_concurrent)
                .field("waiting", waiting)
                .field("max_waiting", max_waiting)
                .finish(),
            Rejection::Timeout {
                name,
                elapsed,
                limit,
            } => f
                .debug_struct("Timeout")
                .field("name", name)
                .field("elapsed", elapsed)
                .field("limit", limit)
                .finish(),
            Rejection::RateLimited { name, retry_after } => f
                .debug_struct("RateLimited")
                .field("name", name)
                .field("retry_after", retry_after)
                .finish(),
            Rejection::Shed {
                name,
                reason,
                retry_after,
            } => f
                .debug_struct("Shed")
                .field("name", name)
                .field("reason", reason)
                .field("retry_after", retry_after)
                .finish(),
            Rejection::PoolTimeout {
                name,
                waited,
                last_error,
            } => f
                .debug_struct("PoolTimeout")
                .field("name", name)
                .field("waited", waited)
                .field("last_error", &last_error.as_ref().map(|e| e.to_string()))
                .finish(),
            Rejection::RetryBudgetExhausted { name } => f
                .debug_struct("RetryBudgetExhausted")
                .field("name", name)
                .finish(),
        }
    }
}

impl StdError for Rejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Rejection::PoolTimeout {
                last_error: Some(error),
                ..
            } => Some(&**error as &(dyn StdError + 'static)),
            _ => None,
        }
    }
}

impl From<Rejection> for std::io::Error {
    /// Wraps the rejection in an I/O error of kind `TimedOut` for a timeout and `Other`
    /// otherwise; [`AsRejection`](crate::AsRejection) finds it again.
    fn from(rejection: Rejection) -> Self {
        let kind = match rejection {
            Rejection::Timeout { .. } | Rejection::PoolTimeout { .. } => {
                std::io::ErrorKind::TimedOut
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, rejection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_rejection_is_no_larger_than_a_rejection() {
        assert_eq!(
            std::mem::size_of::<Option<Rejection>>(),
            std::mem::size_of::<Rejection>()
        );
        assert!(std::mem::size_of::<Rejection>() <= 7 * std::mem::size_of::<usize>());
    }

    fn name() -> Name {
        Name::from("pump-1")
    }

    fn every_rejection() -> Vec<Rejection> {
        vec![
            Rejection::CircuitOpen {
                name: name(),
                retry_after: None,
            },
            Rejection::BulkheadFull {
                name: name(),
                in_flight: 1,
                max_concurrent: 1,
                waiting: 0,
                max_waiting: 0,
            },
            Rejection::Timeout {
                name: name(),
                elapsed: Duration::from_secs(5),
                limit: Duration::from_secs(5),
            },
            Rejection::RateLimited {
                name: name(),
                retry_after: Duration::from_millis(250),
            },
            Rejection::Shed {
                name: name(),
                reason: ShedReason::Priority,
                retry_after: Some(Duration::from_secs(1)),
            },
            Rejection::PoolTimeout {
                name: name(),
                waited: Duration::from_secs(2),
                last_error: Some(Arc::new(std::io::Error::other("connection refused"))),
            },
            Rejection::RetryBudgetExhausted { name: name() },
        ]
    }

    #[test]
    fn display_names_the_handle_and_the_facts() {
        let texts: Vec<String> = every_rejection().iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "circuit breaker \"pump-1\" open",
                "bulkhead \"pump-1\" full: 1/1 in flight, 0/0 waiting",
                "timeout \"pump-1\" expired: no result after 5s (limit 5s)",
                "rate limiter \"pump-1\" refused the call: retry after 250ms",
                "load shedder \"pump-1\" shed the call: priority too low for the load, retry after 1s",
                "pool \"pump-1\" gave no object within 2s (object creation is failing)",
                "retry budget \"pump-1\" exhausted",
            ]
        );
    }

    #[test]
    fn each_predicate_matches_exactly_one_kind() {
        for rejection in every_rejection() {
            let hits = [
                rejection.is_circuit_open(),
                rejection.is_bulkhead_full(),
                rejection.is_timeout(),
                rejection.is_rate_limited(),
                rejection.is_shed(),
                rejection.is_pool_timeout(),
                rejection.is_retry_budget_exhausted(),
            ];
            assert_eq!(hits.iter().filter(|hit| **hit).count(), 1, "{rejection:?}");
            assert_eq!(rejection.name(), "pump-1");
        }
    }

    #[test]
    fn kinds_are_distinct_and_labelled() {
        let mut labels: Vec<&str> = every_rejection()
            .iter()
            .map(|r| r.kind().as_str())
            .collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), 7);
    }

    #[test]
    fn retry_after_comes_from_the_variants_that_know_it() {
        let hints: Vec<Option<Duration>> = every_rejection()
            .iter()
            .map(Rejection::retry_after)
            .collect();
        assert_eq!(
            hints,
            [
                None,
                None,
                None,
                Some(Duration::from_millis(250)),
                Some(Duration::from_secs(1)),
                None,
                None
            ]
        );
    }

    #[test]
    fn pool_timeout_source_is_the_creation_error() {
        let rejections = every_rejection();
        let pool = &rejections[5];
        let source = pool.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection refused"));
        assert!(rejections[0].source().is_none());
    }

    #[test]
    fn io_error_keeps_the_rejection() {
        let io: std::io::Error = every_rejection().swap_remove(2).into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Rejection>());
        assert!(inner.is_some_and(Rejection::is_timeout));
    }
}

//! [`Rejection`]: a Hardy layer refused or abandoned a call.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Name, Readable};

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
    /// The service behind the shedder was not ready to take a call, and the shedder
    /// was set to shed then rather than wait (tower's `LoadShed` rule).
    NotReady,
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
            ShedReason::NotReady => "not_ready",
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
            ShedReason::NotReady => "service not ready",
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
                    write!(f, ": retry after {}", Readable(*after))?;
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
                "timeout \"{name}\" expired: no result after {} (limit {})",
                Readable(*elapsed),
                Readable(*limit)
            ),
            Rejection::RateLimited { name, retry_after } => write!(
                f,
                "rate limiter \"{name}\" refused the call: retry after {}",
                Readable(*retry_after)
            ),
            Rejection::Shed {
                name,
                reason,
                retry_after,
            } => {
                write!(f, "load shedder \"{name}\" shed the call: {reason}")?;
                if let Some(after) = retry_after {
                    write!(f, ", retry after {}", Readable(*after))?;
                }
                Ok(())
            }
            Rejection::PoolTimeout {
                name,
                waited,
                last_error,
            } => {
                write!(
                    f,
                    "pool \"{name}\" gave no object within {}",
                    Readable(*waited)
                )?;
                if let Some(error) = last_error {
                    write!(f, " (object creation is failing: {error})")?;
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
mod tests;

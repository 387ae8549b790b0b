//! [`Outcome`] and [`Classify`]: what a call's result means to a resilience layer.

use std::time::Duration;

use crate::{AsRejection, Rejection};

/// Whether a failed call is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retryability {
    /// Trying again may succeed (a dropped connection, a timeout, a busy device).
    Retryable,
    /// Trying again will fail the same way, or must not be done (bad input, a refusal, a
    /// command that is not idempotent).
    Permanent,
    /// Trying again may succeed, but not before this long (a server's `Retry-After`).
    RetryAfter(Duration),
}

impl Retryability {
    /// Whether a retry may be attempted at all.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        !matches!(self, Retryability::Permanent)
    }
}

/// What a call's result means to a resilience layer: what it counts as, and whether it is
/// worth retrying.
///
/// Breakers and load shedders record successes and failures and leave ignored results
/// out of their statistics; retry layers retry only what is retryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed: it counts against the dependency.
    Failure(Retryability),
    /// The result says nothing about the dependency's health (a `404`, a caller's bad
    /// input, a refusal by another layer): it is not recorded.
    Ignore(Retryability),
}

impl Outcome {
    /// A failure that is worth retrying.
    pub const RETRYABLE_FAILURE: Outcome = Outcome::Failure(Retryability::Retryable);
    /// A failure that must not be retried.
    pub const PERMANENT_FAILURE: Outcome = Outcome::Failure(Retryability::Permanent);
    /// An ignored result that must not be retried.
    pub const IGNORE: Outcome = Outcome::Ignore(Retryability::Permanent);

    /// Whether the call counts as a success.
    #[must_use]
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// Whether the call counts as a failure.
    #[must_use]
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failure(_))
    }

    /// Whether the call is left out of statistics.
    #[must_use]
    pub fn is_ignored(self) -> bool {
        matches!(self, Outcome::Ignore(_))
    }

    /// Whether to retry the call, and when; `None` for a success.
    #[must_use]
    pub fn retryability(self) -> Option<Retryability> {
        match self {
            Outcome::Success => None,
            Outcome::Failure(retry) | Outcome::Ignore(retry) => Some(retry),
        }
    }

    /// Whether a retry may be attempted.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        self.retryability().is_some_and(Retryability::is_retryable)
    }

    /// The wait the result asks for before a retry, if it names one.
    #[must_use]
    pub fn retry_after(self) -> Option<Duration> {
        match self.retryability() {
            Some(Retryability::RetryAfter(after)) => Some(after),
            _ => None,
        }
    }
}

/// Decides what a call's result means: success, failure or ignored, and whether to retry.
///
/// Every Hardy layer that records or retries takes a classifier. Closures
/// `Fn(&Result<T, E>) -> Outcome` are classifiers, and [`DefaultClassifier`] is the
/// default.
///
/// # Examples
///
/// A classifier for an HTTP-like status where `5xx` fails and is retryable, `429` asks to
/// wait, and `4xx` is the caller's fault:
///
/// ```
/// use std::time::Duration;
/// use hardy_core::{Classify, Outcome, Retryability};
///
/// let by_status = |result: &Result<u16, std::io::Error>| match result {
///     Ok(429) => Outcome::Failure(Retryability::RetryAfter(Duration::from_secs(1))),
///     Ok(status) if *status >= 500 => Outcome::RETRYABLE_FAILURE,
///     Ok(status) if *status >= 400 => Outcome::IGNORE,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::RETRYABLE_FAILURE,
/// };
/// assert_eq!(by_status.classify(&Ok(503)), Outcome::RETRYABLE_FAILURE);
/// assert_eq!(by_status.classify(&Ok(404)), Outcome::IGNORE);
/// assert!(by_status.classify(&Ok(200)).is_success());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify a `Result<{T}, {E}>`",
    label = "not a classifier of `Result<{T}, {E}>`",
    note = "a classifier is a closure `Fn(&Result<T, E>) -> Outcome`, or a type implementing `Classify<T, E>`",
    note = "the default classifier needs the error to implement `AsRejection`"
)]
pub trait Classify<T, E> {
    /// Classifies one result.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The classifier every Hardy layer uses unless told otherwise.
///
/// | result | outcome |
/// | --- | --- |
/// | `Ok(_)` | [`Outcome::Success`] |
/// | `Err(e)` holding no [`Rejection`] | a retryable failure |
/// | `Err(e)` holding [`Rejection::Timeout`] | a retryable failure: the dependency did not answer in time |
/// | `Err(e)` holding [`Rejection::CircuitOpen`] or [`Rejection::RateLimited`] with a retry-after hint | ignored, [`Retryability::RetryAfter`] the hint |
/// | `Err(e)` holding any other rejection | ignored and permanent: another layer refused, the dependency was never asked |
///
/// A rejection is never retried blindly: an ignored outcome carrying a retry-after hint
/// lets a retry layer wait for it, when its configuration asks it to, and is otherwise as
/// final as a permanent one. The rejection is found with [`AsRejection`], so the error
/// type must implement it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_core::{Classify, DefaultClassifier, Error, Name, Outcome, Rejection, Retryability};
///
/// let ok: Result<u8, Error<String>> = Ok(1);
/// assert_eq!(DefaultClassifier.classify(&ok), Outcome::Success);
///
/// let failed: Result<u8, Error<String>> = Err(Error::Inner("unplugged".into()));
/// assert_eq!(DefaultClassifier.classify(&failed), Outcome::RETRYABLE_FAILURE);
///
/// let open: Result<u8, Error<String>> = Err(Rejection::CircuitOpen {
///     name: Name::from("soil-1"),
///     retry_after: Some(Duration::from_secs(5)),
/// }
/// .into());
/// assert_eq!(
///     DefaultClassifier.classify(&open),
///     Outcome::Ignore(Retryability::RetryAfter(Duration::from_secs(5))),
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl DefaultClassifier {
    /// The default outcome of a rejection: a timeout is a retryable failure; an open
    /// breaker or a rate limit that says when to come back is ignored with that hint;
    /// any other refusal is ignored and permanent.
    #[must_use]
    pub fn classify_rejection(rejection: &Rejection) -> Outcome {
        match rejection {
            Rejection::Timeout { .. } => Outcome::RETRYABLE_FAILURE,
            Rejection::CircuitOpen {
                retry_after: Some(after),
                ..
            }
            | Rejection::RateLimited {
                retry_after: after, ..
            } => Outcome::Ignore(Retryability::RetryAfter(*after)),
            _ => Outcome::IGNORE,
        }
    }
}

impl<T, E> Classify<T, E> for DefaultClassifier
where
    E: AsRejection,
{
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(error) => match error.as_rejection() {
                None => Outcome::RETRYABLE_FAILURE,
                Some(rejection) => Self::classify_rejection(rejection),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Name, ShedReason};

    fn classify(result: Result<(), Error<String>>) -> Outcome {
        DefaultClassifier.classify(&result)
    }

    #[test]
    fn default_classifier_table() {
        let name = || Name::from("x");
        assert_eq!(classify(Ok(())), Outcome::Success);
        assert_eq!(
            classify(Err(Error::Inner("e".into()))),
            Outcome::RETRYABLE_FAILURE
        );
        let timeout = Rejection::Timeout {
            name: name(),
            elapsed: Duration::from_secs(1),
            limit: Duration::from_secs(1),
        };
        assert_eq!(classify(Err(timeout.into())), Outcome::RETRYABLE_FAILURE);
        let hinted = |after| Outcome::Ignore(Retryability::RetryAfter(after));
        let second = Duration::from_secs(1);
        let refusals = [
            (
                Rejection::CircuitOpen {
                    name: name(),
                    retry_after: Some(second),
                },
                hinted(second),
            ),
            (
                Rejection::CircuitOpen {
                    name: name(),
                    retry_after: None,
                },
                Outcome::IGNORE,
            ),
            (
                Rejection::BulkheadFull {
                    name: name(),
                    in_flight: 1,
                    max_concurrent: 1,
                    waiting: 0,
                    max_waiting: 0,
                },
                Outcome::IGNORE,
            ),
            (
                Rejection::RateLimited {
                    name: name(),
                    retry_after: 2 * second,
                },
                hinted(2 * second),
            ),
            (
                Rejection::Shed {
                    name: name(),
                    reason: ShedReason::Overload,
                    retry_after: Some(second),
                },
                Outcome::IGNORE,
            ),
            (
                Rejection::PoolTimeout {
                    name: name(),
                    waited: second,
                    last_error: None,
                },
                Outcome::IGNORE,
            ),
            (
                Rejection::RetryBudgetExhausted { name: name() },
                Outcome::IGNORE,
            ),
        ];
        for (refusal, expected) in refusals {
            let shown = refusal.to_string();
            let outcome = classify(Err(refusal.into()));
            assert_eq!(outcome, expected, "{shown}");
            assert!(!outcome.is_failure(), "{shown}");
        }
    }

    #[test]
    fn outcome_accessors() {
        let wait = Outcome::Failure(Retryability::RetryAfter(Duration::from_secs(3)));
        assert!(wait.is_failure() && wait.is_retryable());
        assert_eq!(wait.retry_after(), Some(Duration::from_secs(3)));
        assert!(!Outcome::IGNORE.is_retryable());
        assert!(Outcome::IGNORE.is_ignored());
        assert!(!Outcome::Success.is_retryable());
        assert_eq!(Outcome::Success.retryability(), None);
        assert_eq!(Outcome::RETRYABLE_FAILURE.retry_after(), None);
    }

    #[test]
    fn closures_classify() {
        let ok_is_failure = |result: &Result<i32, ()>| match result {
            Ok(n) if *n < 0 => Outcome::PERMANENT_FAILURE,
            Ok(_) => Outcome::Success,
            Err(()) => Outcome::RETRYABLE_FAILURE,
        };
        assert_eq!(ok_is_failure.classify(&Ok(-1)), Outcome::PERMANENT_FAILURE);
        assert_eq!(ok_is_failure.classify(&Ok(1)), Outcome::Success);
    }
}

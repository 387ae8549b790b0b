//! [`Fallback`]: answer a failed call with a value, a function of the failure, or
//! another service.

use std::fmt;
use std::future::Future;

use hardy_core::{Classify, DefaultClassifier, Listener, Name};

use crate::action::{Backup, MapFailure, OrElse, Value};
use crate::future::{CallFuture, Guarded};
use crate::state::{ByCause, Shared};
use crate::{FallbackEvent, FallbackLayer, Recover};
use std::sync::Arc;

/// `hardy_fallback_used_total{name, cause}`: fallbacks used, by cause (`failure`,
/// `refused`).
pub const METRIC_USED: &str = "hardy_fallback_used_total";

/// Answers a failed call instead of failing: with a value, a function of the failed
/// result, an async function (a backup sensor), or another tower service.
///
/// What calls for the fallback is decided by a classifier: by default an error (a
/// classified failure) or a `Rejection` from a resilience layer inside (an open
/// breaker, a full bulkhead), but not a success. A custom classifier can also send `Ok`
/// results it judges bad (a reading of too low a quality) to the fallback.
///
/// `Fallback` is cheap to clone; clones share the answer and the telemetry.
///
/// # Examples
///
/// ```
/// use hardy_fallback::Fallback;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // The design notes' default: a dry-ish reading when the sensor cannot be read.
/// let soil = Fallback::builder("soil-1").value(0.35).build();
/// let moisture = soil.call(|| async { Err::<f64, _>(std::io::Error::other("no ack")) }).await?;
/// assert_eq!(moisture, 0.35);
/// # Ok(())
/// # }
/// ```
pub struct Fallback<A, C = DefaultClassifier> {
    pub(crate) shared: Arc<Shared<A, C>>,
}

impl<A, C> Clone for Fallback<A, C> {
    fn clone(&self) -> Self {
        Fallback {
            shared: self.shared.clone(),
        }
    }
}

impl<A, C> fmt::Debug for Fallback<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// No answer chosen yet: a [`FallbackBuilder`] needs one before it builds.
#[derive(Debug, Clone, Copy)]
pub struct NoAnswer;

/// Builds a [`Fallback`]; made by [`Fallback::builder`]. Choose the answer with
/// [`value`](Self::value), [`map_failure`](Self::map_failure),
/// [`or_else`](Self::or_else) or [`service`](Self::service).
#[must_use = "a builder does nothing until built"]
pub struct FallbackBuilder<A = NoAnswer, C = DefaultClassifier> {
    name: Name,
    action: A,
    classifier: C,
    listener: Listener<FallbackEvent>,
}

impl<A: fmt::Debug, C> fmt::Debug for FallbackBuilder<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackBuilder")
            .field("name", &self.name)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl Fallback<NoAnswer> {
    /// Starts building a fallback named `name`; the name labels its metrics and events.
    pub fn builder(name: impl Into<Name>) -> FallbackBuilder {
        FallbackBuilder {
            name: name.into(),
            action: NoAnswer,
            classifier: DefaultClassifier,
            listener: Listener::none(),
        }
    }
}

impl<C> FallbackBuilder<NoAnswer, C> {
    fn answer<A>(self, action: A) -> FallbackBuilder<A, C> {
        FallbackBuilder {
            name: self.name,
            action,
            classifier: self.classifier,
            listener: self.listener,
        }
    }

    /// Answers with a clone of `value`.
    pub fn value<T: Clone>(self, value: T) -> FallbackBuilder<Value<T>, C> {
        self.answer(Value(value))
    }

    /// Answers with `f` of the failed result (`Ok` to recover, `Err` to fail after
    /// all, perhaps with another error).
    pub fn map_failure<F>(self, f: F) -> FallbackBuilder<MapFailure<F>, C> {
        self.answer(MapFailure(f))
    }

    /// Answers with the future `f` of the failed result returns: a backup sensor, a
    /// cache on disk.
    pub fn or_else<F>(self, f: F) -> FallbackBuilder<OrElse<F>, C> {
        self.answer(OrElse(f))
    }

    /// Answers by calling `backup` with a copy of the request (tower layers only; the
    /// request must be `Clone`).
    pub fn service<S>(self, backup: S) -> FallbackBuilder<Backup<S>, C> {
        self.answer(Backup(backup))
    }
}

impl<A, C> FallbackBuilder<A, C> {
    /// Decides with `classifier` which results call for the fallback. Default:
    /// [`DefaultClassifier`] (errors and rejections do, successes do not).
    pub fn classify<C2>(self, classifier: C2) -> FallbackBuilder<A, C2> {
        FallbackBuilder {
            name: self.name,
            action: self.action,
            classifier,
            listener: self.listener,
        }
    }

    /// Calls `listener` with every [`FallbackEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&FallbackEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }
}

impl<A: crate::action::Answer, C> FallbackBuilder<A, C> {
    /// Builds the fallback. There is nothing to validate: every answer is valid.
    pub fn build(self) -> Fallback<A, C> {
        metrics::describe_counter!(
            METRIC_USED,
            metrics::Unit::Count,
            "Fallbacks used, by cause"
        );
        Fallback {
            shared: Arc::new(Shared {
                used: ByCause::register(METRIC_USED, &self.name, &[]),
                name: self.name,
                action: self.action,
                classifier: self.classifier,
                listener: self.listener,
            }),
        }
    }
}

impl<A, C> Fallback<A, C> {
    /// Its running totals since it was built: calls it answered, by cause, without a
    /// `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> crate::FallbackStats {
        crate::FallbackStats {
            name: self.shared.name.clone(),
            used: self.shared.used.counts(),
        }
    }

    /// The fallback's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// Runs `operation`, answering with the fallback if it fails.
    ///
    /// # Errors
    ///
    /// `Err(Error::Inner(e))` when the operation failed and the fallback failed too
    /// (a `map_failure` or `or_else` answer that returns an error).
    ///
    /// The future borrows the fallback, so a call takes no reference count; a call that
    /// must outlive the borrow (a spawned task) moves a clone of the handle in with it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the operation, or the fallback's answer under way.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<'_, Fut, A, C>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        A: Recover<(), T, E> + crate::action::Answer,
        C: Classify<T, E>,
    {
        CallFuture::new(Guarded::new(operation(), None, &*self.shared))
    }

    /// A tower layer answering each wrapped service's failed calls with this
    /// fallback.
    pub fn layer(&self) -> FallbackLayer<A, C> {
        FallbackLayer::new(self.clone())
    }
}

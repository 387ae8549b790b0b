//! The [`Timeout`] handle, its direct calls and its events.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hardy_core::future::WrapInner;
use hardy_core::{ConfigError, Listener, Name, Rejection};
use metrics::Counter;
use tokio::time::Instant;

use crate::countdown::Countdown;
use crate::future::{CallFuture, ResponseFuture, Timed};
use crate::stats::{Counts, TimeoutStats};
use crate::{Deadline, TimeoutBuilder, TimeoutConfig, TimeoutEvent, TimeoutLayer};

/// Limits how long a call may take: a handle shared by every caller and service it
/// guards.
///
/// A call that does not finish within the limit is abandoned: its future is dropped
/// and the caller gets [`Rejection::Timeout`] with the time it ran and the limit in
/// force. A caller's [`Deadline`] caps the limit. A call whose result is ready at its
/// first poll registers no timer and reads no clock.
///
/// `Timeout` is cheap to clone (an `Arc` inside); clones share the name, settings,
/// listener and metrics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_core::Error;
/// use hardy_timeout::Timeout;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let timeout = Timeout::new("soil-read", Duration::from_secs(2))?;
///
/// let reading = timeout.call(|| async { Ok::<_, std::io::Error>(41.5) }).await?;
/// assert_eq!(reading, 41.5);
///
/// let stalled = timeout
///     .call(|| async {
///         tokio::time::sleep(Duration::from_secs(60)).await;
///         Ok::<_, std::io::Error>(0.0)
///     })
///     .await;
/// assert!(matches!(stalled, Err(Error::Rejected(r)) if r.is_timeout()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Timeout {
    shared: Arc<Shared>,
}

struct Shared {
    name: Name,
    config: TimeoutConfig,
    listener: Listener<TimeoutEvent>,
    by_limit: Counter,
    by_deadline: Counter,
    tally: Counts,
}

/// The counter of abandoned calls, labelled `name` and `cause` (`limit` or `deadline`).
pub const METRIC_TIMEOUTS: &str = "hardy_timeout_timeouts_total";

impl Timeout {
    /// Starts building a timeout named `name`; the name labels its metrics, events and
    /// rejections.
    pub fn builder(name: impl Into<Name>) -> TimeoutBuilder {
        TimeoutBuilder::new(name.into())
    }

    /// A timeout named `name` with limit `timeout` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `timeout` is zero.
    pub fn new(name: impl Into<Name>, timeout: Duration) -> Result<Self, ConfigError> {
        Timeout::builder(name).timeout(timeout).build()
    }

    /// A timeout named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(name: impl Into<Name>, config: TimeoutConfig) -> Result<Self, ConfigError> {
        Timeout::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: TimeoutConfig,
        listener: Listener<TimeoutEvent>,
    ) -> Self {
        metrics::describe_counter!(
            METRIC_TIMEOUTS,
            metrics::Unit::Count,
            "Calls abandoned by a timeout, by cause (limit or deadline)"
        );
        let counter = |cause: &'static str| metrics::counter!(METRIC_TIMEOUTS, "name" => name.to_string(), "cause" => cause);
        Timeout {
            shared: Arc::new(Shared {
                by_limit: counter("limit"),
                by_deadline: counter("deadline"),
                tally: Counts::default(),
                name,
                config,
                listener,
            }),
        }
    }

    /// The timeout's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The time limit of each call.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.shared.config.timeout
    }

    /// Its running totals since it was built: calls abandoned at its limit or at the
    /// caller's deadline, and calls refused past their deadline, without a `metrics`
    /// recorder.
    #[must_use]
    pub fn stats(&self) -> TimeoutStats {
        self.shared.tally.stats(&self.shared.name)
    }

    /// The settings the timeout was built with.
    #[must_use]
    pub fn config(&self) -> &TimeoutConfig {
        &self.shared.config
    }

    /// A tower layer that applies this timeout to every call of a service.
    pub fn layer(&self) -> TimeoutLayer {
        TimeoutLayer::new(self.clone())
    }

    /// Runs the future `operation` builds, abandoning it if it does not finish within the
    /// limit.
    ///
    /// The limit counts from the first poll at which the operation is not ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_timeout::Timeout;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let timeout = Timeout::new("pump-1", Duration::from_secs(3))?;
    /// let dispensed = timeout.call(|| async { Ok::<_, std::io::Error>(250_u32) }).await?;
    /// assert_eq!(dispensed, 250);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Inner`](hardy_core::Error::Inner) with the operation's own error, or
    /// [`Error::Rejected`](hardy_core::Error::Rejected) with [`Rejection::Timeout`] when
    /// the limit passed first.
    ///
    /// # Panics
    ///
    /// The returned future panics if it has to start a timer outside a Tokio runtime with
    /// time enabled (an operation ready at its first poll needs none).
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops the operation's future and the timer, and
    /// nothing else: whatever the operation held is released.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<'_, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Timeout::start(self, None, || WrapInner::new(operation()))
    }

    /// Like [`call`](Self::call), but the limit is also capped by `deadline`; if the
    /// deadline has already passed, `operation` is not run at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_core::Error;
    /// use hardy_timeout::{Deadline, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let timeout = Timeout::new("soil-read", Duration::from_secs(5))?;
    /// let budget = Deadline::after(Duration::from_millis(300));
    /// let result = timeout
    ///     .call_until(budget, || async {
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await;
    /// match result {
    ///     Err(Error::Rejected(hardy_core::Rejection::Timeout { limit, .. })) => {
    ///         assert_eq!(limit, Duration::from_millis(300))
    ///     }
    ///     other => panic!("expected a timeout, got {other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); [`Rejection::Timeout`] with zero elapsed time when the
    /// deadline had passed before the call.
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call); reading the clock for the deadline also needs a Tokio
    /// runtime when Tokio's `test-util` clock is paused.
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub fn call_until<F, Fut, T, E>(&self, deadline: Deadline, operation: F) -> CallFuture<'_, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Timeout::start(self, Some(deadline), || WrapInner::new(operation()))
    }

    /// Wraps any future: it resolves to `Ok` with the future's output, or to
    /// `Err(`[`Rejection::Timeout`]`)` if the limit passes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_timeout::Timeout;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let timeout = Timeout::new("settle", Duration::from_millis(10))?;
    /// let never = timeout.wrap(std::future::pending::<()>()).await;
    /// assert!(never.unwrap_err().is_timeout());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Rejection::Timeout`] when the limit passes first.
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub fn wrap<F: Future>(&self, future: F) -> Timed<F> {
        Timed::new(future, self.clone(), None)
    }

    /// The future of a call under an optional deadline, holding `handle` (the timeout,
    /// or a reference to it): refused at once if the deadline has passed, otherwise
    /// `make` builds the inner future and it runs under the timer.
    #[inline]
    pub(crate) fn start<F, H: Borrow<Timeout>>(
        handle: H,
        deadline: Option<Deadline>,
        make: impl FnOnce() -> F,
    ) -> ResponseFuture<F, H> {
        match Countdown::for_call(handle.borrow(), deadline) {
            Ok(countdown) => ResponseFuture::running(Timed::counting(make(), handle, countdown)),
            Err(rejection) => ResponseFuture::refused(rejection),
        }
    }

    #[cold]
    pub(crate) fn refuse_expired(&self) -> Rejection {
        let shared = &*self.shared;
        shared.by_deadline.increment(1);
        Counts::add(&shared.tally.refused_expired);
        shared.listener.emit_with(|| TimeoutEvent::DeadlineExpired {
            name: shared.name.clone(),
        });
        Rejection::Timeout {
            name: shared.name.clone(),
            elapsed: Duration::ZERO,
            limit: Duration::ZERO,
        }
    }

    /// Records an abandoned call and builds its rejection.
    pub(crate) fn expired(
        &self,
        started: Instant,
        expiry: Instant,
        by_deadline: bool,
    ) -> Rejection {
        let shared = &*self.shared;
        let elapsed = Instant::now().saturating_duration_since(started);
        let limit = expiry.saturating_duration_since(started);
        if by_deadline {
            shared.by_deadline.increment(1);
            Counts::add(&shared.tally.timed_out_by_deadline);
        } else {
            shared.by_limit.increment(1);
            Counts::add(&shared.tally.timed_out);
        }
        shared.listener.emit_with(|| TimeoutEvent::TimedOut {
            name: shared.name.clone(),
            elapsed,
            limit,
            by_deadline,
        });
        Rejection::Timeout {
            name: shared.name.clone(),
            elapsed,
            limit,
        }
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("name", &self.shared.name)
            .field("timeout", &self.shared.config.timeout)
            .field("listener", &self.shared.listener)
            .finish()
    }
}

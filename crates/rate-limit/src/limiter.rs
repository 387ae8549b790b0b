//! [`RateLimiter`], and what it shares with [`KeyedRateLimiter`](crate::KeyedRateLimiter).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use hardy_core::admission::Admission;
use hardy_core::{ConfigError, Listener, Name, Rejection};
use metrics::Counter;

use crate::clock::TimeSource;
use crate::future::CallFuture;
use crate::gcra::{Gcra, Quota, Verdict};
use crate::limit::{Decision, Limit, sealed, wait_for};
use crate::stats::{Counts, RateLimitStats};
use crate::store::{Degrade, RateStore, Shared, StoreError, fleet_share};
use crate::sync::{Arc, AtomicU64};
use crate::wait::{Refund, Turn};
use crate::{RateLimitBuilder, RateLimitConfig, RateLimitEvent, RateLimitLayer};

/// `hardy_rate_limit_calls_total{name, outcome}`: calls by outcome: `admitted` (at
/// once), `waited` (admitted after waiting for a turn) or `rejected`.
pub const METRIC_CALLS: &str = "hardy_rate_limit_calls_total";
/// `hardy_rate_limit_keys{name}`: keys a keyed limiter tracks.
pub const METRIC_KEYS: &str = "hardy_rate_limit_keys";

/// What owns a limiter's core: a clone of the limiter, moved into a decision that
/// outlives the call that asked for it.
pub(crate) trait OwnsCore: Send + Sync + 'static {
    fn core(&self) -> &Core;
}

/// Everything both limiters share: the name, the rate, the clock, telemetry, and the
/// store of a shared limiter.
pub(crate) struct Core {
    pub(crate) name: Name,
    pub(crate) config: RateLimitConfig,
    /// The rate decided in the process: the config's, or for a shared limiter this
    /// instance's share of it (used while the store fails).
    pub(crate) gcra: Gcra,
    /// The store a shared limiter's turns are decided by.
    pub(crate) shared: Option<Shared>,
    time: TimeSource,
    listener: Listener<RateLimitEvent>,
    admitted: Counter,
    waited: Counter,
    rejected: Counter,
    pub(crate) tally: Counts,
}

impl Core {
    pub(crate) fn new(
        name: Name,
        config: RateLimitConfig,
        listener: Listener<RateLimitEvent>,
        store: Option<std::sync::Arc<dyn RateStore>>,
    ) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls through a rate limiter, by outcome"
        );
        let calls = |outcome: &'static str| metrics::counter!(METRIC_CALLS, "name" => name.to_string(), "outcome" => outcome);
        Core {
            admitted: calls("admitted"),
            waited: calls("waited"),
            rejected: calls("rejected"),
            tally: Counts::new(),
            gcra: match store {
                Some(_) => Gcra::new(&fleet_share(&config)),
                None => Gcra::new(&config),
            },
            shared: store.map(|store| Shared::new(store, &name, &config)),
            time: TimeSource::new(config.clock),
            name,
            config,
            listener,
        }
    }

    /// Nanoseconds since the limiter was built, plus one so that a zero state is always
    /// idle.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.time.now()
    }

    /// The verdict as an admission; `refund` builds the refund of a waiting call's turn.
    #[inline(always)]
    pub(crate) fn admission(
        &self,
        verdict: Verdict,
        now: u64,
        refund: impl FnOnce() -> Refund,
    ) -> Decision {
        if let Verdict::Now = verdict {
            self.admitted_now();
            return Admission::Now(());
        }
        self.admission_later(verdict, now, refund)
    }

    /// Counts a call admitted at once.
    #[inline(always)]
    pub(crate) fn admitted_now(&self) {
        self.admitted.increment(1);
        self.tally.admitted.add(1);
    }

    /// [`admission`](Self::admission) of a call that waits or is refused: out of line,
    /// so that the admitted call's path stays short.
    #[cold]
    #[inline(never)]
    pub(crate) fn admission_later(
        &self,
        verdict: Verdict,
        now: u64,
        refund: impl FnOnce() -> Refund,
    ) -> Decision {
        match verdict {
            Verdict::Now => unreachable!("an admitted call takes the inlined path"),
            Verdict::After(wait) => Admission::Later(self.waiting(now, wait, refund())),
            Verdict::Refused(retry_after) => Admission::Refused(self.refuse(retry_after)),
        }
    }

    /// A check's verdict (never a wait) as a result.
    #[inline]
    pub(crate) fn checked(&self, verdict: Verdict) -> Result<(), Rejection> {
        match verdict {
            Verdict::Now => {
                self.admitted_now();
                Ok(())
            }
            Verdict::After(retry_after) | Verdict::Refused(retry_after) => {
                Err(self.refuse(retry_after))
            }
        }
    }

    #[cold]
    fn waiting(&self, now: u64, wait: Duration, refund: Refund) -> Turn {
        self.counts_wait(wait);
        Turn::new(self.time.instant(now, wait), refund)
    }

    /// Counts and reports a call that waits `wait` for its turn.
    #[cold]
    pub(crate) fn counts_wait(&self, wait: Duration) {
        self.waited.increment(1);
        Counts::add(&self.tally.waited);
        self.listener.emit_with(|| RateLimitEvent::Waiting {
            name: self.name.clone(),
            wait,
        });
    }

    /// Reports that the store of a shared limiter failed and the limiter degrades.
    #[cold]
    pub(crate) fn store_failed(&self, error: &StoreError, degrade: Degrade) {
        Counts::add(&self.tally.store_failures);
        self.listener.emit_with(|| RateLimitEvent::StoreFailed {
            name: self.name.clone(),
            degrade,
            error: error.to_string(),
        });
    }

    /// Reports that the store of a shared limiter decides again.
    #[cold]
    pub(crate) fn store_recovered(&self) {
        self.listener.emit_with(|| RateLimitEvent::StoreRecovered {
            name: self.name.clone(),
        });
    }

    /// Whether a shared limiter decides without its store now (its last round trip to
    /// the store failed); `None` for a limiter kept in the process.
    pub(crate) fn is_degraded(&self) -> Option<bool> {
        self.shared.as_ref().map(Shared::is_degraded)
    }

    #[cold]
    pub(crate) fn refuse(&self, retry_after: Duration) -> Rejection {
        self.rejected.increment(1);
        Counts::add(&self.tally.rejected);
        self.listener.emit_with(|| RateLimitEvent::Rejected {
            name: self.name.clone(),
            retry_after,
        });
        Rejection::RateLimited {
            name: self.name.clone(),
            retry_after,
        }
    }
}

/// A rate limit for one stream of calls: on average `limit` per `period`, bursts of up
/// to `burst`, calls over the rate waiting up to `max_wait` for their turn or refused
/// with [`Rejection::RateLimited`] and a `retry_after`.
///
/// GCRA on one atomic timestamp: a check is one clock read and one compare-and-swap,
/// with no refill task. Time is Tokio's, so paused-time tests and simulations see the
/// limiter exactly. A call that waits reserves its turn at once, so waiting calls are
/// admitted in order and never exceed the rate; a waiting call that is dropped gives its
/// turn back unless a later call has reserved one since.
///
/// `RateLimiter` is cheap to clone; clones share the rate.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_rate_limit::RateLimiter;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let api = RateLimiter::builder("weather-api").per(2, Duration::from_secs(1)).build()?;
/// api.check()?;
/// api.check()?;
/// let refused = api.check().unwrap_err();
/// assert_eq!(refused.retry_after(), Some(Duration::from_millis(500)));
/// tokio::time::advance(Duration::from_millis(500)).await;
/// api.check()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    shared: Arc<Direct>,
}

struct Direct {
    tat: AtomicU64,
    core: Core,
}

impl RateLimiter {
    /// Starts building a limiter named `name`; the name labels its metrics, events and
    /// rejections.
    pub fn builder(name: impl Into<Name>) -> RateLimitBuilder {
        RateLimitBuilder::new(name.into())
    }

    /// A limiter named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(
        name: impl Into<Name>,
        config: RateLimitConfig,
    ) -> Result<Self, ConfigError> {
        RateLimiter::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: RateLimitConfig,
        listener: Listener<RateLimitEvent>,
        store: Option<std::sync::Arc<dyn RateStore>>,
    ) -> Self {
        RateLimiter {
            shared: Arc::new(Direct {
                tat: AtomicU64::new(0),
                core: Core::new(name, config, listener, store),
            }),
        }
    }

    /// The limiter's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.core.name
    }

    /// The limiter's settings.
    #[must_use]
    pub fn config(&self) -> &RateLimitConfig {
        &self.shared.core.config
    }

    /// Its running totals since it was built: calls that waited for a turn, calls
    /// refused and failed store round trips, without a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> RateLimitStats {
        self.shared.core.tally.stats(&self.shared.core.name)
    }

    /// Whether the limiter is shared through a store and decides without it now (its
    /// last round trip to the store failed, so calls are decided per its
    /// [`Degrade`] setting); `None` for a limiter kept in the process.
    #[must_use]
    pub fn is_degraded(&self) -> Option<bool> {
        self.shared.core.is_degraded()
    }

    /// Admits a call now, or refuses it; never waits, whatever `max_wait` says.
    ///
    /// A limiter shared through a store cannot ask it without waiting: `check` decides
    /// in the process, at this instance's share of the rate (as when the store fails).
    /// Use [`acquire`](Self::acquire) or [`call`](Self::call) to ask the store.
    ///
    /// # Errors
    ///
    /// [`Rejection::RateLimited`] with the time until a call would be admitted.
    #[inline]
    pub fn check(&self) -> Result<(), Rejection> {
        let core = &self.shared.core;
        let (verdict, _) = core
            .gcra
            .without_wait()
            .decide_atomic(&self.shared.tat, core.now());
        core.checked(verdict)
    }

    /// How long until a call would be admitted at once: zero when one would be now.
    /// Takes no turn. For a limiter shared through a store, this instance's share of the
    /// rate, as [`check`](Self::check).
    #[must_use]
    pub fn time_to_ready(&self) -> Duration {
        let core = &self.shared.core;
        let tat = self.shared.tat.load(crate::sync::Ordering::Acquire);
        core.gcra.time_to_ready(tat, core.now())
    }

    /// Where the limit stands now: its turns left and how long until all are back.
    /// Takes no turn.
    ///
    /// `None` for a limiter shared through a store: only the store knows where the
    /// fleet stands, and asking it would take a round trip.
    #[must_use]
    pub fn quota(&self) -> Option<Quota> {
        let core = &self.shared.core;
        if core.shared.is_some() {
            return None;
        }
        let tat = self.shared.tat.load(crate::sync::Ordering::Acquire);
        Some(core.gcra.quota(&core.config, tat, core.now()))
    }

    /// Admits a call, waiting for its turn up to `max_wait`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_rate_limit::RateLimiter;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let api = RateLimiter::builder("api")
    ///     .per(1, Duration::from_secs(1))
    ///     .max_wait(Duration::from_secs(5))
    ///     .build()?;
    /// let start = tokio::time::Instant::now();
    /// api.acquire().await?;
    /// api.acquire().await?; // its turn comes a second later
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Rejection::RateLimited`] when its turn is further away than `max_wait`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits gives its turn back, unless a later call has
    /// reserved one since.
    pub async fn acquire(&self) -> Result<(), Rejection> {
        wait_for(self.admit()).await
    }

    /// Runs `operation` once the rate allows: at once, after waiting up to `max_wait`,
    /// or not at all. The turn is taken at the future's first poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_rate_limit::RateLimiter;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let api = RateLimiter::builder("api").per(1, Duration::from_secs(60)).build()?;
    /// let forecast = api.call(|| async { Ok::<_, std::io::Error>("sunny") }).await?;
    /// assert_eq!(forecast, "sunny");
    /// let refused = api.call(|| async { Ok::<_, std::io::Error>("rain") }).await;
    /// assert!(refused.unwrap_err().is_rejected());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// `Err(Error::Rejected(RateLimited))` when refused; `Err(Error::Inner(e))` when the
    /// operation fails.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits gives its turn back (unless a later call has
    /// reserved one since); while the operation runs, drops the operation.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<&RateLimiter, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallFuture::new(self, operation)
    }

    /// A tower layer limiting the calls of every wrapped service with this limiter
    /// (all of them share the rate).
    pub fn layer(&self) -> RateLimitLayer<RateLimiter> {
        RateLimitLayer::new(self.clone())
    }

    /// Decides for a call that may wait up to `max_wait`.
    pub(crate) fn admit(&self) -> Decision {
        match self.decide() {
            Ok(()) => Admission::Now(()),
            Err(later) => self.admission_later(later),
        }
    }

    /// Admits a call now (`Ok`, counted), or returns the verdict that
    /// [`admission_later`](Self::admission_later) makes a wait or a refusal of (or, for
    /// a limiter shared through a store, the store's decision).
    #[inline(always)]
    pub(crate) fn decide(&self) -> Result<(), Undecided> {
        let shared = &self.shared;
        let core = &shared.core;
        if core.shared.is_some() {
            return Err(Undecided(Later::Shared));
        }
        self.decide_here()
    }

    /// [`decide`](Self::decide) in the process.
    #[inline(always)]
    fn decide_here(&self) -> Result<(), Undecided> {
        let shared = &self.shared;
        let core = &shared.core;
        let now = core.now();
        let (verdict, next) = core.gcra.decide_atomic(&shared.tat, now);
        if let Verdict::Now = verdict {
            core.admitted_now();
            return Ok(());
        }
        Err(Undecided(Later::Here { verdict, now, next }))
    }

    /// The wait or the refusal of a call that [`decide`](Self::decide) did not admit.
    #[cold]
    #[inline(never)]
    pub(crate) fn admission_later(&self, later: Undecided) -> Decision {
        let shared = &self.shared;
        match later.0 {
            Later::Here { verdict, now, next } => shared.core.admission_later(verdict, now, || {
                let shared = shared.clone();
                Box::new(move || {
                    shared.core.gcra.refund_atomic(&shared.tat, next);
                })
            }),
            Later::Shared => {
                shared
                    .core
                    .shared_admission(self.clone(), None, RateLimiter::admit_here)
            }
        }
    }

    /// Decides in the process, at this instance's share of the rate: a shared
    /// limiter's decision while its store fails.
    fn admit_here(&self) -> Decision {
        match self.decide_here() {
            Ok(()) => Admission::Now(()),
            Err(later) => self.admission_later(later),
        }
    }
}

impl OwnsCore for RateLimiter {
    fn core(&self) -> &Core {
        &self.shared.core
    }
}

/// A limiter's verdict on a call it did not admit at once, with the clock reading and
/// the state it was taken at, or that its store decides; opaque.
#[doc(hidden)]
#[derive(Debug)]
pub struct Undecided(Later);

#[derive(Debug)]
enum Later {
    /// Decided in the process.
    Here {
        verdict: Verdict,
        now: u64,
        next: u64,
    },
    /// Decided by the store of a shared limiter.
    Shared,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.shared.core;
        f.debug_struct("RateLimiter")
            .field("name", &core.name)
            .field("config", &core.config)
            .field("store", &core.shared.as_ref().map(Shared::store))
            .finish_non_exhaustive()
    }
}

impl<Req> Limit<Req> for RateLimiter {
    type Later = Undecided;

    // Always inlined: the verdict stays in registers and only a call that is not
    // admitted at once makes an admission (an enum as large as a rejection), out of line.
    #[inline(always)]
    fn admit_request(&self, _: &Req) -> Result<(), Undecided> {
        self.decide()
    }

    #[inline(always)]
    fn admit_later(&self, later: Undecided) -> Decision {
        self.admission_later(later)
    }
}

impl sealed::Sealed for RateLimiter {}

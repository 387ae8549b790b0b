//! The [`Bulkhead`] handle: admission, permits, waiting, direct and blocking calls.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use hardy_core::admission::{Admission, Enqueued, Gate, Waiter};
use hardy_core::sync::Tally;
use hardy_core::{ConfigError, Error, Listener, Name, Rejection, Validate};
use metrics::{Counter, Gauge, Histogram};
use tokio::time::Instant;

use crate::config::{COMPONENT, limit};
use crate::future::CallFuture;
use crate::permit::{BulkheadPermit, Source};
use crate::sync::{Arc, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::wait::{Pending, Queued};
use crate::{
    BulkheadBuilder, BulkheadConfig, BulkheadEvent, BulkheadLayer, MAX_CONCURRENT, MAX_WAITING,
};

/// `hardy_bulkhead_calls_total{name, outcome}`: calls by outcome, `admitted` or
/// `rejected`.
pub const METRIC_CALLS: &str = "hardy_bulkhead_calls_total";
/// `hardy_bulkhead_in_flight{name}`: calls running now.
pub const METRIC_IN_FLIGHT: &str = "hardy_bulkhead_in_flight";
/// `hardy_bulkhead_waiting{name}`: calls waiting for a slot now.
pub const METRIC_WAITING: &str = "hardy_bulkhead_waiting";
/// `hardy_bulkhead_wait_seconds{name}`: how long calls that had to wait waited.
pub const METRIC_WAIT: &str = "hardy_bulkhead_wait_seconds";

/// Caps how many calls to a dependency run at once, so that a slow or stuck
/// dependency ties up a bounded share of the callers, never all of them.
///
/// Up to `max_concurrent` calls run; the next ones wait in a first-come-first-served
/// queue of at most `max_waiting`, each for at most `max_wait`, or are refused at once
/// with [`Rejection::BulkheadFull`]. A slot is held by a [`BulkheadPermit`] (or by the
/// call future) and released on every exit path: completion, error, cancellation and
/// panic. Limits can change at run time ([`set_max_concurrent`](Self::set_max_concurrent)):
/// a lower limit drains as calls finish, none is revoked.
///
/// An uncontended admission is one atomic compare-and-swap, a release one atomic
/// addition; the queue is locked only when calls have to wait.
///
/// `Bulkhead` is cheap to clone; clones share the slots.
///
/// # Examples
///
/// ```
/// use hardy_bulkhead::Bulkhead;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let analytics = Bulkhead::builder("analytics").max_concurrent(1).build()?;
///
/// let held = analytics.try_acquire()?;
/// let refused = analytics.call(|| async { Ok::<_, std::io::Error>(()) }).await;
/// assert!(matches!(refused, Err(hardy_core::Error::Rejected(r)) if r.is_bulkhead_full()));
/// drop(held);
/// analytics.call(|| async { Ok::<_, std::io::Error>(()) }).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    shared: Arc<Shared>,
}

struct Shared {
    name: Name,
    gate: Gate,
    spare: Option<Arc<Spare>>,
    max_concurrent: AtomicU32,
    max_waiting: AtomicU32,
    max_wait: AtomicU64,
    /// Serialises run-time resizes.
    resize: Mutex<()>,
    /// Calls admitted, counted per thread.
    admitted: Tally,
    rejected: AtomicU64,
    /// Calls admitted after a wait.
    waited: AtomicU64,
    /// Spare slots this bulkhead holds now.
    borrowed: AtomicU32,
    listener: Listener<BulkheadEvent>,
    metrics: Metrics,
}

/// Capacity shared by the partitions of a [`Partitions`](crate::Partitions).
#[derive(Debug)]
pub(crate) struct Spare {
    pub(crate) gate: Gate,
    pub(crate) size: u32,
}

struct Metrics {
    admitted: Counter,
    rejected: Counter,
    in_flight: Gauge,
    waiting: Gauge,
    wait: Histogram,
}

impl Metrics {
    fn register(name: &Name) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls through a bulkhead, by outcome"
        );
        metrics::describe_gauge!(METRIC_IN_FLIGHT, "Calls running in a bulkhead");
        metrics::describe_gauge!(METRIC_WAITING, "Calls waiting for a bulkhead slot");
        metrics::describe_histogram!(
            METRIC_WAIT,
            metrics::Unit::Seconds,
            "Time calls waited for a bulkhead slot"
        );
        let calls = |outcome: &'static str| metrics::counter!(METRIC_CALLS, "name" => name.to_string(), "outcome" => outcome);
        Metrics {
            admitted: calls("admitted"),
            rejected: calls("rejected"),
            in_flight: metrics::gauge!(METRIC_IN_FLIGHT, "name" => name.to_string()),
            waiting: metrics::gauge!(METRIC_WAITING, "name" => name.to_string()),
            wait: metrics::histogram!(METRIC_WAIT, "name" => name.to_string()),
        }
    }
}

/// A snapshot of a bulkhead's use and limits now, and its running totals since it was
/// built (admitted, waited, rejected); made by [`Bulkhead::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadStats {
    /// The bulkhead's name.
    pub name: Name,
    /// Calls running now, spare slots included; above `max_concurrent` while a lowered
    /// limit drains.
    pub in_flight: usize,
    /// Calls waiting for a slot now.
    pub waiting: usize,
    /// Calls admitted so far.
    pub admitted: u64,
    /// Calls refused so far.
    pub rejected: u64,
    /// Calls admitted after waiting for a slot, so far (counted in `admitted` too).
    pub waited: u64,
    /// Spare slots (shared between partitions) this bulkhead holds now.
    pub borrowed: usize,
    /// The concurrency limit now.
    pub max_concurrent: usize,
    /// The wait-queue limit now.
    pub max_waiting: usize,
    /// The wait limit now.
    pub max_wait: Duration,
}

impl Bulkhead {
    /// Starts building a bulkhead named `name`; the name labels its metrics, events and
    /// rejections.
    pub fn builder(name: impl Into<Name>) -> BulkheadBuilder {
        BulkheadBuilder::new(name.into())
    }

    /// A bulkhead named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(name: impl Into<Name>, config: BulkheadConfig) -> Result<Self, ConfigError> {
        Bulkhead::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: &BulkheadConfig,
        spare: Option<Arc<Spare>>,
        listener: Listener<BulkheadEvent>,
    ) -> Self {
        Bulkhead {
            shared: Arc::new(Shared {
                metrics: Metrics::register(&name),
                name,
                gate: Gate::new([config.max_concurrent], None),
                spare,
                max_concurrent: AtomicU32::new(config.max_concurrent),
                max_waiting: AtomicU32::new(config.max_waiting),
                max_wait: AtomicU64::new(nanos(config.max_wait)),
                resize: Mutex::new(()),
                admitted: Tally::new(),
                rejected: AtomicU64::new(0),
                waited: AtomicU64::new(0),
                borrowed: AtomicU32::new(0),
                listener,
            }),
        }
    }

    /// The bulkhead's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// A tower layer admitting each wrapped service's calls through this bulkhead.
    pub fn layer(&self) -> BulkheadLayer {
        BulkheadLayer::new(self.clone())
    }

    /// Takes a slot if one is free now (its own, or a spare one); never waits.
    ///
    /// # Errors
    ///
    /// [`Rejection::BulkheadFull`] when every slot is taken.
    pub fn try_acquire(&self) -> Result<BulkheadPermit, Rejection> {
        match self.try_admit() {
            Some(source) => Ok(BulkheadPermit::new(self.clone(), source)),
            None => Err(self.refuse(Duration::ZERO)),
        }
    }

    /// Takes a slot, waiting in line for one as the config allows.
    ///
    /// # Errors
    ///
    /// [`Rejection::BulkheadFull`] when every slot is taken and the queue is full (or
    /// waiting is off), or when the wait expires.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the queue; a slot handed to it meanwhile goes to the
    /// next waiter.
    pub async fn acquire(&self) -> Result<BulkheadPermit, Rejection> {
        match self.admit() {
            Admission::Now(source) => Ok(BulkheadPermit::new(self.clone(), source)),
            Admission::Refused(rejection) => Err(rejection),
            Admission::Later(pending) => {
                let mut queued = Queued::new(self, pending);
                std::future::poll_fn(|cx| queued.poll_slot(cx)).await?;
                Ok(BulkheadPermit::new(self.clone(), Source::Own))
            }
        }
    }

    /// Runs `operation` in a slot: at once if one is free, after waiting as the config
    /// allows, or not at all. The slot is held until the operation's future finishes or
    /// is dropped.
    ///
    /// # Errors
    ///
    /// `Err(Error::Rejected(BulkheadFull))` when refused; `Err(Error::Inner(e))` when the
    /// operation fails.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits leaves the queue; while it runs, drops the
    /// operation and frees the slot.
    pub fn call<F, Fut, T, E>(&self, operation: F) -> CallFuture<'_, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallFuture::new(self, operation)
    }

    /// Runs the blocking closure `operation` (bus or file I/O) on Tokio's blocking
    /// threads, in a slot of this bulkhead, so that at most `max_concurrent` blocking
    /// calls run at once and the async workers are never blocked. Same admission rules
    /// as [`call`](Self::call). A panic in `operation` resumes in the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use hardy_bulkhead::Bulkhead;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let i2c = Bulkhead::builder("i2c-1").max_concurrent(1).build()?;
    /// let raw = i2c.run_blocking(|| Ok::<u16, std::io::Error>(0x2a1)).await?;
    /// assert_eq!(raw, 0x2a1);
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
    /// Dropping the future while it waits leaves the queue. Once started, the closure
    /// runs to its end even if the future is dropped (blocking code cannot be stopped),
    /// and keeps its slot until then.
    ///
    /// # Panics
    ///
    /// Resumes a panic of `operation`; panics if the runtime shuts down while the
    /// closure is queued on the blocking pool.
    pub async fn run_blocking<F, T, E>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let permit = self.acquire().await.map_err(Error::Rejected)?;
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            operation()
        })
        .await;
        match joined {
            Ok(result) => result.map_err(Error::Inner),
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("blocking call of bulkhead {} lost: {error}", self.name()),
            },
        }
    }

    /// A snapshot of use and limits.
    #[must_use]
    pub fn stats(&self) -> BulkheadStats {
        let shared = &*self.shared;
        let max_concurrent = shared.max_concurrent.load(Ordering::Acquire);
        let borrowed = shared.borrowed.load(Ordering::Acquire);
        BulkheadStats {
            name: shared.name.clone(),
            in_flight: self.in_flight(),
            waiting: shared.gate.waiting() as usize,
            admitted: shared.admitted.sum(),
            rejected: shared.rejected.load(Ordering::Relaxed),
            waited: shared.waited.load(Ordering::Relaxed),
            borrowed: borrowed as usize,
            max_concurrent: max_concurrent as usize,
            max_waiting: shared.max_waiting.load(Ordering::Acquire) as usize,
            max_wait: Duration::from_nanos(shared.max_wait.load(Ordering::Acquire)),
        }
    }

    /// Changes the concurrency limit. A higher limit admits waiters at once; a lower one
    /// takes effect as running calls finish (none is revoked).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `max_concurrent` is zero or above [`MAX_CONCURRENT`].
    pub fn set_max_concurrent(&self, max_concurrent: u32) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, &self.shared.name);
        check.non_zero("max_concurrent", max_concurrent)?;
        limit(
            &check,
            "max_concurrent".into(),
            max_concurrent,
            MAX_CONCURRENT,
        )?;
        let shared = &*self.shared;
        {
            let _resizing = shared.resize.lock();
            shared
                .max_concurrent
                .store(max_concurrent, Ordering::Release);
            shared.gate.set_thresholds([max_concurrent], || 0);
        }
        self.resized();
        Ok(())
    }

    /// Changes the wait-queue limit; calls already waiting keep their place.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if `max_waiting` is above [`MAX_WAITING`].
    pub fn set_max_waiting(&self, max_waiting: u32) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, &self.shared.name);
        limit(&check, "max_waiting".into(), max_waiting, MAX_WAITING)?;
        self.shared
            .max_waiting
            .store(max_waiting, Ordering::Release);
        self.resized();
        Ok(())
    }

    /// Changes how long later calls may wait; calls already waiting keep their deadline.
    pub fn set_max_wait(&self, max_wait: Duration) {
        self.shared
            .max_wait
            .store(nanos(max_wait), Ordering::Release);
    }

    fn resized(&self) {
        let shared = &*self.shared;
        shared.listener.emit_with(|| BulkheadEvent::Resized {
            name: shared.name.clone(),
            max_concurrent: shared.max_concurrent.load(Ordering::Acquire),
            max_waiting: shared.max_waiting.load(Ordering::Acquire),
        });
    }

    fn in_flight(&self) -> usize {
        let shared = &*self.shared;
        shared.gate.in_flight() as usize + shared.borrowed.load(Ordering::Acquire) as usize
    }

    /// Takes a free slot, own or spare, without waiting.
    #[inline]
    pub(crate) fn try_admit(&self) -> Option<Source> {
        let shared = &*self.shared;
        let source = if shared.gate.try_admit(0) {
            Source::Own
        } else {
            self.try_borrow()?
        };
        shared.admitted.add(1);
        shared.metrics.admitted.increment(1);
        shared.metrics.in_flight.increment(1.0);
        Some(source)
    }

    #[cold]
    fn try_borrow(&self) -> Option<Source> {
        let spare = self.shared.spare.as_ref()?;
        if spare.gate.try_admit(0) {
            self.shared.borrowed.fetch_add(1, Ordering::AcqRel);
            Some(Source::Spare)
        } else {
            None
        }
    }

    /// Admits now, queues (the place to be kept with the bulkhead: [`Queued::new`]), or
    /// refuses.
    #[inline]
    pub(crate) fn admit(&self) -> Admission<Source, Pending> {
        match self.try_admit() {
            Some(source) => Admission::Now(source),
            None => self.admit_slow(),
        }
    }

    /// Queues for a slot, or refuses, when none was free.
    #[cold]
    pub(crate) fn admit_slow(&self) -> Admission<Source, Pending> {
        let shared = &*self.shared;
        let max_waiting = shared.max_waiting.load(Ordering::Acquire);
        let max_wait = Duration::from_nanos(shared.max_wait.load(Ordering::Acquire));
        if max_waiting == 0 || max_wait.is_zero() {
            return Admission::Refused(self.refuse(Duration::ZERO));
        }
        match shared.gate.enqueue(0, max_waiting, 0) {
            Enqueued::Admitted => {
                self.admitted_at_once();
                Admission::Now(Source::Own)
            }
            Enqueued::Full => Admission::Refused(self.refuse(Duration::ZERO)),
            Enqueued::Waiting { waiter, .. } => {
                shared.metrics.waiting.increment(1.0);
                Admission::Later(Pending {
                    waiter,
                    started: Instant::now(),
                    max_wait,
                })
            }
        }
    }

    /// A queued call leaves the queue; `true` if a slot was granted to it meanwhile,
    /// which it then holds.
    pub(crate) fn leave_queue(&self, waiter: &Waiter) -> bool {
        self.shared.gate.cancel(waiter, 0)
    }

    /// A queued call stopped waiting without a slot.
    pub(crate) fn stopped_waiting(&self) {
        self.shared.metrics.waiting.decrement(1.0);
    }

    /// A call admitted on the slow path without queueing.
    fn admitted_at_once(&self) {
        let shared = &*self.shared;
        shared.admitted.add(1);
        shared.metrics.admitted.increment(1);
        shared.metrics.in_flight.increment(1.0);
    }

    /// A queued call got its slot after `waited` (which may be zero on a paused clock).
    pub(crate) fn admitted_after(&self, waited: Duration) {
        self.admitted_at_once();
        let shared = &*self.shared;
        shared.waited.fetch_add(1, Ordering::Relaxed);
        shared.metrics.waiting.decrement(1.0);
        shared.metrics.wait.record(waited.as_secs_f64());
        shared
            .listener
            .emit_with(|| BulkheadEvent::AdmittedAfterWait {
                name: shared.name.clone(),
                waited,
            });
    }

    #[cold]
    pub(crate) fn refuse(&self, waited: Duration) -> Rejection {
        let shared = &*self.shared;
        shared.rejected.fetch_add(1, Ordering::Relaxed);
        shared.metrics.rejected.increment(1);
        let in_flight = self.in_flight();
        let waiting = shared.gate.waiting() as usize;
        shared.listener.emit_with(|| BulkheadEvent::Rejected {
            name: shared.name.clone(),
            in_flight,
            waiting,
            waited,
        });
        Rejection::BulkheadFull {
            name: shared.name.clone(),
            in_flight,
            max_concurrent: shared.max_concurrent.load(Ordering::Acquire) as usize,
            waiting,
            max_waiting: shared.max_waiting.load(Ordering::Acquire) as usize,
        }
    }

    #[inline]
    pub(crate) fn release(&self, source: Source) {
        let shared = &*self.shared;
        shared.metrics.in_flight.decrement(1.0);
        match source {
            Source::Own => {
                shared.gate.release(|| 0);
            }
            Source::Spare => self.release_spare(),
        }
    }

    #[cold]
    fn release_spare(&self) {
        if let Some(spare) = &self.shared.spare {
            self.shared.borrowed.fetch_sub(1, Ordering::AcqRel);
            spare.gate.release(|| 0);
        }
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("stats", &self.stats())
            .finish()
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

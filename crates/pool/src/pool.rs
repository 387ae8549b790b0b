//! [`Pool`]: the handle, checkout and return.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Rejection, SharedError};

use crossbeam_utils::CachePadded;
use metrics::{Counter, Gauge};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, fence};
use crate::{DestroyReason, Manager, PoolConfig, PoolEvent, Pooled};

/// `hardy_pool_size{name}`: objects alive or being made.
pub const METRIC_SIZE: &str = "hardy_pool_size";
/// `hardy_pool_idle{name}`: idle objects.
pub const METRIC_IDLE: &str = "hardy_pool_idle";
/// `hardy_pool_waiting{name}`: callers waiting for an object.
pub const METRIC_WAITING: &str = "hardy_pool_waiting";
/// `hardy_pool_created_total{name}`: objects made.
pub const METRIC_CREATED: &str = "hardy_pool_created_total";
/// `hardy_pool_destroyed_total{name, reason}`: objects closed, by reason.
pub const METRIC_DESTROYED: &str = "hardy_pool_destroyed_total";
/// `hardy_pool_timeouts_total{name}`: `get`s that gave up.
pub const METRIC_TIMEOUTS: &str = "hardy_pool_timeouts_total";

const REASONS: [DestroyReason; 7] = [
    DestroyReason::Idle,
    DestroyReason::Expired,
    DestroyReason::Invalid,
    DestroyReason::Overflow,
    DestroyReason::Panicked,
    DestroyReason::Taken,
    DestroyReason::Closed,
];

/// The error inside the [`Rejection::PoolTimeout`] of a `get` on a closed pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolClosed;

impl fmt::Display for PoolClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the pool is closed")
    }
}

impl std::error::Error for PoolClosed {}

/// What a pool knows of an object besides the object: times as nanoseconds since the
/// pool's epoch (`NEVER` for none), so that it stays small to move. All words, with no
/// padding: a padded tail is copied in overlapping narrow moves, which stall store
/// forwarding each time the object moves through a checkout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) id: u64,
    expires: u64,
    last_checkout: u64,
    idle_seen: u64,
    last_validated: u64,
    /// Times handed out; an object handed out before is recycled when next checked out.
    checkouts: u64,
}

impl Meta {
    /// Whether the object was handed out before, and so is recycled at its next
    /// checkout.
    #[inline]
    fn used(&self) -> bool {
        self.checkouts > 0
    }
}

const NEVER: u64 = u64::MAX;

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(NEVER - 1)
}

pub(crate) struct Idle<T> {
    pub(crate) object: T,
    pub(crate) meta: Meta,
}

enum Grant<T> {
    Object(Idle<T>),
    Create,
}

enum WaitState<T> {
    Waiting(Option<Waker>),
    Granted(Grant<T>),
    Closed,
    Done,
}

struct Waiter<T> {
    state: Mutex<WaitState<T>>,
}

struct State<T> {
    /// Objects alive (idle or in use) or being made.
    size: usize,
    waiters: VecDeque<Arc<Waiter<T>>>,
    last_error: Option<SharedError>,
    /// Objects in use and since when, when leaks are watched; reported ones flagged.
    held: HashMap<u64, (Instant, bool)>,
    created: u64,
    destroyed: u64,
    timeouts: u64,
}

pub(crate) struct Metrics {
    size: Gauge,
    idle: Gauge,
    waiting: Gauge,
    created: Counter,
    destroyed: [Counter; REASONS.len()],
    timeouts: Counter,
}

pub(crate) struct Shared<M: Manager> {
    pub(crate) name: Name,
    pub(crate) config: PoolConfig,
    pub(crate) manager: M,
    state: Mutex<State<M::Object>>,
    listener: Listener<PoolEvent>,
    metrics: Metrics,
    next_id: AtomicU64,
    rng: Mutex<SmallRng>,
    epoch: Instant,
    /// The idle objects, in shards: each handle (each clone of the pool) takes from and
    /// returns to its own shard first, so threads using their own handles rarely meet.
    shards: Box<[Shard<M::Object>]>,
    /// Callers waiting (`state.waiters.len()`, readable without the lock).
    waiting: AtomicUsize,
    /// Whether the pool is closed.
    closed: AtomicBool,
    /// `state.size`, readable without the lock.
    live: AtomicUsize,
    /// The latest time the pool read its clock (on slow paths and maintenance passes):
    /// lifetimes are checked against it, so the fast path reads no clock.
    seen: AtomicU64,
    /// Shards handed to new handles, round robin.
    lanes: AtomicUsize,
}

/// One shard of idle objects, on its own cache line.
type Shard<T> = CachePadded<Mutex<VecDeque<Idle<T>>>>;

/// One handle's way into the pool: its own reference count and home shard.
pub(crate) struct Lane<M: Manager> {
    pub(crate) shared: Arc<Shared<M>>,
    pub(crate) shard: usize,
}

/// Idle-object shards of a pool; a power of two (fewer under loom, to keep the models
/// small).
#[cfg(not(hardy_loom))]
pub(crate) const SHARDS: usize = 8;
#[cfg(hardy_loom)]
pub(crate) const SHARDS: usize = 2;
const _: () = assert!(SHARDS.is_power_of_two());

/// A snapshot of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Objects alive (idle or in use) or being made.
    pub size: usize,
    /// Idle objects.
    pub idle: usize,
    /// Objects in use (or being made, validated or recycled for a caller).
    pub in_use: usize,
    /// Callers waiting.
    pub waiting: usize,
    /// Objects made so far.
    pub created: u64,
    /// Objects closed so far.
    pub destroyed: u64,
    /// `get`s that gave up so far.
    pub timeouts: u64,
    /// The size limit.
    pub max_size: usize,
    /// Objects allowed beyond it.
    pub max_overflow: usize,
    /// Whether the pool is closed.
    pub closed: bool,
}

/// An async pool of objects made by a [`Manager`]: database connections, sessions,
/// device handles.
///
/// - **Checkout**: [`get`](Pool::get) hands out an idle object (the most recently used
///   first), makes one while the pool is below `max_size + max_overflow`, or waits in
///   a fair FIFO queue, all within `acquire_timeout`; a timeout is
///   [`Rejection::PoolTimeout`] carrying the manager's last creation error. Objects
///   returned are recycled before they are handed out again; objects idle longer than
///   `validate_after_idle` are validated first.
/// - **Return**: dropping the [`Pooled`] guard returns the object — to the first waiter
///   if there is one. An overflow object is closed instead; so is an object whose
///   holder panicked. [`Pooled::take`] detaches it.
/// - **Lifecycle** (a background task, every `maintenance_every`): idle objects beyond
///   `min_idle` close after `idle_timeout`; objects close at `max_lifetime` (less a
///   random jitter), never while in use; idle objects are validated every `keepalive`;
///   `min_idle` objects are kept ready; objects held past `leak_threshold` are reported.
/// - **Cancellation**: a `get` dropped while it waits leaves the queue (an object handed
///   to it meanwhile goes to the next waiter); dropped while an object is made, it
///   gives the place back. Counts stay exact.
///
/// `Pool` is cheap to clone; clones share the objects.
///
/// # Examples
///
/// ```
/// use hardy_pool::{Manager, Pool};
///
/// struct Numbers;
/// impl Manager for Numbers {
///     type Object = u32;
///     type Error = std::io::Error;
///     async fn create(&self) -> Result<u32, std::io::Error> { Ok(7) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder("numbers", Numbers).max_size(2).build()?;
/// let mut n = pool.get().await?;
/// *n += 1;
/// drop(n); // back to the pool
/// assert_eq!(*pool.get().await?, 8, "the same object, reused");
/// assert_eq!(pool.status().created, 1);
/// # Ok(())
/// # }
/// ```
pub struct Pool<M: Manager> {
    pub(crate) shared: Arc<Shared<M>>,
    lane: Arc<Lane<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    /// Another handle on the same pool, with its own home shard and reference count:
    /// give each thread or task its own clone.
    fn clone(&self) -> Self {
        Pool::with_lane(self.shared.clone())
    }
}

impl<M: Manager> Pool<M> {
    fn with_lane(shared: Arc<Shared<M>>) -> Self {
        let shard = shared.lanes.fetch_add(1, Ordering::Relaxed) % SHARDS;
        Pool {
            lane: Arc::new(Lane {
                shared: shared.clone(),
                shard,
            }),
            shared,
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name)
            .field("status", &self.status())
            .finish()
    }
}

/// Builds a [`Pool`]; made by [`Pool::builder`].
#[must_use = "a builder does nothing until built"]
pub struct PoolBuilder<M> {
    name: Name,
    manager: M,
    config: PoolConfig,
    listener: Listener<PoolEvent>,
}

impl<M> fmt::Debug for PoolBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> PoolBuilder<M> {
    /// Objects kept at most. Default: 10.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.config.max_size = max_size;
        self
    }

    /// Idle objects kept ready. Default: 0.
    pub fn min_idle(mut self, min_idle: usize) -> Self {
        self.config.min_idle = min_idle;
        self
    }

    /// Extra objects for bursts, closed on return. Default: 0.
    pub fn max_overflow(mut self, max_overflow: usize) -> Self {
        self.config.max_overflow = max_overflow;
        self
    }

    /// How long `get` may take. Default: 30 s.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.config.acquire_timeout = timeout;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`PoolEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&PoolEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Validates the settings and builds the pool. Inside a Tokio runtime, this starts
    /// the background maintenance task (which ends when the last handle is dropped);
    /// outside one, there is no maintenance: call [`Pool::maintain`] yourself.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<Pool<M>, ConfigError> {
        self.config.validate(&self.name)?;
        let name = self.name;
        let label = || name.to_string();
        metrics::describe_gauge!(METRIC_SIZE, "Objects alive or being made");
        metrics::describe_gauge!(METRIC_IDLE, "Idle objects");
        metrics::describe_gauge!(METRIC_WAITING, "Callers waiting for an object");
        metrics::describe_counter!(METRIC_CREATED, metrics::Unit::Count, "Objects made");
        metrics::describe_counter!(
            METRIC_DESTROYED,
            metrics::Unit::Count,
            "Objects closed, by reason"
        );
        metrics::describe_counter!(METRIC_TIMEOUTS, metrics::Unit::Count, "Gets that gave up");
        let metrics = Metrics {
            size: metrics::gauge!(METRIC_SIZE, "name" => label()),
            idle: metrics::gauge!(METRIC_IDLE, "name" => label()),
            waiting: metrics::gauge!(METRIC_WAITING, "name" => label()),
            created: metrics::counter!(METRIC_CREATED, "name" => label()),
            destroyed: REASONS.map(|reason| {
                metrics::counter!(METRIC_DESTROYED, "name" => label(), "reason" => reason.as_str())
            }),
            timeouts: metrics::counter!(METRIC_TIMEOUTS, "name" => label()),
        };
        let pool = Pool::with_lane(Arc::new(Shared {
            name,
            config: self.config,
            manager: self.manager,
            state: Mutex::new(State {
                size: 0,
                waiters: VecDeque::new(),
                last_error: None,
                held: HashMap::new(),
                created: 0,
                destroyed: 0,
                timeouts: 0,
            }),
            listener: self.listener,
            metrics,
            next_id: AtomicU64::new(1),
            rng: Mutex::new(SmallRng::from_os_rng()),
            epoch: Instant::now(),
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(VecDeque::new())))
                .collect(),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            seen: AtomicU64::new(0),
            lanes: AtomicUsize::new(0),
        }));
        if tokio::runtime::Handle::try_current().is_ok() {
            crate::maintenance::spawn(Arc::downgrade(&pool.shared));
        }
        Ok(pool)
    }
}

/// What a checkout found under the lock.
enum Step<T> {
    Idle(Idle<T>),
    Create,
    Wait(Arc<Waiter<T>>),
}

/// A place reserved for an object being made: given back if the making fails or is
/// cancelled (dropped while the manager makes it).
struct Reserved<'a, M: Manager> {
    shared: &'a Shared<M>,
    armed: bool,
}

impl<M: Manager> Drop for Reserved<'_, M> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.release_place();
        }
    }
}

/// An object being recycled or validated: closed (its place given back) if dropped
/// before it is handed out.
pub(crate) struct Checking<'a, M: Manager> {
    pub(crate) shared: &'a Shared<M>,
    pub(crate) idle: Option<Idle<M::Object>>,
}

impl<M: Manager> Drop for Checking<'_, M> {
    fn drop(&mut self) {
        if let Some(idle) = self.idle.take() {
            self.shared
                .destroy(idle.object, DestroyReason::Invalid, true);
        }
    }
}

/// A waiter in the queue: leaves it when dropped, passing on anything granted to it.
struct Queued<'a, M: Manager> {
    shared: &'a Shared<M>,
    waiter: Arc<Waiter<M::Object>>,
    home: usize,
}

impl<M: Manager> Drop for Queued<'_, M> {
    fn drop(&mut self) {
        let granted = {
            let mut state = self.shared.state.lock();
            state
                .waiters
                .retain(|waiter| !Arc::ptr_eq(waiter, &self.waiter));
            self.shared
                .waiting
                .store(state.waiters.len(), Ordering::SeqCst);
            let mut waiter = self.waiter.state.lock();
            std::mem::replace(&mut *waiter, WaitState::Done)
        };
        match granted {
            WaitState::Granted(Grant::Object(idle)) => self.shared.give_back(idle, self.home),
            WaitState::Granted(Grant::Create) => self.shared.release_place(),
            _ => {}
        }
    }
}

impl<M: Manager> Pool<M> {
    /// Starts building a pool named `name` of objects made by `manager`.
    pub fn builder(name: impl Into<Name>, manager: M) -> PoolBuilder<M> {
        PoolBuilder {
            name: name.into(),
            manager,
            config: PoolConfig::default(),
            listener: Listener::none(),
        }
    }

    /// The pool's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The pool's settings.
    #[must_use]
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The manager.
    #[must_use]
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }

    /// Checks an object out.
    ///
    /// # Errors
    ///
    /// [`Rejection::PoolTimeout`] when no object could be had within
    /// `acquire_timeout`, carrying the manager's last creation error if making objects
    /// was failing; on a closed pool, at once, carrying [`PoolClosed`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits leaves the queue (an object handed to it
    /// meanwhile goes to the next waiter); while an object is made, recycled or
    /// validated, gives the object (or its place) back. Nothing is lost.
    pub async fn get(&self) -> Result<Pooled<M>, Rejection> {
        let shared = &*self.shared;
        // The common case first, written out here rather than through `ready` (whose
        // large future would be moved whole into this one): nobody waits, an idle
        // object is there, and neither validation nor leak detection needs the clock.
        if !shared.needs_clock()
            && let Some(idle) = shared.checkout_idle(self.lane.shard)
        {
            let mut checking = Checking {
                shared,
                idle: Some(idle),
            };
            let recycled = match checking.idle.as_mut() {
                Some(idle) if idle.meta.used() => matches!(
                    bounded(
                        shared.config.recycle_timeout,
                        shared.manager.recycle(&mut idle.object)
                    )
                    .await,
                    Some(Ok(()))
                ),
                _ => true,
            };
            // A failed recycle closes the object (dropping `checking`) and looks again.
            if recycled && let Some(idle) = checking.idle.take() {
                return Ok(self.hand_out(idle));
            }
        }
        self.get_slowly().await
    }

    /// [`get`](Self::get) past its first look at the idle objects: waits, makes objects,
    /// and looks again after an object failed its checks.
    async fn get_slowly(&self) -> Result<Pooled<M>, Rejection> {
        let shared = &*self.shared;
        // The clock is read only when needed: not for an idle object handed out at once.
        let mut start: Option<Instant> = None;
        let mut began = || *start.get_or_insert_with(|| shared.now());
        loop {
            let home = self.lane.shard;
            let (idle, fresh) = match shared.checkout(home)? {
                Step::Idle(idle) => (idle, false),
                Step::Create => {
                    let deadline = began() + shared.config.acquire_timeout;
                    match self.create(deadline).await {
                        Some(idle) => (idle, true),
                        None => {
                            let now = shared.now();
                            if now >= deadline {
                                return Err(shared.timed_out(began(), now));
                            }
                            continue;
                        }
                    }
                }
                Step::Wait(waiter) => {
                    let deadline = began() + shared.config.acquire_timeout;
                    let queued = Queued {
                        shared,
                        waiter,
                        home,
                    };
                    // An object may have come back to a shard just before this caller
                    // was counted as waiting: look once more (leaving the queue passes
                    // on anything granted meanwhile).
                    fence(Ordering::SeqCst);
                    if let Some(idle) = shared.take_idle(home) {
                        drop(queued);
                        (idle, false)
                    } else {
                        match shared.wait(&queued, deadline).await {
                            Some(Grant::Object(idle)) => (idle, false),
                            // A place was freed for this caller: make an object in it.
                            Some(Grant::Create) => match self.create(deadline).await {
                                Some(idle) => (idle, true),
                                None => continue,
                            },
                            None => {
                                let now = shared.now();
                                if shared.closed.load(Ordering::Acquire) {
                                    return Err(shared.closed_error());
                                }
                                return Err(shared.timed_out(began(), now));
                            }
                        }
                    }
                }
            };
            if let Some(pooled) = self.ready(idle, fresh).await {
                return Ok(pooled);
            }
            let now = shared.now();
            if now >= began() + shared.config.acquire_timeout {
                return Err(shared.timed_out(began(), now));
            }
        }
    }

    /// Makes an object in a place already reserved; `None` when making it failed.
    async fn create(&self, deadline: Instant) -> Option<Idle<M::Object>> {
        let shared = &*self.shared;
        let mut reserved = Reserved {
            shared,
            armed: true,
        };
        let now = Instant::now();
        let limit = shared
            .config
            .create_timeout
            .min(deadline.saturating_duration_since(now));
        let made = tokio::time::timeout(limit, shared.manager.create()).await;
        match made {
            Ok(Ok(object)) => {
                reserved.armed = false;
                Some(shared.made(object, Instant::now()))
            }
            Ok(Err(error)) => {
                shared.create_failed(Arc::new(error));
                drop(reserved);
                // Do not hammer a failing backend: a short pause before trying again.
                let pause = Duration::from_millis(50)
                    .min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
                None
            }
            Err(_) => {
                shared.create_failed(Arc::new(CreateTimedOut(limit)));
                None
            }
        }
    }

    /// Makes an idle object ready to hand out: recycled if it was used, validated if it
    /// sat idle longer than `validate_after_idle`; `None` (and the object closed) when
    /// either fails. A `fresh` object was just made and needs neither.
    async fn ready(&self, idle: Idle<M::Object>, fresh: bool) -> Option<Pooled<M>> {
        let shared = &*self.shared;
        // Held while the object is checked: if the check fails, panics or is cancelled,
        // the object is closed and its place given back.
        let mut checking = Checking {
            shared,
            idle: Some(idle),
        };
        let limit = shared.config.recycle_timeout;
        let dirty = checking.idle.as_ref().is_some_and(|idle| idle.meta.used());
        if !fresh && dirty {
            let object = &mut checking.idle.as_mut()?.object;
            let recycled = bounded(limit, shared.manager.recycle(object)).await;
            if !matches!(recycled, Some(Ok(()))) {
                return None;
            }
        }
        // The clock is read only when validation or leak detection needs it.
        let mut checked_at = None;
        if shared.needs_clock() {
            let now = shared.now();
            let stamp = shared.stamp(now);
            let last_checkout = checking.idle.as_ref()?.meta.last_checkout;
            if !fresh
                && shared
                    .config
                    .validate_after_idle
                    .is_some_and(|after| stamp.saturating_sub(last_checkout) >= nanos(after))
            {
                let object = &mut checking.idle.as_mut()?.object;
                let valid = bounded(limit, shared.manager.is_valid(object)).await;
                if !matches!(valid, Some(Ok(true))) {
                    return None;
                }
                checking.idle.as_mut()?.meta.last_validated = stamp;
            }
            checked_at = Some((now, stamp));
        }
        let mut idle = checking.idle.take()?;
        if let Some((now, stamp)) = checked_at {
            idle.meta.last_checkout = stamp;
            if shared.config.leak_threshold.is_some() {
                shared.state.lock().held.insert(idle.meta.id, (now, false));
            }
        }
        Some(self.hand_out(idle))
    }

    /// Hands a checked object out.
    #[inline]
    fn hand_out(&self, mut idle: Idle<M::Object>) -> Pooled<M> {
        idle.meta.checkouts = idle.meta.checkouts.saturating_add(1);
        idle.meta.idle_seen = NEVER;
        Pooled::new(self.lane.clone(), idle)
    }

    /// A snapshot of the pool.
    #[must_use]
    pub fn status(&self) -> PoolStatus {
        self.shared.status()
    }

    /// Closes the pool: idle objects close now, objects in use when returned; waiters
    /// and later `get`s are refused.
    pub fn close(&self) {
        let shared = &*self.shared;
        let (idle, waiters) = {
            let mut state = shared.state.lock();
            shared.closed.store(true, Ordering::SeqCst);
            let mut idle = Vec::new();
            for shard in shared.shards.iter() {
                idle.extend(shard.lock().drain(..));
            }
            state.size -= idle.len();
            shared.live.store(state.size, Ordering::Release);
            let waiters: Vec<_> = state.waiters.drain(..).collect();
            shared.waiting.store(0, Ordering::SeqCst);
            (idle, waiters)
        };
        for waiter in waiters {
            let mut waiter = waiter.state.lock();
            if let WaitState::Waiting(waker) = std::mem::replace(&mut *waiter, WaitState::Closed)
                && let Some(waker) = waker
            {
                waker.wake();
            }
        }
        for idle in idle {
            shared.destroy(idle.object, DestroyReason::Closed, false);
        }
        shared.refresh_gauges();
    }

    /// Runs one maintenance pass now: closes idle and expired objects, validates idle
    /// objects due for a keepalive, reports suspected leaks, and makes objects up to
    /// `min_idle`.
    pub async fn maintain(&self) {
        crate::maintenance::pass(&self.shared).await;
    }
}

/// Making an object took longer than `create_timeout`.
#[derive(Debug, Clone, Copy)]
struct CreateTimedOut(Duration);

impl fmt::Display for CreateTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "creating an object took longer than {:?}", self.0)
    }
}

impl std::error::Error for CreateTimedOut {}

/// Runs `future` within `limit`, without a timer when it is ready at once.
pub(crate) async fn bounded<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Some(output),
        Poll::Pending => tokio::time::timeout(limit, future).await.ok(),
    }
}

impl<M: Manager> Shared<M> {
    /// Reads the clock, and remembers what it said for the lifetime checks.
    pub(crate) fn now(&self) -> Instant {
        let now = Instant::now();
        self.seen.fetch_max(self.stamp(now), Ordering::AcqRel);
        now
    }

    /// `at` as nanoseconds since the pool's epoch.
    fn stamp(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.epoch))
    }

    /// Pops an idle object, its home shard first; expired ones it meets go to
    /// `expired`, for the caller to close once it holds no lock.
    #[inline]
    fn pop_idle(&self, home: usize, expired: &mut Vec<Idle<M::Object>>) -> Option<Idle<M::Object>> {
        let seen = self.seen.load(Ordering::Acquire);
        for i in 0..SHARDS {
            // SHARDS is a power of two: a mask, not a division, on the fast path.
            let mut idle = self.shards[(home + i) & (SHARDS - 1)].lock();
            while let Some(object) = idle.pop_back() {
                if object.meta.expires <= seen {
                    expired.push(object);
                } else {
                    return Some(object);
                }
            }
        }
        None
    }

    /// Pops an idle object, closing the expired ones it meets. Takes no pool-wide lock,
    /// and must not be called holding one.
    #[inline]
    pub(crate) fn take_idle(&self, home: usize) -> Option<Idle<M::Object>> {
        let mut expired = Vec::new();
        let found = self.pop_idle(home, &mut expired);
        for idle in expired {
            self.destroy(idle.object, DestroyReason::Expired, true);
        }
        found
    }

    /// Whether a checkout reads the clock: for validation after idling, or to time
    /// objects held for leak detection.
    #[inline]
    fn needs_clock(&self) -> bool {
        self.config.validate_after_idle.is_some() || self.config.leak_threshold.is_some()
    }

    /// An idle object if nobody waits and one is there; takes no pool-wide lock.
    #[inline]
    fn checkout_idle(&self, home: usize) -> Option<Idle<M::Object>> {
        if self.waiting.load(Ordering::SeqCst) == 0 && !self.closed.load(Ordering::Acquire) {
            self.take_idle(home)
        } else {
            None
        }
    }

    /// An idle object, a place to make one, or a place in the queue.
    #[inline]
    fn checkout(&self, home: usize) -> Result<Step<M::Object>, Rejection> {
        if let Some(idle) = self.checkout_idle(home) {
            return Ok(Step::Idle(idle));
        }
        let mut state = self.state.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        if state.waiters.is_empty() {
            drop(state);
            if let Some(idle) = self.take_idle(home) {
                return Ok(Step::Idle(idle));
            }
            state = self.state.lock();
            if self.closed.load(Ordering::Acquire) {
                return Err(self.closed_error());
            }
        }
        if state.size < self.config.max_size + self.config.max_overflow {
            state.size += 1;
            self.live.store(state.size, Ordering::Release);
            return Ok(Step::Create);
        }
        let waiter = Arc::new(Waiter {
            state: Mutex::new(WaitState::Waiting(None)),
        });
        state.waiters.push_back(waiter.clone());
        self.waiting.store(state.waiters.len(), Ordering::SeqCst);
        self.metrics.waiting.set(state.waiters.len() as f64);
        Ok(Step::Wait(waiter))
    }

    async fn wait(&self, queued: &Queued<'_, M>, deadline: Instant) -> Option<Grant<M::Object>> {
        let granted = std::future::poll_fn(|cx| {
            let mut waiter = queued.waiter.state.lock();
            match &mut *waiter {
                WaitState::Waiting(waker) => {
                    *waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                WaitState::Granted(_) => match std::mem::replace(&mut *waiter, WaitState::Done) {
                    WaitState::Granted(grant) => Poll::Ready(Some(grant)),
                    _ => Poll::Ready(None),
                },
                WaitState::Closed | WaitState::Done => Poll::Ready(None),
            }
        });
        tokio::time::timeout_at(deadline, granted)
            .await
            .ok()
            .flatten()
    }

    pub(crate) fn made(&self, object: M::Object, now: Instant) -> Idle<M::Object> {
        let stamp = self.stamp(now);
        let expires = self.config.max_lifetime.map_or(NEVER, |lifetime| {
            let jitter = self.config.lifetime_jitter;
            let cut = if jitter > 0.0 {
                self.rng.lock().random_range(0.0..=jitter)
            } else {
                0.0
            };
            stamp.saturating_add(nanos(lifetime.mul_f64(1.0 - cut)))
        });
        {
            let mut state = self.state.lock();
            state.created += 1;
            self.metrics.size.set(state.size as f64);
        }
        self.metrics.created.increment(1);
        self.listener.emit_with(|| PoolEvent::Created {
            name: self.name.clone(),
        });
        Idle {
            object,
            meta: Meta {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                expires,
                last_checkout: stamp,
                idle_seen: NEVER,
                last_validated: stamp,
                checkouts: 0,
            },
        }
    }

    pub(crate) fn create_failed(&self, error: SharedError) {
        self.listener.emit_with(|| PoolEvent::CreateFailed {
            name: self.name.clone(),
            error: error.to_string(),
        });
        self.state.lock().last_error = Some(error);
    }

    /// Gives a place back: to the first waiter (to make an object), or to the pool.
    pub(crate) fn release_place(&self) {
        let waker = {
            let mut state = self.state.lock();
            let waker = if self.closed.load(Ordering::Acquire) {
                state.size -= 1;
                None
            } else {
                match self.grant(&mut state, Grant::Create) {
                    Err(waker) => waker,
                    Ok(_) => {
                        state.size -= 1;
                        None
                    }
                }
            };
            self.live.store(state.size, Ordering::Release);
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.refresh_gauges();
    }

    /// Grants `grant` to the first waiter still waiting: `Err(waker)` if it was
    /// granted, `Ok(grant)` back if nobody waits.
    #[allow(clippy::type_complexity)]
    fn grant(
        &self,
        state: &mut State<M::Object>,
        grant: Grant<M::Object>,
    ) -> Result<Grant<M::Object>, Option<Waker>> {
        while let Some(waiter) = state.waiters.pop_front() {
            let mut waiting = waiter.state.lock();
            if let WaitState::Waiting(waker) = &mut *waiting {
                let waker = waker.take();
                *waiting = WaitState::Granted(grant);
                self.waiting.store(state.waiters.len(), Ordering::SeqCst);
                self.metrics.waiting.set(state.waiters.len() as f64);
                return Err(waker);
            }
            // A waiter that already left: skip it.
        }
        self.waiting.store(0, Ordering::SeqCst);
        Ok(grant)
    }

    /// Returns an object: to the first waiter, else to the `home` idle shard.
    #[inline]
    pub(crate) fn give_back(&self, idle: Idle<M::Object>, home: usize) {
        // The common case, with no pool-wide lock: nobody waits, the pool is open,
        // within its size, and the object within its lifetime.
        if self.waiting.load(Ordering::SeqCst) == 0
            && !self.closed.load(Ordering::Acquire)
            && self.live.load(Ordering::Acquire) <= self.config.max_size
            && idle.meta.expires > self.seen.load(Ordering::Acquire)
        {
            // A caller may have started waiting meanwhile, having found no object: it
            // looks at every shard under its lock after it is counted, so reading the
            // count under this shard's lock, after the push, sees it or is seen.
            let (someone_waits, closed) = {
                let mut shard = self.shards[home].lock();
                shard.push_back(idle);
                (
                    self.waiting.load(Ordering::Acquire) > 0,
                    self.closed.load(Ordering::Acquire),
                )
            };
            if closed {
                // `close` drained the shards before or after this push: close what it
                // may have missed (it stores `closed` before draining each shard).
                let missed: Vec<_> = self.shards[home].lock().drain(..).collect();
                if !missed.is_empty() {
                    let mut state = self.state.lock();
                    state.size -= missed.len();
                    self.live.store(state.size, Ordering::Release);
                }
                for idle in missed {
                    self.destroy(idle.object, DestroyReason::Closed, false);
                }
                return;
            }
            if someone_waits {
                self.serve_waiters(home);
            }
            return;
        }
        let outcome = {
            let mut state = self.state.lock();
            if self.closed.load(Ordering::Acquire) {
                state.size -= 1;
                self.live.store(state.size, Ordering::Release);
                Err((idle, DestroyReason::Closed))
            } else {
                match self.grant(&mut state, Grant::Object(idle)) {
                    Err(waker) => Ok(waker),
                    Ok(Grant::Object(idle)) => {
                        if idle.meta.expires <= self.seen.load(Ordering::Acquire) {
                            state.size -= 1;
                            self.live.store(state.size, Ordering::Release);
                            Err((idle, DestroyReason::Expired))
                        } else if state.size > self.config.max_size {
                            state.size -= 1;
                            self.live.store(state.size, Ordering::Release);
                            Err((idle, DestroyReason::Overflow))
                        } else {
                            self.shards[home].lock().push_back(idle);
                            Ok(None)
                        }
                    }
                    Ok(Grant::Create) => Ok(None),
                }
            }
        };
        match outcome {
            Ok(Some(waker)) => waker.wake(),
            Ok(None) => {}
            Err((idle, reason)) => self.destroy(idle.object, reason, false),
        }
    }

    /// Hands idle objects in the shards to waiters, first come first served.
    fn serve_waiters(&self, home: usize) {
        let mut wakers = Vec::new();
        let mut expired = Vec::new();
        {
            let mut state = self.state.lock();
            while !state.waiters.is_empty() {
                let Some(idle) = self.pop_idle(home, &mut expired) else {
                    break;
                };
                match self.grant(&mut state, Grant::Object(idle)) {
                    Err(waker) => wakers.extend(waker),
                    Ok(Grant::Object(idle)) => {
                        self.shards[home].lock().push_back(idle);
                        break;
                    }
                    Ok(Grant::Create) => break,
                }
            }
        }
        for waker in wakers {
            waker.wake();
        }
        for idle in expired {
            self.destroy(idle.object, DestroyReason::Expired, true);
        }
    }

    /// The return of a checked-out object (from a [`Pooled`] being dropped).
    pub(crate) fn returned(&self, object: M::Object, meta: Meta, home: usize) {
        if self.config.leak_threshold.is_some() {
            self.state.lock().held.remove(&meta.id);
        }
        if std::thread::panicking() {
            self.destroy(object, DestroyReason::Panicked, true);
            return;
        }
        self.give_back(Idle { object, meta }, home);
    }

    /// A checked-out object taken out of the pool for good.
    pub(crate) fn detached(&self, meta: Meta) {
        {
            let mut state = self.state.lock();
            state.held.remove(&meta.id);
            state.destroyed += 1;
        }
        self.metrics.destroyed[5].increment(1);
        self.listener.emit_with(|| PoolEvent::Destroyed {
            name: self.name.clone(),
            reason: DestroyReason::Taken,
        });
        self.release_place();
    }

    /// Closes `object`; gives its place back when `release` (else the caller did).
    pub(crate) fn destroy(&self, object: M::Object, reason: DestroyReason, release: bool) {
        self.manager.destroy(object);
        self.state.lock().destroyed += 1;
        let index = REASONS.iter().position(|r| *r == reason).unwrap_or(0);
        self.metrics.destroyed[index].increment(1);
        self.listener.emit_with(|| PoolEvent::Destroyed {
            name: self.name.clone(),
            reason,
        });
        if release {
            self.release_place();
        } else {
            self.refresh_gauges();
        }
    }

    fn timed_out(&self, start: Instant, now: Instant) -> Rejection {
        let waited = now.saturating_duration_since(start);
        let last_error = {
            let mut state = self.state.lock();
            state.timeouts += 1;
            state.last_error.clone()
        };
        self.metrics.timeouts.increment(1);
        self.listener.emit_with(|| PoolEvent::Timeout {
            name: self.name.clone(),
            waited,
        });
        Rejection::PoolTimeout {
            name: self.name.clone(),
            waited,
            last_error,
        }
    }

    fn closed_error(&self) -> Rejection {
        Rejection::PoolTimeout {
            name: self.name.clone(),
            waited: Duration::ZERO,
            last_error: Some(Arc::new(PoolClosed)),
        }
    }

    pub(crate) fn status(&self) -> PoolStatus {
        let state = self.state.lock();
        let idle = self.idle_count();
        PoolStatus {
            size: state.size,
            idle,
            in_use: state.size.saturating_sub(idle),
            waiting: state.waiters.len(),
            created: state.created,
            destroyed: state.destroyed,
            timeouts: state.timeouts,
            max_size: self.config.max_size,
            max_overflow: self.config.max_overflow,
            closed: self.closed.load(Ordering::Acquire),
        }
    }

    fn idle_count(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }

    pub(crate) fn refresh_gauges(&self) {
        let state = self.state.lock();
        self.metrics.size.set(state.size as f64);
        self.metrics.idle.set(self.idle_count() as f64);
        self.metrics.waiting.set(state.waiters.len() as f64);
    }

    // ---- maintenance helpers ----

    /// Takes out the idle objects to close or to validate now, stamps the others.
    pub(crate) fn sweep(&self, now: Instant) -> Sweep<M::Object> {
        let stamp = self.stamp(now);
        self.seen.fetch_max(stamp, Ordering::AcqRel);
        let mut state = self.state.lock();
        let mut sweep = Sweep {
            expired: Vec::new(),
            idle: Vec::new(),
            keepalive: Vec::new(),
            leaks: Vec::new(),
            to_create: 0,
        };
        let mut idle_count = self.idle_count();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let mut kept = VecDeque::with_capacity(shard.len());
            // Oldest returned first: they are the front of each shard.
            while let Some(mut idle) = shard.pop_front() {
                if idle.meta.idle_seen == NEVER {
                    idle.meta.idle_seen = stamp;
                }
                let seen = idle.meta.idle_seen;
                if idle.meta.expires <= stamp {
                    idle_count -= 1;
                    sweep.expired.push(idle);
                } else if self
                    .config
                    .idle_timeout
                    .is_some_and(|timeout| stamp.saturating_sub(seen) >= nanos(timeout))
                    && idle_count > self.config.min_idle
                {
                    idle_count -= 1;
                    sweep.idle.push(idle);
                } else if self.config.keepalive.is_some_and(|every| {
                    stamp.saturating_sub(idle.meta.last_validated) >= nanos(every)
                }) {
                    idle.meta.last_validated = stamp;
                    sweep.keepalive.push(idle);
                } else {
                    kept.push_back(idle);
                }
            }
            *shard = kept;
        }
        state.size -= sweep.expired.len() + sweep.idle.len();
        if let Some(threshold) = self.config.leak_threshold {
            for (id, (since, reported)) in &mut state.held {
                let held = now.saturating_duration_since(*since);
                if held >= threshold && !*reported {
                    *reported = true;
                    sweep.leaks.push((*id, held));
                }
            }
        }
        let idle_after = self.idle_count() + sweep.keepalive.len();
        let room = (self.config.max_size).saturating_sub(state.size);
        // Places are reserved one at a time as objects are made (`reserve_spare`), so
        // a pass cut short leaks none.
        sweep.to_create = if self.closed.load(Ordering::Acquire) {
            0
        } else {
            self.config.min_idle.saturating_sub(idle_after).min(room)
        };
        sweep
    }

    pub(crate) fn leak(&self, id: u64, held: Duration) {
        self.listener.emit_with(|| PoolEvent::LeakSuspected {
            name: self.name.clone(),
            object: id,
            held,
        });
    }
}

/// What a maintenance pass took out of the idle queue.
pub(crate) struct Sweep<T> {
    pub(crate) expired: Vec<Idle<T>>,
    pub(crate) idle: Vec<Idle<T>>,
    pub(crate) keepalive: Vec<Idle<T>>,
    pub(crate) leaks: Vec<(u64, Duration)>,
    pub(crate) to_create: usize,
}

/// A handle the maintenance task holds without keeping the pool alive.
pub(crate) type WeakShared<M> = Weak<Shared<M>>;

impl<M: Manager> Shared<M> {
    /// Whether the pool is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Reserves a place for an object the maintenance task makes, if the pool is open
    /// and below `max_size`.
    pub(crate) fn reserve_spare(&self) -> bool {
        let mut state = self.state.lock();
        if self.closed.load(Ordering::Acquire) || state.size >= self.config.max_size {
            return false;
        }
        state.size += 1;
        self.live.store(state.size, Ordering::Release);
        true
    }

    /// Makes an object in a place reserved by [`reserve_spare`](Self::reserve_spare).
    pub(crate) async fn create_for_min_idle(&self) {
        let reserved = Reserved {
            shared: self,
            armed: true,
        };
        let now = Instant::now();
        let made = tokio::time::timeout(self.config.create_timeout, self.manager.create()).await;
        match made {
            Ok(Ok(object)) => {
                let mut reserved = reserved;
                reserved.armed = false;
                let idle = self.made(object, now);
                let home = (idle.meta.id as usize) % self.shards.len();
                self.give_back(idle, home);
            }
            Ok(Err(error)) => {
                self.create_failed(Arc::new(error));
                drop(reserved);
            }
            Err(_) => {
                self.create_failed(Arc::new(CreateTimedOut(self.config.create_timeout)));
                drop(reserved);
            }
        }
    }
}

/// Loom models: `RUSTFLAGS="--cfg hardy_loom" cargo test -p hardy-pool --lib --release loom`.
#[cfg(all(test, hardy_loom))]
mod loom_models {
    use super::*;

    struct Unit;

    impl Manager for Unit {
        type Object = u32;
        type Error = std::io::Error;

        async fn create(&self) -> Result<u32, std::io::Error> {
            Ok(1)
        }
    }

    /// A caller that finds the pool empty and starts waiting, racing the return of the
    /// only object to another handle's shard: the caller always gets it, either handed
    /// over by the return or found by its second look — never left waiting beside an
    /// idle object.
    #[test]
    fn loom_a_return_never_misses_a_new_waiter() {
        loom::model(|| {
            let pool = Pool::builder("p", Unit).max_size(1).build().unwrap();
            let shared = pool.shared.clone();
            assert!(matches!(shared.checkout(0), Ok(Step::Create)));
            let object = shared.made(7, Instant::now());
            let returner = {
                let shared = shared.clone();
                loom::thread::spawn(move || shared.give_back(object, 1))
            };
            let got = match shared.checkout(0).unwrap() {
                Step::Idle(idle) => Some(idle.object),
                Step::Create => panic!("the pool is full"),
                Step::Wait(waiter) => {
                    let queued = Queued {
                        shared: &shared,
                        waiter: waiter.clone(),
                        home: 0,
                    };
                    fence(Ordering::SeqCst);
                    match shared.take_idle(0) {
                        Some(idle) => {
                            drop(queued);
                            Some(idle.object)
                        }
                        None => {
                            returner.join().unwrap();
                            let state =
                                std::mem::replace(&mut *waiter.state.lock(), WaitState::Done);
                            drop(queued);
                            match state {
                                WaitState::Granted(Grant::Object(idle)) => Some(idle.object),
                                _ => None,
                            }
                        }
                    }
                }
            };
            assert_eq!(got, Some(7), "the waiter got the returned object");
        });
    }
}

//! [`Pool`]: the handle, checkout and return.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use hardy_core::{Listener, Name, Rejection, SharedError};

use crossbeam_utils::CachePadded;
use metrics::{Counter, Gauge};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::{DestroyReason, Manager, PoolBuilder, PoolConfig, PoolEvent, Pooled};

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

struct State<T> {
    /// Objects alive (idle or in use) or being made.
    size: usize,
    waiters: VecDeque<Arc<Waiter<T>>>,
    /// The deadline the reaper sleeps until, if it sleeps until one.
    armed: Option<Instant>,
    last_error: Option<SharedError>,
    /// Objects in use and since when, when leaks are watched; reported ones flagged.
    held: HashMap<u64, (Instant, bool)>,
    created: u64,
    destroyed: u64,
    timeouts: u64,
    create_failures: u64,
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
    shards: Box<[CachePadded<Shard<M::Object>>]>,
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
    /// Wakes the reaper: a waiter with an earlier deadline joined, or the pool is gone.
    reaper: Arc<tokio::sync::Notify>,
    /// Whether a reaper task runs.
    reaping: AtomicBool,
}

impl<M: Manager> Drop for Shared<M> {
    fn drop(&mut self) {
        // The reaper holds no strong reference while it sleeps: wake it to end.
        self.reaper.notify_one();
    }
}

/// One shard of idle objects, on a cache line of its own, with its length readable
/// without the lock.
pub(crate) struct Shard<T> {
    idle: Mutex<VecDeque<Idle<T>>>,
    /// The length at the last unlock: a look skips a shard that looks empty instead of
    /// taking its lock. A hint, not a promise, except to a caller just counted as
    /// waiting, which returns and waiters meet on (see `Shared::give_back`); a caller
    /// serving waiters locks every shard.
    len: AtomicUsize,
}

impl<T> Shard<T> {
    fn new() -> Self {
        Shard {
            idle: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// The shard's objects, locked; the length hint is updated at unlock.
    pub(crate) fn lock(&self) -> ShardGuard<'_, T, impl DerefMut<Target = VecDeque<Idle<T>>>> {
        ShardGuard {
            idle: self.idle.lock(),
            len: &self.len,
            object: PhantomData,
        }
    }

    /// Whether the shard held no object at its last unlock.
    #[inline]
    pub(crate) fn looks_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }
}

/// A locked shard: updates the shard's length hint when unlocked.
pub(crate) struct ShardGuard<'a, T, G: DerefMut<Target = VecDeque<Idle<T>>>> {
    idle: G,
    len: &'a AtomicUsize,
    object: PhantomData<T>,
}

impl<T, G: DerefMut<Target = VecDeque<Idle<T>>>> Deref for ShardGuard<'_, T, G> {
    type Target = VecDeque<Idle<T>>;

    fn deref(&self) -> &Self::Target {
        &self.idle
    }
}

impl<T, G: DerefMut<Target = VecDeque<Idle<T>>>> DerefMut for ShardGuard<'_, T, G> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.idle
    }
}

impl<T, G: DerefMut<Target = VecDeque<Idle<T>>>> Drop for ShardGuard<'_, T, G> {
    fn drop(&mut self) {
        self.len.store(self.idle.len(), Ordering::Relaxed);
    }
}

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

/// A snapshot of a pool and its running totals since it was built; made by
/// [`Pool::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The pool's name.
    pub name: Name,
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
    /// Creations that failed so far.
    pub create_failures: u64,
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
/// assert_eq!(pool.stats().created, 1);
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

impl<M: Manager> Pool<M> {
    /// What the maintenance task holds of the pool.
    pub(crate) fn weak(&self) -> WeakShared<M> {
        Arc::downgrade(&self.shared)
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<M: Manager> Pool<M> {
    /// The pool of a validated config; its builder starts its maintenance task.
    pub(crate) fn from_parts(
        name: Name,
        manager: M,
        config: PoolConfig,
        listener: Listener<PoolEvent>,
    ) -> Self {
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
        Pool::with_lane(Arc::new(Shared {
            name,
            config,
            manager,
            state: Mutex::new(State {
                size: 0,
                waiters: VecDeque::new(),
                armed: None,
                last_error: None,
                held: HashMap::new(),
                created: 0,
                destroyed: 0,
                timeouts: 0,
                create_failures: 0,
            }),
            listener,
            metrics,
            next_id: AtomicU64::new(1),
            rng: Mutex::new(SmallRng::from_os_rng()),
            epoch: Instant::now(),
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Shard::new()))
                .collect(),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            seen: AtomicU64::new(0),
            lanes: AtomicUsize::new(0),
            reaper: Arc::new(tokio::sync::Notify::new()),
            reaping: AtomicBool::new(false),
        }))
    }
}

/// How a look for an idle object treats shards that look empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Skips them: a look that only hopes to find an object (a miss goes on to make
    /// one or to wait), and the look of a caller just counted as waiting, which a
    /// return that makes a shard non-empty cannot miss (see `Shared::give_back`).
    Hopeful,
    /// Locks every shard: a caller serving waiters must not miss an object.
    Every,
}

/// What a checkout found under the lock.
enum Step<T> {
    Idle(Idle<T>),
    Create,
    /// A place in the queue; `true` if the waiter's deadline is the earliest, so the
    /// reaper must be told.
    Wait(Arc<Waiter<T>>, bool),
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

impl<M: Manager> Pool<M> {
    /// Starts building a pool named `name` of objects made by `manager`.
    pub fn builder(name: impl Into<Name>, manager: M) -> PoolBuilder<M> {
        PoolBuilder::new(name.into(), manager)
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
        let looked = !shared.needs_clock();
        if looked && let Some(idle) = shared.checkout_idle(self.lane.shard) {
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
        self.get_slowly(looked).await
    }
}

mod checkin;
mod checkout;
mod upkeep;
mod waiters;

use waiters::{Grant, Queued, WaitState, Waiter};

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

/// What the maintenance task holds of a pool: it ends once every handle is dropped.
pub(crate) type WeakShared<M> = Weak<Shared<M>>;

#[cfg(all(test, hardy_loom))]
mod loom_models;

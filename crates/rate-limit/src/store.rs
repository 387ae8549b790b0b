//! [`RateStore`]: where the turns of a limiter shared by a fleet are decided; and what a
//! limiter built on one does around it: leased turns, and its fallback while the store
//! fails.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hardy_core::Name;
use hardy_core::sync::{AtomicBool, Mutex, Ordering};
use metrics::{Counter, Gauge};
use tokio::sync::watch;

use crate::RateLimitConfig;

/// `hardy_rate_limit_degraded{name}`: 1 while a shared limiter decides without its
/// store (which failed), 0 while its store decides.
pub const METRIC_DEGRADED: &str = "hardy_rate_limit_degraded";
/// `hardy_rate_limit_store_requests_total{name, outcome}`: a shared limiter's round
/// trips to its store: `ok` or `failed`.
pub const METRIC_STORE_REQUESTS: &str = "hardy_rate_limit_store_requests_total";

/// Where the turns of a limiter shared by a fleet are decided: a store every instance
/// reaches (Redis, with `hardy-redis`), which keeps the limiter's state and decides
/// each request atomically, on its own clock.
///
/// A limiter built on a store ([`RateLimitBuilder::build_shared`]) asks it for every
/// call it cannot serve from turns it has leased, and falls back to its
/// [`Degrade`] setting when the store fails. The store sees the fleet's rate, as
/// [`TakeRequest`] says; the GCRA it runs must be the one of this crate, so that a
/// limit means the same whether it is kept in one process or shared.
///
/// [`RateLimitBuilder::build_shared`]: crate::RateLimitBuilder::build_shared
pub trait RateStore: fmt::Debug + Send + Sync + 'static {
    /// Decides `request`: up to `want` turns now, one turn after a wait of at most
    /// `max_wait`, or a refusal. The future must be bounded in time: a limiter's
    /// callers wait for it.
    fn take(&self, request: TakeRequest) -> TakeFuture;

    /// What limiters that do not say otherwise do while this store fails.
    fn degrade(&self) -> Degrade {
        Degrade::Local
    }
}

/// The future of a [`RateStore::take`].
pub type TakeFuture = Pin<Box<dyn Future<Output = Result<Taken, StoreError>> + Send>>;

/// What a shared limiter asks its store for one call (or one lease of turns).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TakeRequest {
    /// The limiter's name: the state's name in the store.
    pub limiter: Name,
    /// The key of a keyed limiter, as text; `None` for a limiter with one rate.
    pub key: Option<String>,
    /// Between two turns at the fleet's steady rate: `period / limit`.
    pub interval: Duration,
    /// Turns that may be taken at once after a quiet spell.
    pub burst: u32,
    /// How long a call may wait for its turn; zero refuses it instead.
    pub max_wait: Duration,
    /// Turns wanted now, at least 1: more than 1 leases the rest for later calls of
    /// this instance. Only turns available now are leased; a call that must wait takes
    /// one turn.
    pub want: u32,
}

/// A store's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// `granted` turns now (at least 1, at most the `want` asked for).
    Now {
        /// Turns granted.
        granted: u32,
    },
    /// One turn, reserved, which comes after this wait (within `max_wait`).
    After(Duration),
    /// Refused: a turn would come after this long, more than `max_wait`.
    Refused(Duration),
}

/// Why a store could not decide: unreachable, too slow, refused by its own guard.
#[derive(Debug)]
pub struct StoreError {
    source: Box<dyn StdError + Send + Sync>,
}

impl StoreError {
    /// A store error caused by `source`.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        StoreError {
            source: source.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the shared rate store failed: {}", self.source)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// What a shared limiter does while its store fails (unreachable, slow, or its guard
/// open): it decides by itself, and goes back to the store by itself once the store
/// answers again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Degrade {
    /// Limits locally to this instance's share of the fleet's rate: `limit /
    /// fleet_size` per `period`, with `burst / fleet_size` (at least 1) at once. The
    /// fleet as a whole keeps about its limit while every instance is cut off.
    #[default]
    Local,
    /// Admits every call: the limit protects nothing that must not be overrun.
    Allow,
    /// Refuses every call: exceeding the limit is worse than serving nobody.
    Refuse,
}

impl fmt::Display for Degrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Degrade::Local => "local",
            Degrade::Allow => "allow",
            Degrade::Refuse => "refuse",
        })
    }
}

/// The settings one instance keeps in the process when the rate is the fleet's: its
/// share of the rate, used while the store fails.
pub(crate) fn fleet_share(config: &RateLimitConfig) -> RateLimitConfig {
    let fleet = config.fleet_size.max(1);
    RateLimitConfig {
        period: config.period.saturating_mul(fleet),
        burst: Some((config.burst() / fleet).max(1)),
        ..config.clone()
    }
}

/// A shared limiter's link to its store: the fleet's rate, the turns it has leased,
/// and whether the store is failing.
pub(crate) struct Shared {
    store: Arc<dyn RateStore>,
    /// The fleet's rate, as the store is asked for it.
    interval: Duration,
    burst: u32,
    max_wait: Duration,
    lease: u32,
    /// How long leased turns stay good, in the limiter's clock (nanoseconds).
    lease_life: u64,
    pub(crate) degrade: Degrade,
    max_keys: usize,
    /// Leased turns per key ("" for a limiter with one rate).
    stock: Mutex<HashMap<String, Stock>>,
    degraded: AtomicBool,
    degraded_gauge: Gauge,
    ok: Counter,
    failed: Counter,
}

/// Turns leased for one key, and the lease being fetched, if one is.
#[derive(Default)]
struct Stock {
    turns: u32,
    /// The limiter clock's reading after which the turns are dropped.
    until: u64,
    /// Tells the calls waiting for the lease in flight whether it came.
    refill: Option<watch::Receiver<Option<bool>>>,
    /// Calls waiting for the lease in flight: the next lease is sized for those that
    /// find no turn left in this one.
    waiting: u32,
}

impl Stock {
    /// Whether turns are left that are still good at `now`.
    fn has_turns(&self, now: u64) -> bool {
        self.turns > 0 && now <= self.until
    }

    /// The lease being fetched, if one is.
    fn in_flight(&self) -> Option<&watch::Receiver<Option<bool>>> {
        self.refill
            .as_ref()
            .filter(|refill| refill.borrow().is_none())
    }
}

/// Rounds a call waits for leases of others before it asks the store by itself.
const ROUNDS: u8 = 2;

/// How a shared limiter serves a call.
pub(crate) enum Plan {
    /// From a leased turn, at once.
    Leased,
    /// From the store: ask it for `want` turns; `refill` tells the calls waiting for
    /// this lease whether it came.
    Ask { want: u32, refill: Option<Refill> },
    /// After the lease in flight (the `round`th this call waits for): from its turns,
    /// if some are left then.
    AfterRefill {
        receiver: watch::Receiver<Option<bool>>,
        round: u8,
    },
}

/// The lease a call is fetching: tells the calls waiting for it when it ends, however
/// it ends (dropped unfinished, it says the lease did not come).
pub(crate) struct Refill {
    sender: watch::Sender<Option<bool>>,
}

impl Refill {
    pub(crate) fn finish(self, came: bool) {
        self.sender.send_replace(Some(came));
    }
}

impl Drop for Refill {
    fn drop(&mut self) {
        self.sender.send_if_modified(|came| {
            let unset = came.is_none();
            if unset {
                *came = Some(false);
            }
            unset
        });
    }
}

impl Shared {
    pub(crate) fn new(store: Arc<dyn RateStore>, name: &Name, config: &RateLimitConfig) -> Self {
        metrics::describe_gauge!(
            METRIC_DEGRADED,
            "1 while a shared rate limiter decides without its failing store"
        );
        metrics::describe_counter!(
            METRIC_STORE_REQUESTS,
            metrics::Unit::Count,
            "Round trips of a shared rate limiter to its store, by outcome"
        );
        let requests = |outcome: &'static str| metrics::counter!(METRIC_STORE_REQUESTS, "name" => name.to_string(), "outcome" => outcome);
        let degraded_gauge = metrics::gauge!(METRIC_DEGRADED, "name" => name.to_string());
        degraded_gauge.set(0.0);
        Shared {
            interval: config.period / config.limit,
            burst: config.burst(),
            max_wait: config.max_wait,
            lease: config.lease,
            lease_life: crate::gcra::nanos(config.period),
            degrade: config.degrade.unwrap_or_else(|| store.degrade()),
            max_keys: config.max_keys,
            stock: Mutex::new(HashMap::new()),
            degraded: AtomicBool::new(false),
            degraded_gauge,
            ok: requests("ok"),
            failed: requests("failed"),
            store,
        }
    }

    /// How to serve a call for `key` at `now`: a leased turn (taken), the lease in
    /// flight, or a round trip.
    pub(crate) fn plan(&self, key: &str, now: u64) -> Plan {
        self.plan_round(key, now, 0)
    }

    /// How to serve a call that waited for the `round`th lease in flight and woke.
    pub(crate) fn after_refill(&self, key: &str, now: u64, round: u8) -> Plan {
        self.gave_up_waiting(key);
        self.plan_round(key, now, round)
    }

    /// A call that waited for a lease and woke: no longer waiting.
    pub(crate) fn gave_up_waiting(&self, key: &str) {
        if let Some(entry) = self.stock.lock().get_mut(key) {
            entry.waiting = entry.waiting.saturating_sub(1);
        }
    }

    fn plan_round(&self, key: &str, now: u64, round: u8) -> Plan {
        let one = Plan::Ask {
            want: 1,
            refill: None,
        };
        if self.lease == 1 {
            return one;
        }
        let mut stock = self.stock.lock();
        if let Some(entry) = stock.get_mut(key) {
            if entry.has_turns(now) {
                entry.turns -= 1;
                return Plan::Leased;
            }
            entry.turns = 0;
            if let Some(receiver) = entry.in_flight().cloned() {
                if round >= ROUNDS {
                    return one;
                }
                entry.waiting += 1;
                return Plan::AfterRefill {
                    receiver,
                    round: round + 1,
                };
            }
        }
        if !stock.contains_key(key) && !self.make_room(&mut stock, now) {
            // No room to keep a lease for another key: one turn at a time.
            return one;
        }
        let (sender, receiver) = watch::channel(None);
        let entry = stock.entry(key.to_owned()).or_default();
        entry.refill = Some(receiver);
        // Sized for the calls that waited for the last lease and will find no turn
        // left: they wait for this one.
        let want = self.lease.saturating_add(entry.waiting).min(self.burst);
        Plan::Ask {
            want,
            refill: Some(Refill { sender }),
        }
    }

    /// Keeps `turns` leased turns for `key`, good for one period from `now`; turns
    /// still left from an earlier lease are dropped (they would outlive their bound).
    pub(crate) fn restock(&self, key: &str, turns: u32, now: u64) {
        let mut stock = self.stock.lock();
        if let Some(entry) = stock.get_mut(key) {
            entry.turns = turns;
            entry.until = now.saturating_add(self.lease_life);
        }
    }

    /// Makes room for one more key's stock when the table is full, dropping keys with
    /// no turn left and no lease in flight. Returns whether there is room.
    fn make_room(&self, stock: &mut HashMap<String, Stock>, now: u64) -> bool {
        if stock.len() < self.max_keys {
            return true;
        }
        stock.retain(|_, entry| entry.in_flight().is_some() || entry.has_turns(now));
        stock.len() < self.max_keys
    }

    /// What the store is asked for a call for `key` wanting `want` turns.
    pub(crate) fn request(&self, limiter: &Name, key: Option<String>, want: u32) -> TakeRequest {
        TakeRequest {
            limiter: limiter.clone(),
            key,
            interval: self.interval,
            burst: self.burst,
            max_wait: self.max_wait,
            want,
        }
    }

    pub(crate) fn take(&self, request: TakeRequest) -> TakeFuture {
        self.store.take(request)
    }

    /// Records a round trip that succeeded; returns whether it ended a failure (the
    /// limiter then reports that its store is back).
    pub(crate) fn succeeded(&self) -> bool {
        self.ok.increment(1);
        if self.degraded.load(Ordering::Relaxed) && self.degraded.swap(false, Ordering::AcqRel) {
            self.degraded_gauge.set(0.0);
            return true;
        }
        false
    }

    /// Records a round trip that failed; returns whether it began a failure (the
    /// limiter then reports that it degrades).
    pub(crate) fn failed(&self) -> bool {
        self.failed.increment(1);
        if !self.degraded.load(Ordering::Relaxed) && !self.degraded.swap(true, Ordering::AcqRel) {
            self.degraded_gauge.set(1.0);
            return true;
        }
        false
    }

    /// Whether the limiter decides without its store now (the last round trip failed).
    pub(crate) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// The store, for debugging output.
    pub(crate) fn store(&self) -> &dyn RateStore {
        &*self.store
    }
}

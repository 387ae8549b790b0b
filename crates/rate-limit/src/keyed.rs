//! [`KeyedRateLimiter`]: one rate per key, with bounded key state.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use hardy_core::{Listener, Name, Rejection};
use hashbrown::HashTable;
use metrics::Gauge;

use crate::future::CallFuture;
use crate::gcra::{Gcra, Quota, Verdict};
use crate::stats::RateLimitStats;

use crate::limit::{Decision, wait_for};
use crate::limiter::{Core, METRIC_KEYS, OwnsCore};
use crate::store::RateStore;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering, RwLock};
use crate::{ByKey, ForKey, RateLimitBuilder, RateLimitConfig, RateLimitEvent, RateLimitLayer};

/// Key-state shards of a keyed limiter, each behind its own read-write lock: a known
/// key is decided under the read lock with one compare-and-swap on its own state, so
/// callers of different keys rarely meet.
const SHARDS: usize = 32;

/// A rate limit per key (per client, per plant, per pump): each key gets the whole rate
/// of the config on its own.
///
/// Key state is bounded: at most `max_keys` keys are tracked. When a new key finds the
/// table full, every idle key (fully replenished, so forgetting it changes no decision)
/// is forgotten; only if none is idle does one busy key go, the closest to idle among a
/// sample, which may then be admitted early if it comes back. A sweep for idle keys runs
/// only once one can have become idle, so a stream of new keys against a table of busy
/// ones costs a sample each, not a scan. Keys are tracked only once admitted, so
/// refused callers add no state. [`retain_recent`] forgets every idle key on demand.
///
/// The table is split into shards behind read-write locks: a known key is decided
/// under a shared read lock with one compare-and-swap on its own state.
///
/// [`retain_recent`]: KeyedRateLimiter::retain_recent
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_rate_limit::KeyedRateLimiter;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // At most 3 waterings an hour per plant, one at a time.
/// let waterings = KeyedRateLimiter::builder("waterings")
///     .per(3, Duration::from_secs(3600))
///     .burst(1)
///     .build_keyed::<&'static str>()?;
/// waterings.check_key(&"basil")?;
/// assert!(waterings.check_key(&"basil").is_err());
/// waterings.check_key(&"fern")?; // another plant, its own rate
/// # Ok(())
/// # }
/// ```
pub struct KeyedRateLimiter<K> {
    shared: Arc<Keyed<K>>,
}

impl<K> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            shared: self.shared.clone(),
        }
    }
}

struct Keyed<K> {
    core: Core,
    /// A key as the store of a shared limiter names it; `None` for a limiter kept in
    /// the process.
    key_text: Option<fn(&K) -> String>,
    hasher: Hasher,
    /// Each shard on its own cache line, so callers of different shards never share one.
    shards: Box<[CachePadded<RwLock<Table<K>>>]>,
    /// Keys tracked, never above `max_keys`: a new key takes a place here first.
    count: AtomicUsize,
    /// No tracked key is idle before this time: a sweep for idle keys before it would
    /// find none.
    next_idle: AtomicU64,
    /// The generation the next new entry gets.
    generations: AtomicU64,
    /// Held while making room, so sweeps do not overlap.
    evicting: RwLock<usize>,
    keys: Gauge,
}

/// Hashes keys: seeded at random per limiter, so that callers cannot aim their keys at
/// one shard (a fixed seed under loom, whose models must be deterministic).
#[cfg(not(hardy_loom))]
type Hasher = std::hash::RandomState;
#[cfg(hardy_loom)]
type Hasher = std::hash::BuildHasherDefault<std::hash::DefaultHasher>;

/// Each key with its state (the GCRA timestamp) and the generation of its entry (so
/// that a refund never reaches an entry made after the turn it gives back).
type Table<K> = HashTable<(K, AtomicU64, u64)>;

/// The store of a shared keyed limiter, and how it names a key.
pub(crate) type KeyedStore<K> = (std::sync::Arc<dyn RateStore>, fn(&K) -> String);

/// Keys sampled when every key is busy and one must go for a new one.
const EVICTION_SAMPLE: usize = 32;

impl KeyedRateLimiter<()> {
    /// Starts building a keyed limiter named `name`; finish with
    /// [`build_keyed`](RateLimitBuilder::build_keyed), which sets the key type.
    pub fn builder(name: impl Into<Name>) -> RateLimitBuilder {
        RateLimitBuilder::new(name.into())
    }
}

impl<K> KeyedRateLimiter<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A keyed limiter named `name` with the settings of `config` and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`](hardy_core::ConfigError) naming the first bad setting.
    pub fn from_config(
        name: impl Into<Name>,
        config: RateLimitConfig,
    ) -> Result<Self, hardy_core::ConfigError> {
        RateLimitBuilder::new(name.into())
            .config(config)
            .build_keyed()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: RateLimitConfig,
        listener: Listener<RateLimitEvent>,
        store: Option<KeyedStore<K>>,
    ) -> Self {
        let (store, key_text) = store.unzip();
        metrics::describe_gauge!(METRIC_KEYS, "Keys a keyed rate limiter tracks");
        let keys = metrics::gauge!(METRIC_KEYS, "name" => name.to_string());
        let shards = (0..SHARDS)
            .map(|_| CachePadded::new(RwLock::new(HashTable::new())))
            .collect();
        KeyedRateLimiter {
            shared: Arc::new(Keyed {
                core: Core::new(name, config, listener, store),
                key_text,
                hasher: Hasher::default(),
                shards,
                count: AtomicUsize::new(0),
                next_idle: AtomicU64::new(u64::MAX),
                generations: AtomicU64::new(1),
                evicting: RwLock::new(0),
                keys,
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

    /// Its running totals since it was built, over every key: calls that waited for a
    /// turn, calls refused and failed store round trips, without a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> RateLimitStats {
        self.shared.core.tally.stats(&self.shared.core.name)
    }

    /// Whether the limiter is shared through a store and decides without it now (its
    /// last round trip to the store failed); `None` for a limiter kept in the process.
    #[must_use]
    pub fn is_degraded(&self) -> Option<bool> {
        self.shared.core.is_degraded()
    }

    /// Admits a call for `key` now, or refuses it; never waits.
    ///
    /// A limiter shared through a store decides `check_key` in the process, at this
    /// instance's share of the rate, as [`RateLimiter::check`](crate::RateLimiter::check).
    ///
    /// # Errors
    ///
    /// [`Rejection::RateLimited`] with the time until a call for `key` would be admitted.
    #[inline]
    pub fn check_key(&self, key: &K) -> Result<(), Rejection> {
        let core = &self.shared.core;
        let now = core.now();
        let (verdict, _, _) = self.decide(key, core.gcra.without_wait(), now);
        core.checked(verdict)
    }

    /// How long until a call for `key` would be admitted at once: zero when one would
    /// be now. Takes no turn.
    #[must_use]
    pub fn time_to_ready(&self, key: &K) -> Duration {
        let (hash, shard) = self.locate(key);
        let tat = shard
            .read()
            .find(hash, |(k, _, _)| k == key)
            .map_or(0, |(_, tat, _)| tat.load(Ordering::Acquire));
        let core = &self.shared.core;
        core.gcra.time_to_ready(tat, core.now())
    }

    /// Where the limit stands now for `key`: its turns left and how long until all are
    /// back. Takes no turn; a key not tracked has every turn.
    ///
    /// `None` for a limiter shared through a store, as
    /// [`RateLimiter::quota`](crate::RateLimiter::quota).
    #[must_use]
    pub fn quota(&self, key: &K) -> Option<Quota> {
        let core = &self.shared.core;
        if core.shared.is_some() {
            return None;
        }
        let (hash, shard) = self.locate(key);
        let tat = shard
            .read()
            .find(hash, |(k, _, _)| k == key)
            .map_or(0, |(_, tat, _)| tat.load(Ordering::Acquire));
        Some(core.gcra.quota(&core.config, tat, core.now()))
    }

    /// The hash of `key` and the shard that holds it.
    #[inline]
    fn locate(&self, key: &K) -> (u64, &RwLock<Table<K>>) {
        let shared = &*self.shared;
        let hash = shared.hasher.hash_one(key);
        (hash, &shared.shards[shard_of(hash, shared.shards.len())])
    }

    /// Admits a call for `key`, waiting for its turn up to `max_wait`.
    ///
    /// # Errors
    ///
    /// [`Rejection::RateLimited`] when its turn is further away than `max_wait`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits gives its turn back, unless a later call for
    /// the same key has reserved one since.
    pub async fn acquire_key(&self, key: &K) -> Result<(), Rejection> {
        wait_for(self.admit(key)).await
    }

    /// Runs `operation` once the rate for `key` allows; the turn is taken at the
    /// future's first poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_rate_limit::KeyedRateLimiter;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pumps = KeyedRateLimiter::builder("pumps")
    ///     .per(1, Duration::from_secs(3600))
    ///     .build_keyed::<u32>()?;
    /// let ml = pumps.call_key(7, || async { Ok::<_, std::io::Error>(250) }).await?;
    /// assert_eq!(ml, 250);
    /// let again = pumps.call_key(7, || async { Ok::<_, std::io::Error>(250) }).await;
    /// assert!(again.unwrap_err().is_rejected());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RateLimiter::call`](crate::RateLimiter::call).
    ///
    /// # Cancel safety
    ///
    /// As [`RateLimiter::call`](crate::RateLimiter::call).
    pub fn call_key<F, Fut, T, E>(&self, key: K, operation: F) -> CallFuture<ForKey<'_, K>, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallFuture::new(ForKey { limiter: self, key }, operation)
    }

    /// A tower layer limiting each wrapped service's calls per key, the key read from
    /// each request by `key` (a closure `Fn(&Req) -> K`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
    /// use hardy_rate_limit::KeyedRateLimiter;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), BoxError> {
    /// let per_plant = KeyedRateLimiter::builder("waterings")
    ///     .per(2, Duration::from_secs(3600))
    ///     .build_keyed::<String>()?;
    /// // Requests are (plant, millilitres).
    /// let mut pump = ServiceBuilder::new()
    ///     .layer(per_plant.layer(|(plant, _): &(String, u32)| plant.clone()))
    ///     .service_fn(|(_, ml): (String, u32)| async move { Ok::<_, BoxError>(ml) });
    /// assert_eq!(pump.ready().await?.call(("basil".into(), 100)).await?, 100);
    /// # Ok(())
    /// # }
    /// ```
    pub fn layer<X>(&self, key: X) -> RateLimitLayer<ByKey<K, X>> {
        RateLimitLayer::new(ByKey {
            limiter: self.clone(),
            key,
        })
    }

    /// Keys tracked now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.count.load(Ordering::Acquire)
    }

    /// Whether no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key that is idle now (its rate fully replenished): forgetting them
    /// changes no decision. Returns how many were forgotten.
    pub fn retain_recent(&self) -> usize {
        let _evicting = self.shared.evicting.write();
        self.sweep(self.shared.core.now())
    }

    /// Decides for a call for `key` that may wait up to `max_wait`.
    pub(crate) fn admit(&self, key: &K) -> Decision {
        if let Some(key_text) = self.shared.key_text {
            let here = key.clone();
            return self.shared.core.shared_admission(
                self.clone(),
                Some(key_text(key)),
                move |limiter: &Self| limiter.admit_here(&here),
            );
        }
        self.admit_here(key)
    }

    /// Decides for `key` in the process.
    fn admit_here(&self, key: &K) -> Decision {
        let core = &self.shared.core;
        let now = core.now();
        let (verdict, next, generation) = self.decide(key, core.gcra, now);
        core.admission(verdict, now, || {
            let limiter = self.clone();
            let key = key.clone();
            Box::new(move || limiter.refund(&key, next, generation))
        })
    }

    /// The verdict for `key` at `now`, recording an admitted (or waiting) call's turn.
    /// Returns the verdict and the key's state after it.
    #[inline]
    fn decide(&self, key: &K, gcra: Gcra, now: u64) -> (Verdict, u64, u64) {
        let (hash, shard) = self.locate(key);
        if let Some((_, tat, generation)) = shard.read().find(hash, |(k, _, _)| k == key) {
            let (verdict, next) = gcra.decide_atomic(tat, now);
            return (verdict, next, *generation);
        }
        self.decide_new(shard, hash, key, gcra, now)
    }

    /// [`decide`](Self::decide) for a key not tracked when looked up.
    #[cold]
    fn decide_new(
        &self,
        shard: &RwLock<Table<K>>,
        hash: u64,
        key: &K,
        gcra: Gcra,
        now: u64,
    ) -> (Verdict, u64, u64) {
        let shared = &*self.shared;
        loop {
            {
                let mut table = shard.write();
                // Another caller may have added it since.
                if let Some((_, tat, generation)) = table.find(hash, |(k, _, _)| k == key) {
                    let (verdict, next) = gcra.decide_atomic(tat, now);
                    return (verdict, next, *generation);
                }
                // A key not tracked is idle: a call for it is admitted unless the rate
                // is slower than one call (never the case for a valid config).
                let (verdict, next) = gcra.decide(0, now);
                let Some(next) = next else {
                    return (verdict, 0, 0);
                };
                let max = shared.core.config.max_keys;
                let place = shared
                    .count
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < max).then_some(n + 1)
                    });
                if place.is_ok() {
                    let hasher = &shared.hasher;
                    let generation = shared.generations.fetch_add(1, Ordering::Relaxed);
                    table.insert_unique(
                        hash,
                        (key.clone(), AtomicU64::new(next), generation),
                        |(k, _, _)| hasher.hash_one(k),
                    );
                    shared.next_idle.fetch_min(next, Ordering::AcqRel);
                    shared.keys.increment(1.0);
                    return (verdict, next, generation);
                }
            }
            // Full: make room with no table locked, then try again.
            self.make_room(now);
        }
    }

    /// Frees at least one place, unless another caller has freed one meanwhile: every
    /// idle key goes; if none is idle, the key closest to idle among a sample of one
    /// shard goes.
    #[cold]
    fn make_room(&self, now: u64) {
        let shared = &*self.shared;
        let mut cursor = shared.evicting.write();
        if shared.count.load(Ordering::Acquire) < shared.core.config.max_keys {
            return;
        }
        if now >= shared.next_idle.load(Ordering::Acquire) && self.sweep(now) > 0 {
            return;
        }
        for _ in 0..shared.shards.len() {
            *cursor = (*cursor + 1) % shared.shards.len();
            let mut table = shared.shards[*cursor].write();
            let closest = table
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|(_, tat, _)| tat.load(Ordering::Acquire))
                .map(|(k, _, _)| k.clone());
            let Some(closest) = closest else {
                continue;
            };
            let hash = shared.hasher.hash_one(&closest);
            if let Ok(entry) = table.find_entry(hash, |(k, _, _)| *k == closest) {
                entry.remove();
                shared.count.fetch_sub(1, Ordering::AcqRel);
                shared.keys.decrement(1.0);
                return;
            }
        }
    }

    /// Forgets every idle key; returns how many. Called with `evicting` held.
    fn sweep(&self, now: u64) -> usize {
        let shared = &*self.shared;
        // Keys added during the sweep lower it again as they come.
        shared.next_idle.store(u64::MAX, Ordering::Release);
        let mut earliest = u64::MAX;
        let mut forgotten = 0;
        for shard in &shared.shards {
            let mut table = shard.write();
            let before = table.len();
            table.retain(|(_, tat, _)| {
                let tat = tat.load(Ordering::Acquire);
                let idle = Gcra::is_idle(tat, now);
                if !idle {
                    earliest = earliest.min(tat);
                }
                !idle
            });
            forgotten += before - table.len();
        }
        // The earliest state kept is when the next key can be idle.
        shared.next_idle.fetch_min(earliest, Ordering::AcqRel);
        shared.count.fetch_sub(forgotten, Ordering::AcqRel);
        shared.keys.decrement(forgotten as f64);
        forgotten
    }

    /// Gives back the turn that left `key`'s state at `next`, if no later call for the
    /// key has reserved one since.
    fn refund(&self, key: &K, next: u64, generation: u64) {
        let shared = &*self.shared;
        let (hash, shard) = self.locate(key);
        let table = shard.read();
        if let Some((_, tat, entry)) = table.find(hash, |(k, _, _)| k == key)
            && *entry == generation
            && shared.core.gcra.refund_atomic(tat, next)
        {
            shared
                .next_idle
                .fetch_min(shared.core.gcra.before(next), Ordering::AcqRel);
        }
    }
}

/// The shard of a hash among `count`: bits the hash table itself uses little.
#[inline]
fn shard_of(hash: u64, count: usize) -> usize {
    // Multiply-shift maps 32 middle bits onto 0..count without a division.
    ((((hash >> 20) & 0xffff_ffff) * count as u64) >> 32) as usize
}

impl<K> OwnsCore for KeyedRateLimiter<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn core(&self) -> &Core {
        &self.shared.core
    }
}

impl<K> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.shared.core.name)
            .field("config", &self.shared.core.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_index() {
        for count in 1..=SHARDS {
            let mut seen = vec![false; count];
            for i in 0..100_000u64 {
                let hash = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let shard = shard_of(hash, count);
                assert!(shard < count);
                seen[shard] = true;
            }
            assert!(seen.iter().all(|s| *s), "{count} shards: {seen:?}");
        }
    }
}

/// Loom models: `RUSTFLAGS="--cfg hardy_loom" cargo test -p hardy-rate-limit --lib --release loom`.
#[cfg(all(test, hardy_loom))]
mod loom_models {
    use super::*;

    /// Two new keys racing for the last place: both are admitted, and the table never
    /// holds more than `max_keys`.
    #[test]
    fn loom_two_new_keys_one_place() {
        loom::model(|| {
            let config = RateLimitConfig {
                limit: 1,
                period: Duration::from_secs(3600),
                burst: Some(1),
                max_keys: 1,
                ..RateLimitConfig::default()
            };
            let limiter = KeyedRateLimiter::<u32>::from_parts(
                Name::from("k"),
                config,
                Listener::none(),
                None,
            );
            let threads: Vec<_> = (0..2u32)
                .map(|key| {
                    let limiter = limiter.clone();
                    loom::thread::spawn(move || limiter.check_key(&key).is_ok())
                })
                .collect();
            for thread in threads {
                assert!(thread.join().unwrap(), "a new key is admitted");
            }
            assert_eq!(limiter.len(), 1);
            let tracked: usize = limiter.shared.shards.iter().map(|s| s.read().len()).sum();
            assert_eq!(tracked, 1);
        });
    }
}

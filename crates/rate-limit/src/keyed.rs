//! [`KeyedRateLimiter`]: one rate per key, with bounded key state.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::time::Duration;

use hardy_core::{Listener, Name, Rejection};
use hashbrown::HashTable;
use metrics::Gauge;

use crate::future::CallFuture;
use crate::gcra::{Gcra, Verdict};
use crate::limiter::{Admission, Core, METRIC_KEYS};
use crate::sync::{Arc, AtomicU64, Ordering, RwLock};
use crate::{ByKey, ForKey, RateLimitBuilder, RateLimitConfig, RateLimitEvent, RateLimitLayer};

/// Key-state shards of a keyed limiter (fewer when `max_keys` is smaller), each behind
/// its own read-write lock: a known key is decided under the read lock with one
/// compare-and-swap on its own state, so callers of different keys rarely meet.
const SHARDS: usize = 32;

/// A rate limit per key (per client, per plant, per pump): each key gets the whole rate
/// of the config on its own.
///
/// Key state is bounded: at most `max_keys` keys are tracked, spread over up to 32
/// shards with a fixed share each. When a shard is full, its idle keys (fully
/// replenished, so forgetting them changes no decision) go first; if none is idle, the
/// key closest to idle goes, which can admit that key early if it comes back. Keys are
/// tracked only once admitted, so refused callers add no state. [`retain_recent`]
/// forgets every idle key on demand.
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
    hasher: RandomState,
    shards: Box<[RwLock<Shard<K>>]>,
    keys: Gauge,
}

struct Shard<K> {
    /// Each key with its state (the GCRA timestamp).
    table: HashTable<(K, AtomicU64)>,
    /// Keys this shard may hold.
    capacity: usize,
}

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
    ) -> Self {
        metrics::describe_gauge!(METRIC_KEYS, "Keys a keyed rate limiter tracks");
        let keys = metrics::gauge!(METRIC_KEYS, "name" => name.to_string());
        let count = config.max_keys.clamp(1, SHARDS);
        let (share, extra) = (config.max_keys / count, config.max_keys % count);
        let shards = (0..count)
            .map(|i| {
                RwLock::new(Shard {
                    table: HashTable::new(),
                    capacity: share + usize::from(i < extra),
                })
            })
            .collect();
        KeyedRateLimiter {
            shared: Arc::new(Keyed {
                core: Core::new(name, config, listener),
                hasher: RandomState::new(),
                shards,
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

    /// Admits a call for `key` now, or refuses it; never waits.
    ///
    /// # Errors
    ///
    /// [`Rejection::RateLimited`] with the time until a call for `key` would be admitted.
    #[inline]
    pub fn check_key(&self, key: &K) -> Result<(), Rejection> {
        let core = &self.shared.core;
        let now = core.now();
        let (verdict, _) = self.decide(key, core.gcra.without_wait(), now);
        core.checked(verdict)
    }

    /// How long until a call for `key` would be admitted at once: zero when one would
    /// be now. Takes no turn.
    #[must_use]
    pub fn time_to_ready(&self, key: &K) -> Duration {
        let shared = &*self.shared;
        let hash = shared.hasher.hash_one(key);
        let tat = shared.shards[shard_of(hash, shared.shards.len())]
            .read()
            .table
            .find(hash, |(k, _)| k == key)
            .map_or(0, |(_, tat)| tat.load(Ordering::Acquire));
        match shared
            .core
            .gcra
            .without_wait()
            .decide(tat, shared.core.now())
            .0
        {
            Verdict::Now => Duration::ZERO,
            Verdict::After(wait) | Verdict::Refused(wait) => wait,
        }
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
        match self.admit(key) {
            Admission::Now => Ok(()),
            Admission::After(wait) => {
                wait.await;
                Ok(())
            }
            Admission::Refused(rejection) => Err(rejection),
        }
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
    pub fn call_key<F, Fut, T, E>(&self, key: K, operation: F) -> CallFuture<ForKey<K>, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallFuture::new(
            ForKey {
                limiter: self.clone(),
                key,
            },
            operation,
        )
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
        self.shared
            .shards
            .iter()
            .map(|shard| shard.read().table.len())
            .sum()
    }

    /// Whether no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key that is idle now (its rate fully replenished): forgetting them
    /// changes no decision. Returns how many were forgotten.
    pub fn retain_recent(&self) -> usize {
        let now = self.shared.core.now();
        let forgotten = self
            .shared
            .shards
            .iter()
            .map(|shard| {
                let mut shard = shard.write();
                let before = shard.table.len();
                shard
                    .table
                    .retain(|(_, tat)| !Gcra::is_idle(tat.load(Ordering::Acquire), now));
                before - shard.table.len()
            })
            .sum();
        self.shared.keys.decrement(forgotten as f64);
        forgotten
    }

    /// Decides for a call for `key` that may wait up to `max_wait`.
    pub(crate) fn admit(&self, key: &K) -> Admission {
        let core = &self.shared.core;
        let now = core.now();
        let (verdict, next) = self.decide(key, core.gcra, now);
        core.admission(verdict, now, || {
            let limiter = self.clone();
            let key = key.clone();
            Box::new(move || limiter.refund(&key, next))
        })
    }

    /// The verdict for `key` at `now`, recording an admitted (or waiting) call's turn.
    /// Returns the verdict and the key's state after it.
    #[inline]
    fn decide(&self, key: &K, gcra: Gcra, now: u64) -> (Verdict, u64) {
        let shared = &*self.shared;
        let hash = shared.hasher.hash_one(key);
        let shard = &shared.shards[shard_of(hash, shared.shards.len())];
        if let Some((_, tat)) = shard.read().table.find(hash, |(k, _)| k == key) {
            return gcra.decide_atomic(tat, now);
        }
        self.decide_new(shard, hash, key, gcra, now)
    }

    /// [`decide`](Self::decide) for a key not tracked when looked up.
    #[cold]
    fn decide_new(
        &self,
        shard: &RwLock<Shard<K>>,
        hash: u64,
        key: &K,
        gcra: Gcra,
        now: u64,
    ) -> (Verdict, u64) {
        let shared = &*self.shared;
        let mut shard = shard.write();
        // Another caller may have added it since.
        if let Some((_, tat)) = shard.table.find(hash, |(k, _)| k == key) {
            return gcra.decide_atomic(tat, now);
        }
        // A key not tracked is idle: a call for it is admitted unless the rate is
        // slower than one call (never the case for a valid config).
        let (verdict, next) = gcra.decide(0, now);
        let Some(next) = next else {
            return (verdict, 0);
        };
        if shard.table.len() >= shard.capacity {
            self.make_room(&mut shard, now);
        }
        let hasher = &shared.hasher;
        shard
            .table
            .insert_unique(hash, (key.clone(), AtomicU64::new(next)), |(k, _)| {
                hasher.hash_one(k)
            });
        shared.keys.increment(1.0);
        (verdict, next)
    }

    /// Frees a place in a full shard: idle keys first, else the key closest to idle.
    #[cold]
    fn make_room(&self, shard: &mut Shard<K>, now: u64) {
        let before = shard.table.len();
        shard
            .table
            .retain(|(_, tat)| !Gcra::is_idle(tat.load(Ordering::Acquire), now));
        if shard.table.len() == before {
            let oldest = shard
                .table
                .iter()
                .map(|(_, tat)| tat.load(Ordering::Acquire))
                .min()
                .unwrap_or(0);
            let mut once = true;
            shard.table.retain(|(_, tat)| {
                let keep = !(once && tat.load(Ordering::Acquire) == oldest);
                once &= keep;
                keep
            });
        }
        self.shared
            .keys
            .decrement((before - shard.table.len()) as f64);
    }

    /// Gives back the turn that left `key`'s state at `next`, if no later call for the
    /// key has reserved one since.
    fn refund(&self, key: &K, next: u64) {
        let shared = &*self.shared;
        let hash = shared.hasher.hash_one(key);
        let shard = shared.shards[shard_of(hash, shared.shards.len())].read();
        if let Some((_, tat)) = shard.table.find(hash, |(k, _)| k == key) {
            shared.core.gcra.refund_atomic(tat, next);
        }
    }
}

/// The shard of a hash among `count`: bits the hash table itself uses little.
#[inline]
fn shard_of(hash: u64, count: usize) -> usize {
    // Multiply-shift maps 32 middle bits onto 0..count without a division.
    ((((hash >> 20) & 0xffff_ffff) * count as u64) >> 32) as usize
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

//! [`LastKnownGood`]: serve the latest good response for a key when a call fails, and
//! answer from it while it is fresh.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use hardy_core::{Classify, ConfigError, DefaultClassifier, Listener, Name, Outcome};
use metrics::Counter;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::Cause;
use crate::last_good_service::{LastGoodCall, LastGoodLayer};
use crate::level::{Level, Settled};
use crate::state::{ByCause, cause_of};
use crate::{FallbackEvent, LastKnownGoodConfig};

/// `hardy_fallback_cache_total{name, result}`: calls answered from a fresh response
/// (`hit`) or not (`miss`), for a store with a TTL.
pub const METRIC_CACHE: &str = "hardy_fallback_cache_total";
/// `hardy_fallback_stale_total{name, cause, result}`: failed calls answered with the
/// last good response (`served`) or left failed for want of one young enough (`none`).
pub const METRIC_STALE: &str = "hardy_fallback_stale_total";

type Mark<T> = Box<dyn Fn(T, Duration) -> T + Send + Sync>;

struct Shared<K, T> {
    name: Name,
    config: LastKnownGoodConfig,
    entries: Mutex<HashMap<K, (T, Instant)>>,
    mark: Mark<T>,
    listener: Listener<FallbackEvent>,
    hits: Counter,
    misses: Counter,
    served: ByCause,
    none: ByCause,
    /// The level behind memory a fleet shares, if any.
    level: Option<Level<K, T>>,
}

/// The latest good response per key, served in place of a failed call while it is
/// younger than `max_staleness`, and — with a `ttl` — answering new calls without
/// calling while it is younger than that.
///
/// A stale response can be marked as such by `mark_stale(|value, age| …)`: the design
/// notes' controller serves the last good reading with a lowered quality score. Keys
/// are bounded by `max_keys`; when full, the oldest response goes.
///
/// `LastKnownGood` is cheap to clone; clones share the responses.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_fallback::LastKnownGood;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Reading { moisture: f64, quality: f64 }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let last_good = LastKnownGood::builder("soil")
///     .max_staleness(Duration::from_secs(30 * 60))
///     .mark_stale(|reading: Reading, _age| Reading { quality: reading.quality * 0.5, ..reading })
///     .build::<u32>()?;
/// let fresh = Reading { moisture: 0.41, quality: 1.0 };
/// let read = last_good.call(7, || async { Ok::<_, std::io::Error>(fresh.clone()) }).await?;
/// assert_eq!(read, fresh);
/// tokio::time::advance(Duration::from_secs(60)).await;
/// let failed = last_good.call(7, || async { Err::<Reading, _>(std::io::Error::other("no ack")) });
/// assert_eq!(failed.await?, Reading { moisture: 0.41, quality: 0.5 });
/// # Ok(())
/// # }
/// ```
pub struct LastKnownGood<K, T> {
    shared: Arc<Shared<K, T>>,
}

impl<K, T> Clone for LastKnownGood<K, T> {
    fn clone(&self) -> Self {
        LastKnownGood {
            shared: self.shared.clone(),
        }
    }
}

impl<K, T> LastKnownGood<K, T> {
    /// The store's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }
}

impl<K, T> fmt::Debug for LastKnownGood<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastKnownGood")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`LastKnownGood`] store; made by [`LastKnownGood::builder`].
#[must_use = "a builder does nothing until built"]
pub struct LastKnownGoodBuilder {
    name: Name,
    config: LastKnownGoodConfig,
    listener: Listener<FallbackEvent>,
}

impl fmt::Debug for LastKnownGoodBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastKnownGoodBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A [`LastKnownGoodBuilder`] with a way to mark stale responses.
#[must_use = "a builder does nothing until built"]
pub struct MarkingBuilder<T> {
    builder: LastKnownGoodBuilder,
    mark: Mark<T>,
}

impl<T> fmt::Debug for MarkingBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.builder.fmt(f)
    }
}

impl LastKnownGoodBuilder {
    /// The oldest response served for a failed call. Default: 10 minutes.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.config.max_staleness = max_staleness;
        self
    }

    /// How long a response answers new calls without calling. Default: 0 (never).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    /// Keys remembered at most. Default: 10,000.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.config.max_keys = max_keys;
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: LastKnownGoodConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `listener` with every [`FallbackEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&FallbackEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Serves a stale response as `mark(response, age)` returns it: lower its quality,
    /// flag it. Default: as it was stored.
    pub fn mark_stale<T, F>(self, mark: F) -> MarkingBuilder<T>
    where
        F: Fn(T, Duration) -> T + Send + Sync + 'static,
    {
        MarkingBuilder {
            builder: self,
            mark: Box::new(mark),
        }
    }

    /// Validates the settings and builds a store of `T` responses by `K` keys.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build<K, T>(self) -> Result<LastKnownGood<K, T>, ConfigError>
    where
        T: 'static,
    {
        self.mark_stale(|value: T, _| value).build()
    }

    /// Validates the settings and builds a store with a level a fleet shares behind its
    /// memory; see [`MarkingBuilder::build_shared`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    #[cfg(feature = "shared")]
    pub fn build_shared<K, T>(
        self,
        level: Arc<dyn crate::SharedLevel>,
    ) -> Result<LastKnownGood<K, T>, ConfigError>
    where
        K: fmt::Display,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        self.mark_stale(|value: T, _| value).build_shared(level)
    }
}

impl<T> MarkingBuilder<T> {
    /// Validates the settings and builds the store.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn build<K>(self) -> Result<LastKnownGood<K, T>, ConfigError> {
        self.build_with(|_, _| None)
    }

    /// Validates the settings and builds a store with a level behind its memory that a
    /// fleet shares (Redis, with `hardy-redis`): every good response is saved there
    /// too (as JSON, in the background), and a failed call that memory cannot answer
    /// is answered from there when a response young enough is found. Keys are named by
    /// their text (`Display`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    #[cfg(feature = "shared")]
    pub fn build_shared<K>(
        self,
        level: Arc<dyn crate::SharedLevel>,
    ) -> Result<LastKnownGood<K, T>, ConfigError>
    where
        K: fmt::Display,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        self.build_with(|name, config| {
            let keep = config.max_staleness.max(config.ttl);
            Some(Level::new(level, name.clone(), keep))
        })
    }

    fn build_with<K>(
        self,
        level: impl FnOnce(&Name, &LastKnownGoodConfig) -> Option<Level<K, T>>,
    ) -> Result<LastKnownGood<K, T>, ConfigError> {
        let MarkingBuilder { builder, mark } = self;
        builder.config.validate(&builder.name)?;
        let level = level(&builder.name, &builder.config);
        metrics::describe_counter!(
            METRIC_CACHE,
            metrics::Unit::Count,
            "Calls answered from a fresh response, or not"
        );
        metrics::describe_counter!(
            METRIC_STALE,
            metrics::Unit::Count,
            "Failed calls answered with the last good response, or not"
        );
        let name = builder.name;
        let cache = |result: &'static str| metrics::counter!(METRIC_CACHE, "name" => name.to_string(), "result" => result);
        Ok(LastKnownGood {
            shared: Arc::new(Shared {
                hits: cache("hit"),
                misses: cache("miss"),
                served: ByCause::register(METRIC_STALE, &name, &[("result", "served")]),
                none: ByCause::register(METRIC_STALE, &name, &[("result", "none")]),
                name,
                config: builder.config,
                entries: Mutex::new(HashMap::new()),
                mark,
                listener: builder.listener,
                level,
            }),
        })
    }
}

impl LastKnownGood<(), ()> {
    /// Starts building a store named `name`; the name labels its metrics and events.
    pub fn builder(name: impl Into<Name>) -> LastKnownGoodBuilder {
        LastKnownGoodBuilder {
            name: name.into(),
            config: LastKnownGoodConfig::default(),
            listener: Listener::none(),
        }
    }
}

impl<K, T> LastKnownGood<K, T>
where
    K: Hash + Eq + Clone,
    T: Clone,
{
    /// The store's settings.
    #[must_use]
    pub fn config(&self) -> &LastKnownGoodConfig {
        &self.shared.config
    }

    /// The latest good response for `key` and its age, however old.
    #[must_use]
    pub fn get(&self, key: &K) -> Option<(T, Duration)> {
        let entries = self.shared.entries.lock();
        entries
            .get(key)
            .map(|(value, at)| (value.clone(), at.elapsed()))
    }

    /// Remembers `value` as the latest good response for `key`, as of now (and saves
    /// it to the shared level, if the store has one).
    pub fn put(&self, key: K, value: T) {
        self.save_shared(&key, &value);
        self.put_at(key, value, Instant::now());
    }

    /// Forgets the response for `key` (in the shared level too, if the store has one:
    /// in the background).
    pub fn invalidate(&self, key: &K) {
        self.shared.entries.lock().remove(key);
        if let Some(level) = &self.shared.level {
            (level.forget)(Some(key));
        }
    }

    /// Forgets every response (in the shared level too, if the store has one: in the
    /// background).
    pub fn clear(&self) {
        self.shared.entries.lock().clear();
        if let Some(level) = &self.shared.level {
            (level.forget)(None);
        }
    }

    /// Whether the store has a level a fleet shares behind its memory.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.shared.level.is_some()
    }

    fn save_shared(&self, key: &K, value: &T) {
        if let Some(level) = &self.shared.level {
            (level.save)(key, value);
        }
    }

    /// Remembers `value` for `key` as of `at` (when its call started), unless the store
    /// holds a response for the key from a call that started later: a slow call never
    /// overwrites a newer answer.
    fn put_at(&self, key: K, value: T, at: Instant) {
        let mut entries = self.shared.entries.lock();
        if entries.get(&key).is_some_and(|(_, stored)| *stored > at) {
            return;
        }
        if !entries.contains_key(&key)
            && entries.len() >= self.shared.config.max_keys
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(key, _)| key.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key, (value, at));
    }

    /// Keys remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.entries.lock().len()
    }

    /// Whether no key is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its running totals since it was built: calls answered with a stored value and
    /// calls that found none fresh enough, by cause, and the values stored now, without
    /// a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> crate::LastKnownGoodStats {
        let shared = &*self.shared;
        crate::LastKnownGoodStats {
            name: shared.name.clone(),
            served_stale: shared.served.counts(),
            none_fresh: shared.none.counts(),
            entries: self.len(),
        }
    }

    /// Runs `operation` for `key` (unless a response younger than the TTL answers),
    /// remembering a good result and answering a failed one with the last good
    /// response while it is younger than `max_staleness`; the default classifier
    /// decides what is good and what failed.
    ///
    /// # Errors
    ///
    /// `Err(Error::Inner(e))` when the operation failed and no response is young
    /// enough.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the operation; nothing is remembered.
    pub fn call<F, Fut, E>(
        &self,
        key: K,
        operation: F,
    ) -> LastGoodCall<K, T, Fut, DefaultClassifier>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        DefaultClassifier: Classify<T, E>,
    {
        self.call_with(key, DefaultClassifier, operation)
    }

    /// [`call`](Self::call) with `classifier` deciding what is good and what failed
    /// (for instance, a reading of too low a quality failed).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub fn call_with<C, F, Fut, E>(
        &self,
        key: K,
        classifier: C,
        operation: F,
    ) -> LastGoodCall<K, T, Fut, C>
    where
        C: Classify<T, E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let fresh = self.fresh(&key);
        LastGoodCall::new(self.clone(), classifier, fresh, key, operation)
    }

    /// A tower layer remembering each wrapped service's good responses by the key
    /// `key` reads from the request, and answering failed calls with them.
    pub fn layer<X>(&self, key: X) -> LastGoodLayer<K, T, X, DefaultClassifier> {
        self.layer_with(key, DefaultClassifier)
    }

    /// [`layer`](Self::layer) with `classifier` deciding what is good and what failed.
    pub fn layer_with<X, C>(&self, key: X, classifier: C) -> LastGoodLayer<K, T, X, C> {
        LastGoodLayer::new(self.clone(), key, classifier)
    }

    /// A response for `key` young enough to answer without calling, if the store has a
    /// TTL; counts the hit or the miss.
    pub(crate) fn fresh(&self, key: &K) -> Option<T> {
        let ttl = self.shared.config.ttl;
        if ttl.is_zero() {
            return None;
        }
        let hit = self
            .shared
            .entries
            .lock()
            .get(key)
            .filter(|(_, at)| at.elapsed() < ttl)
            .map(|(value, _)| value.clone());
        if hit.is_some() {
            self.shared.hits.increment(1);
        } else {
            self.shared.misses.increment(1);
        }
        hit
    }

    /// The answer to a result for `key`: remembered if good, replaced by the last
    /// good response if failed and one in memory is young enough. `Err` when it failed
    /// and memory has nothing young enough but the shared level may: the result, and
    /// the lookup to finish with [`recalled`](Self::recalled).
    pub(crate) fn settle<E>(
        &self,
        key: K,
        started: Instant,
        result: Result<T, E>,
        outcome: Outcome,
    ) -> Settled<T, E> {
        let shared = &*self.shared;
        let Some(cause) = cause_of(outcome, result.is_err()) else {
            if let (Outcome::Success, Ok(value)) = (outcome, &result) {
                self.save_shared(&key, value);
                self.put_at(key, value.clone(), started);
            }
            return Ok(result);
        };
        match self.get(&key) {
            Some((value, age)) if age <= shared.config.max_staleness => {
                Ok(Ok(self.serve(value, age, cause)))
            }
            last => match &shared.level {
                Some(level) => Err((result, cause, (level.recall)(&key))),
                None => Ok(self.none_fresh(result, cause, last.map(|(_, age)| age))),
            },
        }
    }

    /// The answer to a failed call once the shared level was looked up: `found` if it
    /// is young enough (remembered in memory too), else the failure.
    pub(crate) fn recalled<E>(
        &self,
        key: K,
        result: Result<T, E>,
        cause: Cause,
        found: Option<(T, Duration)>,
    ) -> Result<T, E> {
        match found {
            Some((value, age)) if age <= self.shared.config.max_staleness => {
                let now = Instant::now();
                self.put_at(key, value.clone(), now.checked_sub(age).unwrap_or(now));
                Ok(self.serve(value, age, cause))
            }
            found => self.none_fresh(result, cause, found.map(|(_, age)| age)),
        }
    }

    fn serve(&self, value: T, age: Duration, cause: Cause) -> T {
        let shared = &*self.shared;
        shared.served.add(cause);
        shared.listener.emit_with(|| FallbackEvent::ServedStale {
            name: shared.name.clone(),
            cause,
            age,
        });
        (shared.mark)(value, age)
    }

    fn none_fresh<E>(
        &self,
        result: Result<T, E>,
        cause: Cause,
        age: Option<Duration>,
    ) -> Result<T, E> {
        let shared = &*self.shared;
        shared.none.add(cause);
        shared.listener.emit_with(|| FallbackEvent::NoneFresh {
            name: shared.name.clone(),
            cause,
            age,
        });
        result
    }
}

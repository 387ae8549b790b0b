//! [`SharedLevel`]: a level behind a [`LastKnownGood`](crate::LastKnownGood) store's
//! memory that a fleet shares, so that an instance can answer a failed call with what
//! another instance last saw.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use hardy_core::Name;

/// A level behind a last-known-good store's memory that every instance reaches (Redis,
/// with `hardy-redis`): good responses as bytes, with their age on the level's own
/// clock.
///
/// A store built on one ([`LastKnownGoodBuilder::build_shared`]) saves every good
/// response to it (in the background: no caller waits for it), and, when a call fails
/// and memory holds nothing young enough, looks there before giving up. Answers that
/// are fresh enough to skip the call (the TTL) come from memory only.
///
/// [`LastKnownGoodBuilder::build_shared`]: crate::LastKnownGoodBuilder::build_shared
pub trait SharedLevel: fmt::Debug + Send + Sync + 'static {
    /// The response saved for `key` of the store `store`, with its age; `None` when
    /// there is none. Bounded in time: a failed call waits for it.
    fn load(&self, store: &Name, key: &str) -> LevelFuture<Option<Stored>>;

    /// Saves `value` as the response for `key`, kept for at least `keep`.
    fn save(&self, store: &Name, key: &str, value: Vec<u8>, keep: Duration) -> LevelFuture<()>;

    /// Forgets the response for `key`, or, with `None`, every response of the store.
    fn forget(&self, store: &Name, key: Option<&str>) -> LevelFuture<()>;
}

/// The future of a [`SharedLevel`] operation.
pub type LevelFuture<T> = Pin<Box<dyn Future<Output = Result<T, LevelError>> + Send>>;

/// A response found in a [`SharedLevel`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The response, as it was saved.
    pub value: Vec<u8>,
    /// How long ago it was saved.
    pub age: Duration,
}

/// Why a shared level could not answer.
#[derive(Debug)]
pub struct LevelError {
    source: Box<dyn StdError + Send + Sync>,
}

impl LevelError {
    /// A level error caused by `source`.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        LevelError {
            source: source.into(),
        }
    }
}

impl fmt::Display for LevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the shared last-known-good level failed: {}",
            self.source
        )
    }
}

impl StdError for LevelError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// A lookup of the shared level for a failed call: the response and its age, if one
/// was found and could be read.
pub(crate) type Recall<T> = Pin<Box<dyn Future<Output = Option<(T, Duration)>> + Send>>;

/// A store's link to its shared level, made where the key and value types are known to
/// be printable and serializable.
pub(crate) struct Level<K, T> {
    pub(crate) recall: RecallFn<K, T>,
    pub(crate) save: SaveFn<K, T>,
    pub(crate) forget: ForgetFn<K>,
}

/// Starts the lookup of a key.
pub(crate) type RecallFn<K, T> = Box<dyn Fn(&K) -> Recall<T> + Send + Sync>;
/// Saves a key's response, in the background.
pub(crate) type SaveFn<K, T> = Box<dyn Fn(&K, &T) + Send + Sync>;
/// Forgets a key's response, or every response, in the background.
pub(crate) type ForgetFn<K> = Box<dyn Fn(Option<&K>) + Send + Sync>;

/// A failed call's answer from memory (`Ok`), or the failure with what the shared
/// level is asked to finish it: the result, its cause, and the lookup.
pub(crate) type Settled<T, E> = Result<Result<T, E>, (Result<T, E>, crate::Cause, Recall<T>)>;

/// Runs `work` in the background on the current Tokio runtime, if there is one: a
/// level's writes never hold a caller up.
#[cfg(feature = "shared")]
fn spawn(work: LevelFuture<()>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            // A failed write loses one saved response; the next good one is saved.
            let _ = work.await;
        });
    }
}

#[cfg(feature = "shared")]
impl<K, T> Level<K, T>
where
    K: fmt::Display,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    /// The link of the store `name` to `level`, responses kept `keep` there, as JSON.
    pub(crate) fn new(level: std::sync::Arc<dyn SharedLevel>, name: Name, keep: Duration) -> Self {
        let (loading, saving, forgetting) = (level.clone(), level.clone(), level);
        let (load_name, save_name, forget_name) = (name.clone(), name.clone(), name);
        Level {
            recall: Box::new(move |key: &K| {
                let load = loading.load(&load_name, &key.to_string());
                Box::pin(async move {
                    let stored = load.await.ok()??;
                    let value = serde_json::from_slice(&stored.value).ok()?;
                    Some((value, stored.age))
                })
            }),
            save: Box::new(move |key: &K, value: &T| {
                if let Ok(bytes) = serde_json::to_vec(value) {
                    spawn(saving.save(&save_name, &key.to_string(), bytes, keep));
                }
            }),
            forget: Box::new(move |key: Option<&K>| {
                let key = key.map(ToString::to_string);
                spawn(forgetting.forget(&forget_name, key.as_deref()));
            }),
        }
    }
}

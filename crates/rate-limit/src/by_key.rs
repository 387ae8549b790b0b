//! [`ByKey`] and [`ForKey`]: a keyed limiter as a [`Limit`], with the key read from
//! each request or fixed.

use std::fmt;
use std::hash::Hash;

use hardy_core::admission::Admission;

use crate::KeyedRateLimiter;
use crate::limit::{Decision, Limit, sealed};

/// A keyed limiter with the function that reads each request's key; made by
/// [`KeyedRateLimiter::layer`].
#[derive(Clone)]
pub struct ByKey<K, X> {
    pub(crate) limiter: KeyedRateLimiter<K>,
    pub(crate) key: X,
}

impl<K, X> ByKey<K, X> {
    /// The keyed limiter.
    pub fn limiter(&self) -> &KeyedRateLimiter<K> {
        &self.limiter
    }
}

impl<K, X> fmt::Debug for ByKey<K, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByKey")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// A borrowed keyed limiter with one key, for a direct call; made by
/// [`KeyedRateLimiter::call_key`].
#[derive(Clone)]
pub struct ForKey<'a, K> {
    pub(crate) limiter: &'a KeyedRateLimiter<K>,
    pub(crate) key: K,
}

impl<K> ForKey<'_, K> {
    /// The keyed limiter.
    pub fn limiter(&self) -> &KeyedRateLimiter<K> {
        self.limiter
    }

    /// The key.
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K: fmt::Debug> fmt::Debug for ForKey<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForKey")
            .field("limiter", &self.limiter)
            .field("key", &self.key)
            .finish()
    }
}

/// A keyed limit's admission as a [`Limit`]'s: admitted now, or the whole admission.
#[inline]
fn now_or_later(decision: Decision) -> Result<(), Decision> {
    match decision {
        Admission::Now(()) => Ok(()),
        later => Err(later),
    }
}

impl<Req, K, X> Limit<Req> for ByKey<K, X>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    X: Fn(&Req) -> K,
{
    type Later = Decision;

    #[inline]
    fn admit_request(&self, request: &Req) -> Result<(), Decision> {
        now_or_later(self.limiter.admit(&(self.key)(request)))
    }

    fn admit_later(&self, later: Decision) -> Decision {
        later
    }
}

impl<Req, K> Limit<Req> for ForKey<'_, K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Later = Decision;

    #[inline]
    fn admit_request(&self, _: &Req) -> Result<(), Decision> {
        now_or_later(self.limiter.admit(&self.key))
    }

    fn admit_later(&self, later: Decision) -> Decision {
        later
    }
}

impl<K, X> sealed::Sealed for ByKey<K, X> {}
impl<K> sealed::Sealed for ForKey<'_, K> {}

//! [`Limit`]: what decides whether a request may go, and the keyed forms.

use std::fmt;
use std::hash::Hash;

use crate::limiter::Admission;
use crate::{KeyedRateLimiter, RateLimiter};

/// What decides whether a request may go: a [`RateLimiter`] (every request shares one
/// rate), a [`ByKey`] (the rate of the request's key) or a [`ForKey`] (the rate of one
/// fixed key). Sealed.
pub trait Limit<Req>: sealed::Sealed {
    #[doc(hidden)]
    fn admit_request(&self, request: &Req) -> Admitted;
}

/// The decision a [`Limit`] makes; opaque.
#[doc(hidden)]
#[derive(Debug)]
pub struct Admitted(pub(crate) Admission);

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

impl<Req> Limit<Req> for RateLimiter {
    // Always inlined: out of line, the admission (an enum as large as a rejection) is
    // returned through memory and copied piece by piece on every call.
    #[inline(always)]
    fn admit_request(&self, _: &Req) -> Admitted {
        Admitted(self.admit())
    }
}

impl<Req, K, X> Limit<Req> for ByKey<K, X>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    X: Fn(&Req) -> K,
{
    #[inline]
    fn admit_request(&self, request: &Req) -> Admitted {
        Admitted(self.limiter.admit(&(self.key)(request)))
    }
}

/// A borrowed limit (a direct call's) decides as the limit does.
impl<Req, L: Limit<Req>> Limit<Req> for &L {
    #[inline(always)]
    fn admit_request(&self, request: &Req) -> Admitted {
        (**self).admit_request(request)
    }
}

impl<Req, K> Limit<Req> for ForKey<'_, K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    #[inline]
    fn admit_request(&self, _: &Req) -> Admitted {
        Admitted(self.limiter.admit(&self.key))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::RateLimiter {}
    impl<K, X> Sealed for crate::ByKey<K, X> {}
    impl<L: Sealed> Sealed for &L {}
    impl<K> Sealed for crate::ForKey<'_, K> {}
}

//! [`Limit`]: what decides whether a request may go, and the keyed forms.

use std::fmt;
use std::hash::Hash;

use hardy_core::admission::Admission;

use crate::limiter::{Decision, Undecided};
use crate::{KeyedRateLimiter, RateLimiter};

/// What decides whether a request may go: a [`RateLimiter`] (every request shares one
/// rate), a [`ByKey`] (the rate of the request's key) or a [`ForKey`] (the rate of one
/// fixed key). Sealed.
pub trait Limit<Req>: sealed::Sealed {
    /// What the limit decided for a request it did not admit at once; opaque.
    #[doc(hidden)]
    type Later;

    /// Admits the request now (`Ok`), or returns what its wait or refusal is made of.
    /// The admitted path returns nothing through memory, so a call admitted at once
    /// copies no admission.
    #[doc(hidden)]
    fn admit_request(&self, request: &Req) -> Result<(), Self::Later>;

    /// The turn or the refusal of a request not admitted at once.
    #[doc(hidden)]
    fn admit_later(&self, later: Self::Later) -> Admission<(), crate::hooks::Turn>;
}

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
    type Later = Undecided;

    // Always inlined: the verdict stays in registers and only a call that is not
    // admitted at once makes an admission (an enum as large as a rejection), out of line.
    #[inline(always)]
    fn admit_request(&self, _: &Req) -> Result<(), Undecided> {
        self.decide()
    }

    #[inline(always)]
    fn admit_later(&self, later: Undecided) -> Decision {
        self.admission_later(later)
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

/// A borrowed limit (a direct call's) decides as the limit does.
impl<Req, L: Limit<Req>> Limit<Req> for &L {
    type Later = L::Later;

    #[inline(always)]
    fn admit_request(&self, request: &Req) -> Result<(), L::Later> {
        (**self).admit_request(request)
    }

    fn admit_later(&self, later: L::Later) -> Decision {
        (**self).admit_later(later)
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

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::RateLimiter {}
    impl<K, X> Sealed for crate::ByKey<K, X> {}
    impl<L: Sealed> Sealed for &L {}
    impl<K> Sealed for crate::ForKey<'_, K> {}
}

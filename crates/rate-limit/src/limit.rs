//! [`Limit`]: what decides whether a request may go.

use hardy_core::Rejection;
use hardy_core::admission::Admission;

use crate::wait::Turn;

/// What decides whether a request may go: a [`RateLimiter`](crate::RateLimiter) (every
/// request shares one rate), a [`ByKey`](crate::ByKey) (the rate of the request's key)
/// or a [`ForKey`](crate::ForKey) (the rate of one fixed key). Sealed.
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
    fn admit_later(&self, later: Self::Later) -> Decision;
}

/// What a limit says about a call: admitted now, after its turn comes, or refused.
pub(crate) type Decision = Admission<(), Turn>;

/// Waits for the call's turn, if it has one.
pub(crate) async fn wait_for(decision: Decision) -> Result<(), Rejection> {
    match decision {
        Admission::Now(()) => Ok(()),
        Admission::Later(turn) => turn.await,
        Admission::Refused(rejection) => Err(rejection),
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

pub(crate) mod sealed {
    /// Only this crate's limits are limits.
    pub trait Sealed {}
    impl<L: Sealed> Sealed for &L {}
}

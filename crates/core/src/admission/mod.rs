//! The admission model the bulkhead, the rate limit and the load shedder share: a call
//! is admitted [now](Admission::Now), [later](Admission::Later) (after a wait it may
//! give up) or [refused](Admission::Refused) with a [`Rejection`](crate::Rejection).
//!
//! This module is the machinery those crates are built on, not a promised API: the
//! pattern crates' handles are what users call.
//!
//! - [`Gate`]: calls in flight against a threshold per priority level, and the queue of
//!   [`Waiter`]s a freed slot is handed to (the bulkhead's slots, the load shedder's
//!   limit).
//! - [`Wait`]: a call's wait for admission, which leaves the queue (or gives its turn
//!   back) when dropped.
//! - [`ResponseFuture`]: the tower response future of an admission layer: wait if
//!   told to, then call the inner service, holding what the admission granted until
//!   the call ends.

mod future;
mod gate;

pub use future::{Hold, ResponseFuture, Wait};
pub use gate::{Enqueued, Gate, Waiter};

/// What an admission decided for one call.
#[derive(Debug)]
pub enum Admission<P, W> {
    /// Admitted now, holding `P` (a permit, or nothing) while the call runs.
    Now(P),
    /// Admitted once the wait `W` ends; dropping it gives the place up.
    Later(W),
    /// Refused.
    Refused(crate::Rejection),
}

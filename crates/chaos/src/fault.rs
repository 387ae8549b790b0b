//! [`Fault`]: what one draw of a [`Chaos`](crate::Chaos) injects into a call.

use std::time::Duration;

/// What a call drew: its outcome and whether it is delayed first.
///
/// Made by [`Chaos::next_fault`](crate::Chaos::next_fault); the layer and direct calls act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault {
    /// What happens to the call.
    pub outcome: FaultOutcome,
    /// A delay before the call goes on, if one was drawn.
    pub delay: Option<Duration>,
}

impl Fault {
    /// No fault: the call goes through untouched.
    pub const NONE: Fault = Fault {
        outcome: FaultOutcome::Pass,
        delay: None,
    };

    /// Whether the call goes through untouched.
    #[must_use]
    pub fn is_none(&self) -> bool {
        *self == Fault::NONE
    }
}

/// What happens to a call, as drawn by [`Chaos::next_fault`](crate::Chaos::next_fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultOutcome {
    /// The real call, with its real answer.
    Pass,
    /// An error from the error maker, without calling the inner service.
    Error,
    /// The configured rejection, without calling the inner service.
    Rejection,
    /// The real call, its `Ok` response passed through the corrupter.
    Corrupt,
}

//! Hooks for `hardy::Pipeline`, which decides each attempt against its rate limit
//! without the rate limit's own future. Not for direct use: call through the limiter or
//! its layer.

pub use crate::limiter::Undecided;
pub use crate::wait::Turn;

//! Hooks for `hardy::Pipeline`, which times each attempt without the timeout's own
//! future. Not for direct use: wrap a future with the timeout, or use its layer.

pub use crate::countdown::Countdown;

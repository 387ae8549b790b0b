//! Hooks for `hardy::Pipeline`, which retries with the retry's own loop ([`Retrying`])
//! and makes each attempt through its other patterns ([`Attempts`]). Not for direct
//! use: call through the retry or its layer.

pub use crate::retrying::{Attempts, Retrying};
pub use crate::tries::{Next, Tries};

//! Synchronisation primitives: the standard ones, or loom's when the crate is built for
//! model checking (`RUSTFLAGS="--cfg hardy_loom"`).

#[cfg(hardy_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(hardy_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(hardy_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(hardy_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub(crate) use hardy_core::sync::Mutex;

//! Synchronisation primitives: the standard ones, or loom's when the crate is built for
//! model checking (`RUSTFLAGS="--cfg hardy_loom"`).

pub(crate) use hardy_core::sync::{Arc, AtomicU64, Mutex, Ordering};

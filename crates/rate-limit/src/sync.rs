//! Synchronisation primitives: the standard ones, or loom's when the crate is built for
//! model checking (`RUSTFLAGS="--cfg hardy_loom"`).

#[cfg(hardy_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(hardy_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(hardy_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(hardy_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A read-write lock whose `read` and `write` never fail: `parking_lot`'s, or loom's
/// under model checking.
#[derive(Debug)]
pub(crate) struct RwLock<T> {
    #[cfg(not(hardy_loom))]
    inner: parking_lot::RwLock<T>,
    #[cfg(hardy_loom)]
    inner: loom::sync::RwLock<T>,
}

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock {
            #[cfg(not(hardy_loom))]
            inner: parking_lot::RwLock::new(value),
            #[cfg(hardy_loom)]
            inner: loom::sync::RwLock::new(value),
        }
    }

    #[cfg(not(hardy_loom))]
    #[inline]
    pub(crate) fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
        self.inner.read()
    }

    #[cfg(not(hardy_loom))]
    #[inline]
    pub(crate) fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
        self.inner.write()
    }

    // A panic while locked poisons loom's lock; the model reports the panic itself.
    #[cfg(hardy_loom)]
    pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(hardy_loom)]
    pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

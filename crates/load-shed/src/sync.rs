//! Synchronisation primitives: the standard ones, or loom's when the crate is built for
//! model checking (`RUSTFLAGS="--cfg hardy_loom"`).

#[cfg(hardy_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(hardy_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(not(hardy_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(hardy_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// A mutex whose `lock` never fails: `parking_lot`'s, or loom's under model checking.
#[derive(Debug)]
pub(crate) struct Mutex<T> {
    #[cfg(not(hardy_loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(hardy_loom)]
    inner: loom::sync::Mutex<T>,
}

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex {
            #[cfg(not(hardy_loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(hardy_loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    #[cfg(not(hardy_loom))]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.inner.lock()
    }

    #[cfg(hardy_loom)]
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // A panic while locked poisons the mutex; the model reports the panic itself.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T> Mutex<T> {
    #[cfg(not(hardy_loom))]
    pub(crate) fn try_lock(&self) -> Option<parking_lot::MutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    #[cfg(hardy_loom)]
    pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
        self.inner.try_lock().ok()
    }
}

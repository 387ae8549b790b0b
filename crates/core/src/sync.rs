//! [`Mutex`]: the lock the pattern crates share, `parking_lot`'s or loom's.

/// A mutex whose `lock` never fails: `parking_lot`'s, or loom's when the crates are
/// built for model checking (`RUSTFLAGS="--cfg hardy_loom"`), so that the loom models
/// of the pattern crates see every lock their state takes.
///
/// # Examples
///
/// ```
/// use hardy_core::sync::Mutex;
///
/// let waiters = Mutex::new(Vec::new());
/// waiters.lock().push(1);
/// assert_eq!(waiters.try_lock().map(|list| list.len()), Some(1));
/// ```
#[derive(Debug, Default)]
pub struct Mutex<T> {
    #[cfg(not(hardy_loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(hardy_loom)]
    inner: loom::sync::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex {
            #[cfg(not(hardy_loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(hardy_loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Locks, waiting for the lock if it is held.
    #[cfg(not(hardy_loom))]
    #[inline]
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.inner.lock()
    }

    /// Locks, waiting for the lock if it is held.
    #[cfg(hardy_loom)]
    pub fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // A panic while locked poisons the mutex; the model reports the panic itself.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks if the lock is free, without waiting.
    #[cfg(not(hardy_loom))]
    #[inline]
    pub fn try_lock(&self) -> Option<parking_lot::MutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    /// Locks if the lock is free, without waiting.
    #[cfg(hardy_loom)]
    pub fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
        self.inner.try_lock().ok()
    }
}

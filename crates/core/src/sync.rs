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

/// A reader-writer lock whose `read` and `write` never fail: `parking_lot`'s, or loom's
/// when the crates are built for model checking, as [`Mutex`] is.
///
/// # Examples
///
/// ```
/// use hardy_core::sync::RwLock;
///
/// let settings = RwLock::new(0.1);
/// *settings.write() = 0.2;
/// assert_eq!(*settings.read(), 0.2);
/// ```
#[derive(Debug, Default)]
pub struct RwLock<T> {
    #[cfg(not(hardy_loom))]
    inner: parking_lot::RwLock<T>,
    #[cfg(hardy_loom)]
    inner: loom::sync::RwLock<T>,
}

impl<T> RwLock<T> {
    /// A lock holding `value`.
    pub fn new(value: T) -> Self {
        RwLock {
            #[cfg(not(hardy_loom))]
            inner: parking_lot::RwLock::new(value),
            #[cfg(hardy_loom)]
            inner: loom::sync::RwLock::new(value),
        }
    }

    /// Locks for reading, waiting while a writer holds the lock.
    #[cfg(not(hardy_loom))]
    #[inline]
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
        self.inner.read()
    }

    /// Locks for reading, waiting while a writer holds the lock.
    #[cfg(hardy_loom)]
    pub fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks for writing, waiting while anyone holds the lock.
    #[cfg(not(hardy_loom))]
    #[inline]
    pub fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
        self.inner.write()
    }

    /// Locks for writing, waiting while anyone holds the lock.
    #[cfg(hardy_loom)]
    pub fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

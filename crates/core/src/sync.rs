//! The locks and counts the pattern crates share: [`Mutex`] and [`RwLock`],
//! `parking_lot`'s or loom's, and [`Tally`], a count kept per thread.

use std::fmt;

/// `Arc`: the standard one, or loom's when the crates are built for model checking.
#[cfg(hardy_loom)]
pub use loom::sync::Arc;
/// Atomics: the standard ones, or loom's when the crates are built for model checking.
#[cfg(hardy_loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(hardy_loom))]
pub use std::sync::Arc;
#[cfg(not(hardy_loom))]
pub use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

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

/// A count many threads add to and few read: a slot per running thread, so that adding
/// is a plain load and store on a cache line no other thread writes, with no atomic
/// read-modify-write; the threads beyond the slots share one slot and add to it
/// atomically. Reading sums the slots.
///
/// A slot belongs to the thread with its [`thread_index`](crate::thread_index), which
/// no other running thread has; a thread that ends gives its index back (through a
/// mutex) before another takes it, so the next owner of a slot sees its count, and a
/// thread whose thread-locals are being destroyed has no index and adds to the shared
/// slot. Built for model checking (`RUSTFLAGS="--cfg hardy_loom"`), every thread adds to
/// the shared slot atomically: loom's threads are not the threads `thread_index`
/// numbers, so the models check the code that counts, and stress tests with real
/// threads check the per-thread slots.
///
/// # Examples
///
/// ```
/// use hardy_core::sync::Tally;
///
/// let admitted = Tally::new();
/// admitted.add(1);
/// std::thread::scope(|scope| {
///     scope.spawn(|| admitted.add(2));
/// });
/// assert_eq!(admitted.sum(), 3);
/// ```
pub struct Tally {
    #[cfg(not(hardy_loom))]
    slots: Box<[crossbeam_utils::CachePadded<std::sync::atomic::AtomicU64>]>,
    #[cfg(not(hardy_loom))]
    shared: crossbeam_utils::CachePadded<std::sync::atomic::AtomicU64>,
    #[cfg(hardy_loom)]
    shared: loom::sync::atomic::AtomicU64,
}

impl Tally {
    /// The most threads with a slot of their own; the threads past them share one slot.
    pub const MAX_SLOTS: usize = 16;

    /// A count of zero, with a slot for each of the first [`thread_slots`] threads, and at
    /// most [`Tally::MAX_SLOTS`]: a slot is a cache line, and a handle keeps a few
    /// tallies.
    #[must_use]
    pub fn new() -> Self {
        Tally {
            #[cfg(not(hardy_loom))]
            slots: (0..thread_slots().min(Self::MAX_SLOTS))
                .map(|_| crossbeam_utils::CachePadded::new(std::sync::atomic::AtomicU64::new(0)))
                .collect(),
            #[cfg(not(hardy_loom))]
            shared: crossbeam_utils::CachePadded::new(std::sync::atomic::AtomicU64::new(0)),
            #[cfg(hardy_loom)]
            shared: loom::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Adds `n` (wrapping around at `u64::MAX`).
    #[cfg(not(hardy_loom))]
    #[inline]
    pub fn add(&self, n: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        match self.slots.get(crate::thread_index()) {
            // Only this thread writes its slot: a load and a store suffice.
            Some(slot) => slot.store(slot.load(Relaxed).wrapping_add(n), Relaxed),
            None => {
                self.shared.fetch_add(n, Relaxed);
            }
        }
    }

    /// Adds `n` (wrapping around at `u64::MAX`).
    #[cfg(hardy_loom)]
    pub fn add(&self, n: u64) {
        self.shared
            .fetch_add(n, loom::sync::atomic::Ordering::Relaxed);
    }

    /// The sum of everything added, wrapping around at `u64::MAX`. An addition racing
    /// with the read may or may not be in it.
    #[must_use]
    pub fn sum(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        #[cfg(not(hardy_loom))]
        let slots = self
            .slots
            .iter()
            .map(|slot| slot.load(Relaxed))
            .fold(0, u64::wrapping_add);
        #[cfg(hardy_loom)]
        let slots = 0_u64;
        slots.wrapping_add(self.shared.load(Relaxed))
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

impl fmt::Debug for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tally").field(&self.sum()).finish()
    }
}

/// How many threads, by [`thread_index`](crate::thread_index), get a slot of their own
/// in a [`Tally`] or another per-thread array of a handle: twice the processors, at
/// least 4 and at most 64. Threads beyond them share.
pub fn thread_slots() -> usize {
    static SLOTS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SLOTS.get_or_init(|| {
        let processors = std::thread::available_parallelism().map_or(1, usize::from);
        (2 * processors).next_power_of_two().clamp(4, 64)
    })
}

#[cfg(all(test, not(hardy_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_every_thread_including_those_past_the_slots() {
        let tally = Tally::new();
        let threads = thread_slots().min(Tally::MAX_SLOTS) + 3;
        // All running at once, so that some have indices past the slots.
        let barrier = std::sync::Barrier::new(threads);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    barrier.wait();
                    for _ in 0..1000 {
                        tally.add(1);
                    }
                    barrier.wait();
                });
            }
        });
        assert_eq!(tally.sum(), 1000 * threads as u64);
    }

    #[test]
    fn a_slot_given_back_by_an_ended_thread_keeps_its_count() {
        let tally = Tally::new();
        for round in 1..=20 {
            std::thread::scope(|scope| {
                scope.spawn(|| tally.add(5));
            });
            assert_eq!(tally.sum(), 5 * round);
        }
    }
}

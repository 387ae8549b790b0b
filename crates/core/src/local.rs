//! [`LocalArc`]: a service's reference to a shared handle, kept per thread.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A service's own reference to a shared handle, for the response futures to hold.
///
/// A response future must own a reference to its handle (it outlives the borrow of the
/// service), so every call takes one: an atomic increment and decrement of a
/// reference count. If the services of every thread shared one count, its cache line
/// would move between cores on every call. A `LocalArc` keeps the count per thread:
/// clones share it (so cloning a service, as retries and routers do for every call,
/// never allocates), and the first call from another thread gives that service a
/// reference of its own (one allocation, once).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hardy_core::LocalArc;
///
/// let mut local = LocalArc::new(String::from("soil-1"));
/// let for_a_call: Arc<String> = Arc::clone(local.get());
/// assert_eq!(*for_a_call, "soil-1");
///
/// let mut clone = local.clone();
/// assert!(Arc::ptr_eq(clone.get(), local.get()), "clones on one thread share");
/// std::thread::scope(|scope| {
///     scope.spawn(move || {
///         let mut moved = clone;
///         assert!(!Arc::ptr_eq(moved.get(), &for_a_call), "another thread, its own");
///     });
/// });
/// ```
pub struct LocalArc<T> {
    shared: Arc<T>,
    thread: u64,
    /// The [`thread_index`] of `thread`, read once with it.
    index: usize,
}

impl<T: Clone> LocalArc<T> {
    /// A reference of its own to `handle`, for the current thread.
    pub fn new(handle: T) -> Self {
        LocalArc {
            shared: Arc::new(handle),
            thread: thread_id(),
            index: thread_index(),
        }
    }

    /// The reference for the current thread: the same one while the service stays on
    /// its thread, a new one (a clone of the handle) after it moved.
    #[inline]
    pub fn get(&mut self) -> &Arc<T> {
        let thread = thread_id();
        if thread != self.thread {
            self.rehome(thread);
        }
        &self.shared
    }

    /// [`get`](Self::get), and the current thread's [`thread_index`], kept with the
    /// reference so that reading it costs nothing.
    #[inline]
    pub fn get_with_index(&mut self) -> (&Arc<T>, usize) {
        let thread = thread_id();
        if thread != self.thread {
            self.rehome(thread);
        }
        (&self.shared, self.index)
    }

    #[cold]
    #[inline(never)]
    fn rehome(&mut self, thread: u64) {
        self.shared = Arc::new(T::clone(&self.shared));
        self.thread = thread;
        self.index = thread_index();
    }
}

impl<T> LocalArc<T> {
    /// The handle.
    #[must_use]
    pub fn handle(&self) -> &T {
        &self.shared
    }
}

impl<T> Clone for LocalArc<T> {
    /// Shares the reference: no allocation.
    fn clone(&self) -> Self {
        LocalArc {
            shared: Arc::clone(&self.shared),
            thread: self.thread,
            index: self.index,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for LocalArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.shared, f)
    }
}

/// A small number naming the current thread (never 0), read from a thread-local.
#[inline]
fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: Cell<u64> = const { Cell::new(0) };
    }
    ID.with(|id| {
        let current = id.get();
        if current != 0 {
            return current;
        }
        let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
        id.set(fresh);
        fresh
    })
}

/// A small number for the current thread, unique among the threads running now.
///
/// Numbers start at 0 and stay small: a thread that ends gives its number back, and a
/// new thread takes the lowest free one. Handles use it to give each running thread a
/// slot of its own (a per-thread counter, a reserved run of positions) in a short
/// array, so that threads do not write the same cache line. While a thread's
/// thread-locals are being destroyed it has no number, and this returns `usize::MAX`.
///
/// # Examples
///
/// ```
/// use hardy_core::thread_index;
///
/// let here = thread_index();
/// assert_eq!(here, thread_index(), "a thread keeps its number");
/// let there = std::thread::spawn(thread_index).join().unwrap();
/// assert_ne!(here, there, "threads running at once have different numbers");
/// ```
#[inline]
pub fn thread_index() -> usize {
    thread_local! {
        static INDEX: Index = Index::take();
    }
    INDEX.try_with(|index| index.0).unwrap_or(usize::MAX)
}

/// A thread's [`thread_index`], given back when the thread ends.
struct Index(usize);

/// Numbers given back by ended threads, the lowest first.
static FREE: std::sync::Mutex<std::collections::BinaryHeap<std::cmp::Reverse<usize>>> =
    std::sync::Mutex::new(std::collections::BinaryHeap::new());

/// The lowest number never given out.
static FRESH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Index {
    fn take() -> Self {
        let reused = FREE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        Index(reused.map_or_else(|| FRESH.fetch_add(1, Ordering::Relaxed), |free| free.0))
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        FREE.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(std::cmp::Reverse(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_until_they_move_to_another_thread() {
        let mut local = LocalArc::new(7u32);
        let first = Arc::clone(local.get());
        let mut clone = local.clone();
        assert!(Arc::ptr_eq(clone.get(), &first));
        assert_eq!(Arc::strong_count(&first), 3);
        let moved = std::thread::spawn(move || {
            let fresh = Arc::clone(clone.get());
            let again = Arc::clone(clone.get());
            (Arc::ptr_eq(&fresh, &again), *fresh)
        })
        .join()
        .expect("thread");
        assert_eq!(
            moved,
            (true, 7),
            "one new reference per move, the same value"
        );
        assert_eq!(
            Arc::strong_count(&first),
            2,
            "the moved clone let go of the shared one"
        );
        assert_eq!(*local.handle(), 7);
    }

    #[test]
    fn a_moved_reference_reads_its_new_threads_index() {
        let mut local = LocalArc::new(1u8);
        assert_eq!(local.get_with_index().1, thread_index());
        let there = std::thread::spawn(move || {
            let index = local.get_with_index().1;
            (index, thread_index())
        })
        .join()
        .unwrap();
        assert_eq!(there.0, there.1);
    }

    #[test]
    fn every_thread_has_its_own_id() {
        let here = thread_id();
        assert_eq!(here, thread_id());
        let there = std::thread::spawn(thread_id).join().expect("thread");
        assert_ne!(here, there);
        assert_ne!(there, 0);
    }
}

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
}

impl<T: Clone> LocalArc<T> {
    /// A reference of its own to `handle`, for the current thread.
    pub fn new(handle: T) -> Self {
        LocalArc {
            shared: Arc::new(handle),
            thread: thread_id(),
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

    #[cold]
    #[inline(never)]
    fn rehome(&mut self, thread: u64) {
        self.shared = Arc::new(T::clone(&self.shared));
        self.thread = thread;
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
    fn every_thread_has_its_own_id() {
        let here = thread_id();
        assert_eq!(here, thread_id());
        let there = std::thread::spawn(thread_id).join().expect("thread");
        assert_ne!(here, there);
        assert_ne!(there, 0);
    }
}

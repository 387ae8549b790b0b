//! [`LocalArc`]: a service's reference to a shared handle, kept per thread.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A service's own reference to a shared handle, for the response futures to hold.
///
/// A response future must own a reference to its handle (it outlives the borrow of the
/// service), so every call takes one: an atomic increment and decrement of a
/// reference count. If the services of every thread shared one count, its cache line
/// would move between cores on every call. A `LocalArc` keeps the count per thread:
/// clones share it (so cloning a service, as retries and routers do for every call,
/// never allocates), and a service called twice from another thread takes a reference
/// of its own there (one allocation, once). A clone made for a single call elsewhere,
/// as servers clone a service for every request, uses the shared reference and
/// allocates nothing.
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
///         assert!(Arc::ptr_eq(moved.get(), &for_a_call), "one call: the shared one");
///         assert!(!Arc::ptr_eq(moved.get(), &for_a_call), "staying: its own");
///     });
/// });
/// ```
pub struct LocalArc<T> {
    shared: Arc<T>,
    /// The [`thread_index`] of the thread the reference is for. Indices are reused
    /// only after a thread ends, so two running threads never share a reference.
    thread: u32,
    /// The thread of the last call from another thread than `thread`, or `NO_THREAD`.
    visitor: u32,
}

/// No thread: `visitor` before any call from another thread.
const NO_THREAD: u32 = u32::MAX;

/// The current thread's index, in the width `LocalArc` keeps it in.
#[inline]
fn current() -> u32 {
    u32::try_from(thread_index()).unwrap_or(NO_THREAD - 1)
}

impl<T: Clone> LocalArc<T> {
    /// A reference of its own to `handle`, for the current thread.
    pub fn new(handle: T) -> Self {
        LocalArc {
            shared: Arc::new(handle),
            thread: current(),
            visitor: NO_THREAD,
        }
    }

    /// The reference for the current thread: the same one while the service stays on
    /// its thread. A service called from another thread uses the shared reference for
    /// its first call there and takes one of its own (a clone of the handle) at its
    /// second: a clone made for one call (as servers clone a service per request)
    /// allocates nothing, and a service that stays on its new thread pays once.
    #[inline]
    pub fn get(&mut self) -> &Arc<T> {
        let thread = current();
        if thread != self.thread {
            self.visit(thread);
        }
        &self.shared
    }

    #[cold]
    #[inline(never)]
    fn visit(&mut self, thread: u32) {
        if self.visitor == thread {
            self.shared = Arc::new(T::clone(&self.shared));
            self.thread = thread;
            self.visitor = NO_THREAD;
        } else {
            self.visitor = thread;
        }
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
            visitor: self.visitor,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for LocalArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.shared, f)
    }
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
    let index = INDEX.get();
    if index != NO_INDEX {
        return index;
    }
    assign_index()
}

/// What [`thread_index`] returns for a thread that has no number.
const NO_INDEX: usize = usize::MAX;

thread_local! {
    /// The current thread's number, once it has one: a plain cell, so reading it is one
    /// load. [`HELD`] owns the number and gives it back.
    static INDEX: Cell<usize> = const { Cell::new(NO_INDEX) };
    /// Holds the current thread's number until the thread ends.
    static HELD: Index = Index::take();
}

/// Gives the current thread a number: its first call to [`thread_index`].
#[cold]
#[inline(never)]
fn assign_index() -> usize {
    HELD.try_with(|held| {
        INDEX.set(held.0);
        held.0
    })
    .unwrap_or(NO_INDEX)
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
        // The thread stops reading the number before another thread can take it.
        let _ = INDEX.try_with(|index| index.set(NO_INDEX));
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
        let shared = Arc::clone(&first);
        let moved = std::thread::spawn(move || {
            let visiting = Arc::ptr_eq(clone.get(), &shared);
            drop(shared);
            let fresh = Arc::clone(clone.get());
            let again = Arc::clone(clone.get());
            (visiting, Arc::ptr_eq(&fresh, &again), *fresh)
        })
        .join()
        .expect("thread");
        assert_eq!(
            moved,
            (true, true, 7),
            "the first call there shares, the second takes one reference for the thread"
        );
        assert_eq!(
            Arc::strong_count(&first),
            2,
            "the moved clone let go of the shared one"
        );
        assert_eq!(*local.handle(), 7);
    }

    #[test]
    fn a_clone_for_one_call_on_another_thread_takes_no_reference() {
        let local = LocalArc::new(7u32);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..3 {
                    let mut per_request = local.clone();
                    assert!(Arc::ptr_eq(per_request.get(), &local.shared));
                }
            });
        });
        assert_eq!(Arc::strong_count(&local.shared), 1);
    }
}

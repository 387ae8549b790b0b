//! The permit counter: a fair semaphore whose uncontended acquire and release are one
//! atomic operation each, with a FIFO queue of waiters taken only when permits run out.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, Ordering};

/// The low half of the word holds the available permits plus `BIAS`, so that a limit
/// lowered below the permits in use makes it negative without borrowing from the high
/// half; the high half counts queued waiters.
const BIAS: u64 = 1 << 31;
const LOW: u64 = 0xFFFF_FFFF;
const ONE_WAITER: u64 = 1 << 32;

/// A queued waiter: granted a permit by whoever releases one.
#[derive(Debug)]
pub(crate) struct Slot {
    granted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    /// Ready once a permit was handed to this waiter.
    pub(crate) fn poll_granted(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.granted.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        {
            let mut waker = self.waker.lock();
            match &mut *waker {
                Some(old) if old.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            }
        }
        // A grant between the first check and storing the waker found no waker to wake.
        if self.granted.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    #[cfg(test)]
    pub(crate) fn is_granted(&self) -> bool {
        self.granted.load(Ordering::Acquire)
    }
}

/// What [`Semaphore::enqueue`] did.
#[derive(Debug)]
pub(crate) enum Enqueued {
    /// A permit was free after all: taken.
    Acquired,
    /// Queued; wait on the slot.
    Waiting(Arc<Slot>),
    /// The queue holds `max_waiting` waiters already.
    Full,
}

#[derive(Debug)]
pub(crate) struct Semaphore {
    word: AtomicU64,
    queue: Mutex<VecDeque<Arc<Slot>>>,
}

impl Semaphore {
    pub(crate) fn new(permits: u32) -> Self {
        Semaphore {
            word: AtomicU64::new(BIAS + u64::from(permits)),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    fn available_in(word: u64) -> i64 {
        (word & LOW) as i64 - BIAS as i64
    }

    fn waiters_in(word: u64) -> u32 {
        (word >> 32) as u32
    }

    /// Permits free now; negative while a lowered limit drains.
    pub(crate) fn available(&self) -> i64 {
        Self::available_in(self.word.load(Ordering::Acquire))
    }

    /// Waiters queued now.
    pub(crate) fn waiting(&self) -> u32 {
        Self::waiters_in(self.word.load(Ordering::Acquire))
    }

    /// Takes a permit if one is free and nobody waits for one (waiters go first).
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if Self::waiters_in(word) != 0 || Self::available_in(word) <= 0 {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Gives a permit back; hands it to the first waiter if there is one.
    #[inline]
    pub(crate) fn release(&self) {
        let before = self.word.fetch_add(1, Ordering::Release);
        if Self::waiters_in(before) != 0 {
            self.hand_over();
        }
    }

    /// Adds `permits` (a raised limit), handing them to waiters first.
    pub(crate) fn add_permits(&self, permits: u32) {
        let before = self.word.fetch_add(u64::from(permits), Ordering::Release);
        if Self::waiters_in(before) != 0 {
            self.hand_over();
        }
    }

    /// Removes `permits` (a lowered limit): free ones at once, the rest as calls finish.
    pub(crate) fn remove_permits(&self, permits: u32) {
        self.word.fetch_sub(u64::from(permits), Ordering::AcqRel);
    }

    /// Queues a waiter, unless the queue is full; takes a free permit if the queue is
    /// empty and one was released meanwhile.
    pub(crate) fn enqueue(&self, max_waiting: u32) -> Enqueued {
        let wakers;
        let slot = {
            let mut queue = self.queue.lock();
            if queue.is_empty() && self.try_acquire() {
                return Enqueued::Acquired;
            }
            if queue.len() >= max_waiting as usize {
                return Enqueued::Full;
            }
            let slot = Arc::new(Slot {
                granted: AtomicBool::new(false),
                waker: Mutex::new(None),
            });
            queue.push_back(slot.clone());
            self.word.fetch_add(ONE_WAITER, Ordering::AcqRel);
            // A release that saw no waiter may have freed a permit just now.
            wakers = self.grant(&mut queue);
            slot
        };
        wake(wakers);
        Enqueued::Waiting(slot)
    }

    /// A waiter gives up (cancelled, or its wait expired): it leaves the queue. Returns
    /// `true` if a permit was handed to it meanwhile: the caller then holds that permit,
    /// to use or [`release`](Self::release).
    pub(crate) fn cancel(&self, slot: &Arc<Slot>) -> bool {
        let mut queue = self.queue.lock();
        if slot.granted.load(Ordering::Acquire) {
            return true;
        }
        if let Some(index) = queue.iter().position(|queued| Arc::ptr_eq(queued, slot)) {
            queue.remove(index);
            self.word.fetch_sub(ONE_WAITER, Ordering::AcqRel);
        }
        false
    }

    #[cold]
    #[inline(never)]
    fn hand_over(&self) {
        let wakers = {
            let mut queue = self.queue.lock();
            self.grant(&mut queue)
        };
        wake(wakers);
    }

    /// Hands free permits to queued waiters, first come first served. Under the queue
    /// lock; returns the wakers to wake once it is released.
    fn grant(&self, queue: &mut VecDeque<Arc<Slot>>) -> Vec<Waker> {
        let mut wakers = Vec::new();
        while !queue.is_empty() {
            let word = self.word.load(Ordering::Acquire);
            if Self::available_in(word) <= 0 {
                break;
            }
            if self
                .word
                .compare_exchange(
                    word,
                    word - 1 - ONE_WAITER,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                continue;
            }
            let Some(slot) = queue.pop_front() else {
                break;
            };
            slot.granted.store(true, Ordering::Release);
            if let Some(waker) = slot.waker.lock().take() {
                wakers.push(waker);
            }
        }
        wakers
    }
}

fn wake(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquires_up_to_the_limit_and_releases() {
        let semaphore = Semaphore::new(2);
        assert!(semaphore.try_acquire());
        assert!(semaphore.try_acquire());
        assert!(!semaphore.try_acquire());
        assert_eq!(semaphore.available(), 0);
        semaphore.release();
        assert_eq!(semaphore.available(), 1);
        assert!(semaphore.try_acquire());
    }

    #[test]
    fn waiters_are_served_in_order_and_before_newcomers() {
        let semaphore = Semaphore::new(1);
        assert!(semaphore.try_acquire());
        let Enqueued::Waiting(first) = semaphore.enqueue(2) else {
            panic!("queued")
        };
        let Enqueued::Waiting(second) = semaphore.enqueue(2) else {
            panic!("queued")
        };
        assert!(matches!(semaphore.enqueue(2), Enqueued::Full));
        assert_eq!(semaphore.waiting(), 2);
        semaphore.release();
        assert!(first.is_granted() && !second.is_granted());
        assert!(
            !semaphore.try_acquire(),
            "a newcomer does not pass the queue"
        );
        semaphore.release();
        assert!(second.is_granted());
        assert_eq!((semaphore.available(), semaphore.waiting()), (0, 0));
    }

    #[test]
    fn a_cancelled_waiter_leaves_the_queue_and_a_granted_one_gives_its_permit_on() {
        let semaphore = Semaphore::new(1);
        assert!(semaphore.try_acquire());
        let Enqueued::Waiting(first) = semaphore.enqueue(2) else {
            panic!("queued")
        };
        let Enqueued::Waiting(second) = semaphore.enqueue(2) else {
            panic!("queued")
        };
        assert!(!semaphore.cancel(&first));
        assert_eq!(semaphore.waiting(), 1);
        semaphore.release();
        assert!(second.is_granted());
        assert!(
            semaphore.cancel(&second),
            "granted: the permit is the caller's"
        );
        semaphore.release();
        assert_eq!((semaphore.available(), semaphore.waiting()), (1, 0));
    }

    #[test]
    fn a_lowered_limit_drains_without_revoking() {
        let semaphore = Semaphore::new(3);
        for _ in 0..3 {
            assert!(semaphore.try_acquire());
        }
        semaphore.remove_permits(2);
        assert_eq!(semaphore.available(), -2);
        semaphore.release();
        semaphore.release();
        assert!(!semaphore.try_acquire(), "two releases paid the debt");
        semaphore.release();
        assert!(semaphore.try_acquire());
        semaphore.add_permits(5);
        assert_eq!(semaphore.available(), 5);
    }
}

/// Loom models: `RUSTFLAGS="--cfg hardy_loom" cargo test -p hardy-bulkhead --lib --release loom`.
#[cfg(all(test, hardy_loom))]
mod loom_models {
    use super::*;

    /// One permit, two threads: one holds it while the other queues; every interleaving
    /// of release and enqueue ends with the waiter granted and the permit count whole.
    #[test]
    fn loom_release_and_enqueue_never_lose_a_permit() {
        loom::model(|| {
            let semaphore = Arc::new(Semaphore::new(1));
            assert!(semaphore.try_acquire());
            let releaser = {
                let semaphore = semaphore.clone();
                loom::thread::spawn(move || semaphore.release())
            };
            let outcome = semaphore.enqueue(1);
            releaser.join().unwrap();
            match outcome {
                Enqueued::Acquired => {}
                Enqueued::Waiting(slot) => assert!(slot.is_granted(), "a lost wakeup"),
                Enqueued::Full => panic!("the queue was empty"),
            }
            assert_eq!(semaphore.available(), 0);
            assert_eq!(semaphore.waiting(), 0);
            semaphore.release();
            assert_eq!(semaphore.available(), 1);
        });
    }

    /// Two threads racing for one permit through the fast path and the queue, with a
    /// cancellation: the permit is never held twice and never lost.
    #[test]
    fn loom_racing_acquirers_and_a_cancel_keep_the_count() {
        loom::model(|| {
            let semaphore = Arc::new(Semaphore::new(1));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let semaphore = semaphore.clone();
                    loom::thread::spawn(move || {
                        if semaphore.try_acquire() {
                            semaphore.release();
                            return;
                        }
                        match semaphore.enqueue(1) {
                            Enqueued::Acquired => semaphore.release(),
                            Enqueued::Waiting(slot) => {
                                // Give up; a permit handed over meanwhile goes back.
                                if semaphore.cancel(&slot) {
                                    semaphore.release();
                                }
                            }
                            Enqueued::Full => {}
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(semaphore.available(), 1);
            assert_eq!(semaphore.waiting(), 0);
        });
    }
}

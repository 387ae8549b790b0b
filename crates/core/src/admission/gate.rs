//! [`Gate`]: the count of calls in flight against a limit per priority, and the queue of
//! calls waiting for a slot.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

// The low half of the word counts the calls in flight, the high half the waiters, so
// that a release sees in the same atomic operation whether anyone waits.
const LOW: u64 = 0xFFFF_FFFF;
const ONE_WAITER: u64 = 1 << 32;

fn in_flight_of(word: u64) -> u32 {
    (word & LOW) as u32
}

fn waiters_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// A call waiting in a [`Gate`]'s queue: granted a slot by whoever frees one.
#[derive(Debug)]
pub struct Waiter {
    id: u64,
    level: u8,
    granted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Waiter {
    /// Ready once a slot was handed to this waiter.
    pub fn poll_granted(&self, cx: &mut Context<'_>) -> Poll<()> {
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

    /// Whether a slot was handed to this waiter.
    pub fn is_granted(&self) -> bool {
        self.granted.load(Ordering::Acquire)
    }
}

/// What [`Gate::enqueue`] did.
#[derive(Debug)]
pub enum Enqueued {
    /// A slot was free after all: taken.
    Admitted,
    /// Queued: wait on the waiter. `standing` says the queue has not been empty for
    /// longer than the gate's `standing_after` (always `false` without one).
    Waiting {
        /// The place in the queue.
        waiter: Arc<Waiter>,
        /// Whether the queue stands.
        standing: bool,
    },
    /// The queue holds `max_waiting` calls already.
    Full,
}

#[derive(Debug)]
struct Queue {
    /// Waiters by priority level, highest priority (level 0) first.
    levels: Vec<VecDeque<Arc<Waiter>>>,
    len: u32,
    /// The last time the queue was empty.
    last_empty: u64,
    next_id: u64,
    standing_after: Option<u64>,
}

impl Queue {
    /// Whether the queue has not been empty for longer than `standing_after`.
    fn standing(&self, now: u64) -> bool {
        self.standing_after
            .is_some_and(|after| self.len > 0 && now.saturating_sub(self.last_empty) > after)
    }

    fn first_level(&self) -> Option<usize> {
        self.levels.iter().position(|level| !level.is_empty())
    }

    fn removed_one(&mut self, now: u64) {
        self.len -= 1;
        if self.len == 0 {
            self.last_empty = now;
        }
    }
}

/// The admission gate of the bulkhead and the load shedder: calls in flight and calls
/// waiting in one atomic word, a threshold per priority level, and a queue served
/// highest priority first.
///
/// A call of level `l` is admitted while fewer than `threshold(l)` calls are in flight
/// and nobody waits; an admission is one compare-and-swap and a release one atomic
/// subtraction. The queue is locked only when calls wait. Waiters are served highest
/// level first, oldest first, or newest first while the queue *stands* (has not been
/// empty for longer than `standing_after`, the CoDel rule). A lowered threshold revokes
/// nothing: it takes effect as calls finish.
///
/// Times (`now`) are whatever monotonic unit the caller uses; they matter only with
/// `standing_after`.
#[derive(Debug)]
pub struct Gate {
    hot: CachePadded<Hot>,
    /// The thresholds of the levels after the first.
    rest: Box<[AtomicU32]>,
    queue: Mutex<Queue>,
}

/// What every admission reads, on a cache line of its own: the word, and the first
/// level's threshold (a bulkhead's only one).
#[derive(Debug)]
struct Hot {
    word: AtomicU64,
    first: AtomicU32,
}

impl Gate {
    /// A gate with one level per threshold (at least one), whose queue stands once it
    /// has not been empty for longer than `standing_after`, if given.
    pub fn new(thresholds: impl IntoIterator<Item = u32>, standing_after: Option<u64>) -> Self {
        let mut thresholds = thresholds.into_iter();
        let first = thresholds.next().unwrap_or(0);
        let rest: Box<[AtomicU32]> = thresholds.map(AtomicU32::new).collect();
        let levels = rest.len() + 1;
        Gate {
            hot: CachePadded::new(Hot {
                word: AtomicU64::new(0),
                first: AtomicU32::new(first),
            }),
            rest,
            queue: Mutex::new(Queue {
                levels: (0..levels).map(|_| VecDeque::new()).collect(),
                len: 0,
                last_empty: 0,
                next_id: 0,
                standing_after,
            }),
        }
    }

    /// The priority levels.
    pub fn levels(&self) -> u8 {
        (self.rest.len() + 1) as u8
    }

    /// Calls in flight now (granted waiters included).
    pub fn in_flight(&self) -> u32 {
        in_flight_of(self.hot.word.load(Ordering::Acquire))
    }

    /// Calls waiting now.
    pub fn waiting(&self) -> u32 {
        waiters_of(self.hot.word.load(Ordering::Acquire))
    }

    /// The threshold of level `level` now.
    #[inline]
    pub fn threshold(&self, level: u8) -> u32 {
        match level {
            0 => self.hot.first.load(Ordering::Relaxed),
            level => self.rest[usize::from(level) - 1].load(Ordering::Relaxed),
        }
    }

    /// Takes a slot if the calls in flight are below `level`'s threshold and nobody
    /// waits (waiters go first).
    #[inline]
    pub fn try_admit(&self, level: u8) -> bool {
        let threshold = self.threshold(level);
        let mut word = self.hot.word.load(Ordering::Relaxed);
        loop {
            if waiters_of(word) != 0 || in_flight_of(word) >= threshold {
                return false;
            }
            match self.hot.word.compare_exchange_weak(
                word,
                word + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Takes a slot below `threshold` while taking back one waiter: the waiter's own
    /// claim, or the caller's share of the high half.
    fn take_as_waiter(&self, threshold: u32) -> bool {
        let mut word = self.hot.word.load(Ordering::Relaxed);
        loop {
            if in_flight_of(word) >= threshold {
                return false;
            }
            match self.hot.word.compare_exchange_weak(
                word,
                word + 1 - ONE_WAITER,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// The slow path of an admission at `level`, at `now`: takes a free slot if no call
    /// of the same or a higher priority waits, or joins the queue if it holds fewer than
    /// `max_waiting` calls.
    pub fn enqueue(&self, level: u8, max_waiting: u32, now: u64) -> Enqueued {
        let mut queue = self.queue.lock();
        let threshold = self.threshold(level);
        // Claim a place first, so that a release from now on hands over under the lock.
        self.hot.word.fetch_add(ONE_WAITER, Ordering::AcqRel);
        let ahead = queue.levels[..=usize::from(level)]
            .iter()
            .any(|waiters| !waiters.is_empty());
        if !ahead && self.take_as_waiter(threshold) {
            return Enqueued::Admitted;
        }
        if queue.len >= max_waiting {
            self.hot.word.fetch_sub(ONE_WAITER, Ordering::AcqRel);
            return Enqueued::Full;
        }
        if queue.len == 0 {
            queue.last_empty = now;
        }
        let standing = queue.standing(now);
        queue.next_id += 1;
        let waiter = Arc::new(Waiter {
            id: queue.next_id,
            level,
            granted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        queue.levels[usize::from(level)].push_back(Arc::clone(&waiter));
        queue.len += 1;
        Enqueued::Waiting { waiter, standing }
    }

    /// Frees a slot, handing it to a waiter if one fits; `now` is read only then.
    /// Returns the calls in flight before.
    #[inline]
    pub fn release(&self, now: impl FnOnce() -> u64) -> u32 {
        let before = self.hot.word.fetch_sub(1, Ordering::AcqRel);
        if waiters_of(before) != 0 {
            self.hand_over(now());
        }
        in_flight_of(before)
    }

    /// Grants slots to waiters while the first of them fits its threshold: highest
    /// priority first, oldest first (newest first while the queue stands).
    #[cold]
    #[inline(never)]
    pub fn hand_over(&self, now: u64) {
        let mut wake = Vec::new();
        {
            let mut queue = self.queue.lock();
            while let Some(level) = queue.first_level() {
                if !self.take_as_waiter(self.threshold(level as u8)) {
                    break;
                }
                let newest_first = queue.standing(now);
                let waiters = &mut queue.levels[level];
                let waiter = if newest_first {
                    waiters.pop_back()
                } else {
                    waiters.pop_front()
                };
                let Some(waiter) = waiter else { break };
                queue.removed_one(now);
                waiter.granted.store(true, Ordering::Release);
                if let Some(waker) = waiter.waker.lock().take() {
                    wake.push(waker);
                }
            }
        }
        for waker in wake {
            waker.wake();
        }
    }

    /// Takes `waiter` out of the queue at `now` (it gives up: cancelled, or its wait ran
    /// out). Returns whether it had been granted a slot already, which the caller then
    /// holds, to use or [`release`](Self::release).
    pub fn cancel(&self, waiter: &Waiter, now: u64) -> bool {
        let mut queue = self.queue.lock();
        if waiter.granted.load(Ordering::Acquire) {
            return true;
        }
        let waiters = &mut queue.levels[usize::from(waiter.level)];
        if let Some(at) = waiters.iter().position(|queued| queued.id == waiter.id) {
            waiters.remove(at);
            queue.removed_one(now);
            self.hot.word.fetch_sub(ONE_WAITER, Ordering::AcqRel);
        }
        false
    }

    /// Sets each level's threshold (levels past the iterator keep theirs), then grants
    /// waiters that now fit.
    pub fn set_thresholds(
        &self,
        thresholds: impl IntoIterator<Item = u32>,
        now: impl FnOnce() -> u64,
    ) {
        let slots = std::iter::once(&self.hot.first).chain(self.rest.iter());
        for (slot, threshold) in slots.zip(thresholds) {
            slot.store(threshold, Ordering::Relaxed);
        }
        if self.waiting() != 0 {
            self.hand_over(now());
        }
    }
}

#[cfg(all(test, not(hardy_loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn waiting(enqueued: Enqueued) -> (Arc<Waiter>, bool) {
        match enqueued {
            Enqueued::Waiting { waiter, standing } => (waiter, standing),
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    fn granted(waiter: &Waiter) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        waiter.poll_granted(&mut cx).is_ready()
    }

    #[test]
    fn admits_below_each_level_threshold() {
        let gate = Gate::new([10, 8, 6], None);
        for _ in 0..6 {
            assert!(gate.try_admit(2));
        }
        assert!(!gate.try_admit(2), "level 2 stops at 6");
        assert!(gate.try_admit(1) && gate.try_admit(1));
        assert!(!gate.try_admit(1), "level 1 stops at 8");
        assert!(gate.try_admit(0) && gate.try_admit(0));
        assert!(!gate.try_admit(0), "level 0 stops at its threshold");
        assert_eq!(gate.in_flight(), 10);
        assert_eq!(gate.release(|| 0), 10);
        assert!(gate.try_admit(0));
    }

    #[test]
    fn waiters_are_served_in_order_and_before_newcomers() {
        let gate = Gate::new([1], None);
        assert!(gate.try_admit(0));
        let (first, _) = waiting(gate.enqueue(0, 2, 0));
        let (second, _) = waiting(gate.enqueue(0, 2, 0));
        assert!(matches!(gate.enqueue(0, 2, 0), Enqueued::Full));
        assert_eq!(gate.waiting(), 2);
        gate.release(|| 0);
        assert!(first.is_granted() && !second.is_granted());
        assert!(!gate.try_admit(0), "a newcomer does not pass the queue");
        gate.release(|| 0);
        assert!(second.is_granted());
        assert_eq!((gate.in_flight(), gate.waiting()), (1, 0));
    }

    #[test]
    fn a_release_hands_over_to_the_highest_priority_waiter() {
        let gate = Gate::new([1, 1], None);
        assert!(gate.try_admit(0));
        let (low, _) = waiting(gate.enqueue(1, 4, 0));
        let (high, _) = waiting(gate.enqueue(0, 4, 0));
        assert_eq!(gate.waiting(), 2);
        gate.release(|| MS);
        assert!(granted(&high) && !granted(&low));
        assert_eq!((gate.in_flight(), gate.waiting()), (1, 1));
        gate.release(|| 2 * MS);
        assert!(granted(&low));
        assert_eq!((gate.in_flight(), gate.waiting()), (1, 0));
    }

    #[test]
    fn a_higher_priority_takes_a_free_slot_past_lower_waiters() {
        let gate = Gate::new([2, 1], None);
        assert!(gate.try_admit(1));
        let (low, _) = waiting(gate.enqueue(1, 4, 0));
        assert!(
            !gate.try_admit(0),
            "the fast path leaves waiters to the slow one"
        );
        assert!(matches!(gate.enqueue(0, 4, 0), Enqueued::Admitted));
        assert_eq!((gate.in_flight(), gate.waiting()), (2, 1));
        assert!(!granted(&low));
    }

    #[test]
    fn a_standing_queue_serves_newest_first() {
        let gate = Gate::new([1], Some(100 * MS));
        assert!(gate.try_admit(0));
        let (oldest, standing) = waiting(gate.enqueue(0, 8, 0));
        assert!(!standing, "a fresh queue does not stand");
        let (middle, _) = waiting(gate.enqueue(0, 8, 50 * MS));
        let (newest, standing) = waiting(gate.enqueue(0, 8, 150 * MS));
        assert!(standing, "non-empty for over the interval");
        gate.release(|| 160 * MS);
        assert!(granted(&newest) && !granted(&middle) && !granted(&oldest));
        // Drain: the queue stops standing once empty.
        assert!(!gate.cancel(&oldest, 170 * MS));
        gate.release(|| 170 * MS);
        assert!(granted(&middle));
        gate.release(|| 171 * MS);
        assert!(gate.try_admit(0));
        let (_, standing) = waiting(gate.enqueue(0, 8, 200 * MS));
        assert!(!standing);
    }

    #[test]
    fn a_full_queue_refuses_and_a_cancelled_waiter_leaves() {
        let gate = Gate::new([1], None);
        assert!(gate.try_admit(0));
        assert!(matches!(gate.enqueue(0, 0, 0), Enqueued::Full), "no queue");
        let (waiter, _) = waiting(gate.enqueue(0, 1, 0));
        assert!(matches!(gate.enqueue(0, 1, 0), Enqueued::Full));
        assert_eq!(gate.waiting(), 1);
        assert!(!gate.cancel(&waiter, MS));
        assert_eq!(gate.waiting(), 0);
        gate.release(|| MS);
        assert_eq!(gate.in_flight(), 0);
        // A waiter granted before it cancels holds the slot.
        assert!(gate.try_admit(0));
        let (waiter, _) = waiting(gate.enqueue(0, 1, 0));
        gate.release(|| MS);
        assert!(gate.cancel(&waiter, MS));
        assert_eq!(gate.in_flight(), 1);
    }

    #[test]
    fn a_raised_threshold_grants_waiters_and_a_lowered_one_drains() {
        let gate = Gate::new([1], None);
        assert!(gate.try_admit(0));
        let (a, _) = waiting(gate.enqueue(0, 4, 0));
        let (b, _) = waiting(gate.enqueue(0, 4, 0));
        gate.set_thresholds([3], || MS);
        assert!(granted(&a) && granted(&b));
        assert_eq!((gate.in_flight(), gate.waiting()), (3, 0));
        gate.set_thresholds([1], || MS);
        assert!(!gate.try_admit(0), "a lowered threshold drains");
        gate.release(|| MS);
        gate.release(|| MS);
        assert!(!gate.try_admit(0), "two releases paid the debt");
        gate.release(|| MS);
        assert!(gate.try_admit(0));
    }
}

/// Loom models: `RUSTFLAGS="--cfg hardy_loom" cargo test -p hardy-core --lib --release loom`.
#[cfg(all(test, hardy_loom))]
mod loom_models {
    use super::*;

    /// A release racing a call that finds the gate full: the call is admitted, or
    /// queued and granted; never stranded in the queue beside a free slot.
    #[test]
    fn loom_release_racing_an_enqueue() {
        loom::model(|| {
            let gate = Arc::new(Gate::new([1], Some(100)));
            assert!(gate.try_admit(0));
            let releaser = {
                let gate = Arc::clone(&gate);
                loom::thread::spawn(move || {
                    gate.release(|| 1);
                })
            };
            let admitted = if gate.try_admit(0) {
                true
            } else {
                match gate.enqueue(0, 4, 0) {
                    Enqueued::Admitted => true,
                    Enqueued::Waiting { waiter, .. } => {
                        releaser.join().unwrap();
                        let mut cx = Context::from_waker(Waker::noop());
                        assert!(waiter.poll_granted(&mut cx).is_ready(), "stranded waiter");
                        return assert_eq!((gate.in_flight(), gate.waiting()), (1, 0));
                    }
                    Enqueued::Full => false,
                }
            };
            releaser.join().unwrap();
            assert!(admitted);
            assert_eq!((gate.in_flight(), gate.waiting()), (1, 0));
        });
    }

    /// A waiter cancelling while a release hands it a slot: the slot is either held by
    /// the cancelling side or was never granted; the counts balance.
    #[test]
    fn loom_cancel_racing_a_hand_over() {
        loom::model(|| {
            let gate = Arc::new(Gate::new([1], None));
            assert!(gate.try_admit(0));
            let Enqueued::Waiting { waiter, .. } = gate.enqueue(0, 4, 0) else {
                panic!("the gate is full");
            };
            let releaser = {
                let gate = Arc::clone(&gate);
                loom::thread::spawn(move || {
                    gate.release(|| 1);
                })
            };
            if gate.cancel(&waiter, 1) {
                gate.release(|| 2);
            }
            releaser.join().unwrap();
            assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
        });
    }

    /// Two threads racing for one slot through the fast path and the queue, each giving
    /// up its wait at once: the slot is never held twice and never lost.
    #[test]
    fn loom_racing_admissions_and_a_cancel_keep_the_count() {
        loom::model(|| {
            let gate = Arc::new(Gate::new([1], None));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let gate = Arc::clone(&gate);
                    loom::thread::spawn(move || {
                        if gate.try_admit(0) {
                            gate.release(|| 0);
                            return;
                        }
                        match gate.enqueue(0, 1, 0) {
                            Enqueued::Admitted => {
                                gate.release(|| 0);
                            }
                            Enqueued::Waiting { waiter, .. } => {
                                // Give up; a slot handed over meanwhile goes back.
                                if gate.cancel(&waiter, 0) {
                                    gate.release(|| 0);
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
            assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
        });
    }
}

//! The admission gate: calls in flight and waiters in one atomic word, a threshold per
//! priority, and a wait queue served highest priority first.
//!
//! An admission below the threshold is one compare-and-swap, a release one atomic
//! subtraction; the queue is locked only when calls wait.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

/// The low half of the word counts the calls in flight, the high half the waiters.
const LOW: u64 = 0xFFFF_FFFF;
const ONE_WAITER: u64 = 1 << 32;

fn in_flight_of(word: u64) -> u32 {
    (word & LOW) as u32
}

fn waiters_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// The threshold of each priority under `limit`: the limit for priority 0, and
/// `1 − reserve` of the one above for each next level, at least one call.
pub(crate) fn thresholds(limit: u32, reserve: f64, levels: u8) -> impl Iterator<Item = u32> {
    (0..levels).map(move |level| {
        let share = (1.0 - reserve).powi(i32::from(level));
        ((f64::from(limit) * share).floor() as u32).max(1)
    })
}

/// A queued call: granted a slot by whoever frees one.
#[derive(Debug)]
pub(crate) struct Waiter {
    id: u64,
    priority: u8,
    granted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Waiter {
    /// Ready once a slot was handed to this waiter.
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
}

/// What [`Gate::enqueue`] did.
#[derive(Debug)]
pub(crate) enum Enqueued {
    /// A slot was free after all: taken.
    Admitted,
    /// Queued; wait on the waiter for at most this long (nanoseconds).
    Waiting(Arc<Waiter>, u64),
    /// The queue is full.
    Full,
}

#[derive(Debug)]
struct Queue {
    /// Waiters by priority level.
    levels: Vec<VecDeque<Arc<Waiter>>>,
    len: u32,
    max_waiting: u32,
    /// The last time the queue was empty (nanoseconds).
    last_empty: u64,
    next_id: u64,
    target: u64,
    interval: u64,
}

impl Queue {
    /// Whether the queue has not been empty for `interval`.
    fn standing(&self, now: u64) -> bool {
        self.len > 0 && now.saturating_sub(self.last_empty) > self.interval
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

/// Queue settings: most waiters, and the CoDel target and interval (nanoseconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub(crate) max_waiting: u32,
    pub(crate) target: u64,
    pub(crate) interval: u64,
}

#[derive(Debug)]
pub(crate) struct Gate {
    word: CachePadded<AtomicU64>,
    thresholds: Box<[AtomicU32]>,
    reserve: f64,
    queue: Option<Mutex<Queue>>,
}

impl Gate {
    pub(crate) fn new(limit: u32, reserve: f64, levels: u8, queue: Option<QueueLimits>) -> Self {
        Gate {
            word: CachePadded::new(AtomicU64::new(0)),
            thresholds: thresholds(limit, reserve, levels)
                .map(AtomicU32::new)
                .collect(),
            reserve,
            queue: queue.map(|limits| {
                Mutex::new(Queue {
                    levels: (0..levels).map(|_| VecDeque::new()).collect(),
                    len: 0,
                    max_waiting: limits.max_waiting,
                    last_empty: 0,
                    next_id: 0,
                    target: limits.target,
                    interval: limits.interval,
                })
            }),
        }
    }

    /// The priority levels.
    pub(crate) fn levels(&self) -> u8 {
        self.thresholds.len() as u8
    }

    /// Calls in flight now (granted waiters included).
    pub(crate) fn in_flight(&self) -> u32 {
        in_flight_of(self.word.load(Ordering::Acquire))
    }

    /// Calls waiting now.
    pub(crate) fn waiting(&self) -> u32 {
        waiters_of(self.word.load(Ordering::Acquire))
    }

    /// The threshold of priority `level` now.
    #[inline]
    pub(crate) fn threshold(&self, level: u8) -> u32 {
        self.thresholds[usize::from(level)].load(Ordering::Relaxed)
    }

    /// The limit now: priority 0's threshold.
    pub(crate) fn limit(&self) -> u32 {
        self.threshold(0)
    }

    /// Whether the gate has a wait queue.
    pub(crate) fn has_queue(&self) -> bool {
        self.queue.is_some()
    }

    /// Takes a slot if the calls in flight are below `level`'s threshold and nobody
    /// waits.
    #[inline]
    pub(crate) fn try_admit(&self, level: u8) -> bool {
        let threshold = self.threshold(level);
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if waiters_of(word) != 0 || in_flight_of(word) >= threshold {
                return false;
            }
            match self.word.compare_exchange_weak(
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
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if in_flight_of(word) >= threshold {
                return false;
            }
            match self.word.compare_exchange_weak(
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
    /// of the same or a higher priority waits, or joins the queue.
    ///
    /// Without a queue there is no place to wait: [`Enqueued::Full`].
    pub(crate) fn enqueue(&self, level: u8, now: u64) -> Enqueued {
        let Some(queue) = &self.queue else {
            return Enqueued::Full;
        };
        let mut queue = queue.lock();
        let threshold = self.threshold(level);
        // Claim a place first, so that a release from now on hands over under the lock.
        self.word.fetch_add(ONE_WAITER, Ordering::AcqRel);
        let ahead = queue.levels[..=usize::from(level)]
            .iter()
            .any(|waiters| !waiters.is_empty());
        if !ahead && self.take_as_waiter(threshold) {
            return Enqueued::Admitted;
        }
        if queue.len >= queue.max_waiting {
            self.word.fetch_sub(ONE_WAITER, Ordering::AcqRel);
            return Enqueued::Full;
        }
        if queue.len == 0 {
            queue.last_empty = now;
        }
        let wait = if queue.standing(now) {
            queue.target
        } else {
            queue.interval
        };
        queue.next_id += 1;
        let waiter = Arc::new(Waiter {
            id: queue.next_id,
            priority: level,
            granted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        queue.levels[usize::from(level)].push_back(Arc::clone(&waiter));
        queue.len += 1;
        Enqueued::Waiting(waiter, wait)
    }

    /// Frees a slot (handing it to a waiter if one fits); `now` is read only then.
    /// Returns the calls in flight before.
    #[inline]
    pub(crate) fn release(&self, now: impl FnOnce() -> u64) -> u32 {
        let before = self.word.fetch_sub(1, Ordering::AcqRel);
        if waiters_of(before) != 0 {
            self.hand_over(now());
        }
        in_flight_of(before)
    }

    /// Grants slots to waiters while the first of them fits its threshold: highest
    /// priority first, oldest first (newest first while the queue stands).
    pub(crate) fn hand_over(&self, now: u64) {
        let Some(queue) = &self.queue else { return };
        let mut wake = Vec::new();
        {
            let mut queue = queue.lock();
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

    /// Takes `waiter` out of the queue at `now`. Returns whether it had been granted a
    /// slot already, which the caller then holds.
    pub(crate) fn cancel(&self, waiter: &Waiter, now: u64) -> bool {
        let Some(queue) = &self.queue else {
            return false;
        };
        let mut queue = queue.lock();
        if waiter.granted.load(Ordering::Acquire) {
            return true;
        }
        let waiters = &mut queue.levels[usize::from(waiter.priority)];
        if let Some(at) = waiters.iter().position(|queued| queued.id == waiter.id) {
            waiters.remove(at);
            queue.removed_one(now);
            self.word.fetch_sub(ONE_WAITER, Ordering::AcqRel);
        }
        false
    }

    /// Sets the limit (and every threshold from it), then grants waiters that now fit.
    pub(crate) fn set_limit(&self, limit: u32, now: impl FnOnce() -> u64) {
        for (slot, threshold) in
            self.thresholds
                .iter()
                .zip(thresholds(limit, self.reserve, self.levels()))
        {
            slot.store(threshold, Ordering::Relaxed);
        }
        if self.waiting() != 0 {
            self.hand_over(now());
        }
    }
}

#[cfg(all(test, not(hardy_loom)))]
mod tests {
    use std::task::Context;

    use super::*;

    const MS: u64 = 1_000_000;

    fn queue(max_waiting: u32) -> Option<QueueLimits> {
        Some(QueueLimits {
            max_waiting,
            target: 5 * MS,
            interval: 100 * MS,
        })
    }

    fn waiting(enqueued: Enqueued) -> (Arc<Waiter>, u64) {
        match enqueued {
            Enqueued::Waiting(waiter, wait) => (waiter, wait),
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    fn granted(waiter: &Waiter) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        waiter.poll_granted(&mut cx).is_ready()
    }

    #[test]
    fn thresholds_step_down_by_the_reserve() {
        assert_eq!(
            thresholds(100, 0.2, 4).collect::<Vec<_>>(),
            [100, 80, 64, 51]
        );
        assert_eq!(thresholds(2, 0.5, 3).collect::<Vec<_>>(), [2, 1, 1]);
        assert_eq!(thresholds(7, 0.0, 2).collect::<Vec<_>>(), [7, 7]);
    }

    #[test]
    fn admits_below_each_priority_threshold() {
        let gate = Gate::new(10, 0.2, 3, None);
        for _ in 0..6 {
            assert!(gate.try_admit(2));
        }
        assert!(!gate.try_admit(2), "priority 2 stops at 6");
        assert!(gate.try_admit(1) && gate.try_admit(1));
        assert!(!gate.try_admit(1), "priority 1 stops at 8");
        assert!(gate.try_admit(0) && gate.try_admit(0));
        assert!(!gate.try_admit(0), "priority 0 stops at the limit");
        assert_eq!(gate.in_flight(), 10);
        assert_eq!(gate.release(|| 0), 10);
        assert!(gate.try_admit(0));
    }

    #[test]
    fn a_release_hands_over_to_the_highest_priority_waiter() {
        let gate = Gate::new(1, 0.2, 2, queue(4));
        assert!(gate.try_admit(0));
        let (low, _) = waiting(gate.enqueue(1, 0));
        let (high, _) = waiting(gate.enqueue(0, 0));
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
        let gate = Gate::new(2, 0.5, 2, queue(4));
        assert!(gate.try_admit(1));
        let (low, _) = waiting(gate.enqueue(1, 0));
        assert!(
            !gate.try_admit(0),
            "the fast path leaves waiters to the slow one"
        );
        assert!(matches!(gate.enqueue(0, 0), Enqueued::Admitted));
        assert_eq!((gate.in_flight(), gate.waiting()), (2, 1));
        assert!(!granted(&low));
    }

    #[test]
    fn a_standing_queue_waits_target_and_serves_newest_first() {
        let gate = Gate::new(1, 0.0, 1, queue(8));
        assert!(gate.try_admit(0));
        let (oldest, wait) = waiting(gate.enqueue(0, 0));
        assert_eq!(wait, 100 * MS, "a fresh queue waits up to the interval");
        let (middle, _) = waiting(gate.enqueue(0, 50 * MS));
        let (newest, wait) = waiting(gate.enqueue(0, 150 * MS));
        assert_eq!(wait, 5 * MS, "non-empty for over the interval: the target");
        gate.release(|| 160 * MS);
        assert!(granted(&newest) && !granted(&middle) && !granted(&oldest));
        // Drain: the queue stops standing once empty.
        assert!(!gate.cancel(&oldest, 170 * MS));
        gate.release(|| 170 * MS);
        assert!(granted(&middle));
        gate.release(|| 171 * MS);
        assert!(gate.try_admit(0));
        let (_, wait) = waiting(gate.enqueue(0, 200 * MS));
        assert_eq!(wait, 100 * MS);
    }

    #[test]
    fn a_full_queue_refuses_and_a_cancelled_waiter_leaves() {
        let gate = Gate::new(1, 0.0, 1, queue(1));
        assert!(gate.try_admit(0));
        let (waiter, _) = waiting(gate.enqueue(0, 0));
        assert!(matches!(gate.enqueue(0, 0), Enqueued::Full));
        assert_eq!(gate.waiting(), 1);
        assert!(!gate.cancel(&waiter, MS));
        assert_eq!(gate.waiting(), 0);
        gate.release(|| MS);
        assert_eq!(gate.in_flight(), 0);
        // A waiter granted before it cancels holds the slot.
        assert!(gate.try_admit(0));
        let (waiter, _) = waiting(gate.enqueue(0, 0));
        gate.release(|| MS);
        assert!(gate.cancel(&waiter, MS));
        assert_eq!(gate.in_flight(), 1);
    }

    #[test]
    fn a_raised_limit_grants_waiters() {
        let gate = Gate::new(1, 0.0, 1, queue(4));
        assert!(gate.try_admit(0));
        let (a, _) = waiting(gate.enqueue(0, 0));
        let (b, _) = waiting(gate.enqueue(0, 0));
        gate.set_limit(3, || MS);
        assert!(granted(&a) && granted(&b));
        assert_eq!((gate.in_flight(), gate.waiting()), (3, 0));
        gate.set_limit(1, || MS);
        assert!(!gate.try_admit(0), "a lowered limit drains");
    }
}

#[cfg(all(test, hardy_loom))]
mod loom_tests {
    use std::task::Context;

    use super::*;

    fn queue() -> Option<QueueLimits> {
        Some(QueueLimits {
            max_waiting: 4,
            target: 5,
            interval: 100,
        })
    }

    /// A release racing a call that finds the gate full: the call is admitted, or
    /// queued and granted; never stranded in the queue beside a free slot.
    #[test]
    fn loom_release_racing_an_enqueue() {
        loom::model(|| {
            let gate = Arc::new(Gate::new(1, 0.0, 1, queue()));
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
                match gate.enqueue(0, 0) {
                    Enqueued::Admitted => true,
                    Enqueued::Waiting(waiter, _) => {
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
            let gate = Arc::new(Gate::new(1, 0.0, 1, queue()));
            assert!(gate.try_admit(0));
            let Enqueued::Waiting(waiter, _) = gate.enqueue(0, 0) else {
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
}

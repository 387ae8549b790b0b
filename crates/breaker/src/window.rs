//! The sliding windows a breaker judges its failure and slow-call ratios over: the last
//! `size` calls ([`CountWindow`]) or the last stretch of time ([`TimeWindow`]), all
//! atomics.

use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::state::{Mark, Totals};
use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering};

/// The last `size` calls: a ring of failure and slow bits with running counts. O(1) per
/// call and lock-free; the counts always equal the set bits.
///
/// Every finished call takes the next position of the ring. So that threads do not all
/// write one counter, each running thread (by its
/// [`thread_index`](hardy_core::thread_index)) reserves a run of positions at once and
/// takes them one by one from a slot of its own. On one thread the window is exactly the
/// last `size` calls: positions are taken in the order calls finish, and the unused rest
/// of the run is not counted. The shared counter carries the generation it was cleared
/// for, so a call of an earlier cycle finishing late reserves nothing in the new one.
/// With several threads a call can land up to a run per thread away from its place in
/// time; together the runs cover at most half the window.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// The first position no thread has reserved: on a cache line of its own, so that
    /// writing it does not evict the state word that every call reads.
    next: CachePadded<AtomicU64>,
    /// Positions a thread reserves at once.
    batch: u64,
    /// Each thread's reserved run, by thread index, each on a cache line of its own.
    runs: Box<[CachePadded<AtomicU64>]>,
    /// The ring's failure bits, whole cache lines of them: every call reads them, so
    /// they share no line with anything another thread writes (a reference count
    /// allocated next to them, say).
    failure_bits: Box<[Line]>,
    /// Empty when slow calls are not detected: no call is ever slow then.
    slow_bits: Box<[Line]>,
    failures: AtomicU32,
    slow: AtomicU32,
}

/// Words of ring bits on one cache line (padded as `CachePadded` pads).
const WORDS_PER_LINE: usize = 16;

/// A cache line of ring bits.
type Line = CachePadded<[AtomicU64; WORDS_PER_LINE]>;

/// Ring bits enough for `words` words, in whole lines.
fn lines(words: usize) -> Box<[Line]> {
    (0..words.div_ceil(WORDS_PER_LINE))
        .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
        .collect()
}

/// Word `word` of the ring bits in `lines`, if there are bits.
#[inline]
fn word_of(lines: &[Line], word: usize) -> Option<&AtomicU64> {
    lines
        .get(word / WORDS_PER_LINE)
        .map(|line| &line[word % WORDS_PER_LINE])
}

/// A run packed in a word: the generation it was reserved in (high 32 bits), the
/// positions left in it (8 bits) and the ring slot of the next one (low 24 bits).
/// Window sizes are at most 2^20 and runs at most [`MAX_BATCH`] long, so both fit.
const LEFT_SHIFT: u32 = 24;
const LEFT_ONE: u64 = 1 << LEFT_SHIFT;
const SLOT_MASK: u64 = LEFT_ONE - 1;
const LEFT_MASK: u64 = 0xFF << LEFT_SHIFT;
/// The longest run a thread reserves.
const MAX_BATCH: u64 = 64;

/// The shared counter packs the generation it reserves for (high 32 bits) with the
/// number of positions reserved (low 32 bits).
const POSITION_MASK: u64 = u32::MAX as u64;

/// The generation a run or the shared counter belongs to.
#[inline]
fn generation_of(packed: u64) -> u32 {
    (packed >> 32) as u32
}

/// `generation` in the high 32 bits of a run or of the shared counter.
#[inline]
fn in_generation(generation: u32) -> u64 {
    u64::from(generation) << 32
}

/// The positions left in a run.
#[inline]
fn left_in(packed: u64) -> u64 {
    (packed & LEFT_MASK) >> LEFT_SHIFT
}

const _: () = assert!(crate::config::MAX_WINDOW_SIZE as u64 <= SLOT_MASK + 1);
const _: () = assert!(MAX_BATCH < 0xFF);

impl CountWindow {
    /// A window of the last `size` calls, with slow-call bits if `slow_calls` are
    /// detected, and runs for the first `threads` thread indices.
    pub(crate) fn new(size: u32, slow_calls: bool, threads: usize) -> Self {
        let words = (size as usize).div_ceil(64);
        CountWindow {
            size: u64::from(size),
            next: CachePadded::new(AtomicU64::new(0)),
            // All the runs together cover at most half the window.
            batch: (u64::from(size) / (2 * threads.max(1) as u64)).clamp(1, MAX_BATCH),
            runs: (0..threads)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            failure_bits: lines(words),
            slow_bits: lines(if slow_calls { words } else { 0 }),
            failures: AtomicU32::new(0),
            slow: AtomicU32::new(0),
        }
    }

    /// Records a call of generation 0 in the next position of the shared counter.
    #[cfg(test)]
    pub(crate) fn record(&self, mark: Mark) {
        let slot = self.reserve(1, 0).expect("a window of generation 0");
        self.record_in_slot(slot, mark);
    }

    /// Takes the next position for a call of `generation` finishing on the thread with
    /// index `thread`, and returns its ring slot: from the thread's run, reserving a new
    /// run when it is used up or from an earlier generation. `None` if the window has
    /// moved on to another generation: the call's result says nothing about it.
    #[inline]
    pub(crate) fn take(&self, thread: usize, generation: u32) -> Option<u64> {
        let Some(run) = self.runs.get(thread) else {
            return self.reserve(1, generation);
        };
        // Only this thread writes its run (and `clear`, which zeroes it), so a load and
        // a store suffice.
        let packed = run.load(Ordering::Relaxed);
        // Of `generation` with a position left, in one test: the generation bits cancel
        // and the count of positions left is not zero.
        let mine = packed ^ in_generation(generation);
        if mine.wrapping_sub(LEFT_ONE) >= (1 << 32) - LEFT_ONE {
            return self.refill(run, generation);
        }
        let slot = packed & SLOT_MASK;
        let rest = (packed & !SLOT_MASK) - LEFT_ONE;
        run.store(rest | self.next_slot(slot), Ordering::Relaxed);
        Some(slot)
    }

    /// Reserves a new run for a thread and takes its first position.
    #[inline(never)]
    fn refill(&self, run: &AtomicU64, generation: u32) -> Option<u64> {
        let first = self.reserve(self.batch, generation)?;
        let packed =
            in_generation(generation) | ((self.batch - 1) << LEFT_SHIFT) | self.next_slot(first);
        run.store(packed, Ordering::Relaxed);
        Some(first)
    }

    /// Reserves `slots` consecutive positions of `generation` and returns the ring slot
    /// of the first, or `None` if the window was cleared for another generation.
    #[inline]
    fn reserve(&self, slots: u64, generation: u32) -> Option<u64> {
        let mut current = self.next.load(Ordering::Relaxed);
        loop {
            if generation_of(current) != generation {
                return None;
            }
            let position = current & POSITION_MASK;
            let mut end = position + slots;
            if end > POSITION_MASK / 2 {
                // Keep the count bounded: the same ring slot, and more positions than
                // all the runs can leave untaken, so the window still reads as full.
                end = 2 * self.size + end % self.size;
            }
            match self.next.compare_exchange(
                current,
                (current & !POSITION_MASK) | end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(self.slot(position)),
                Err(actual) => current = actual,
            }
        }
    }

    /// The ring slot of `position`.
    #[inline]
    fn slot(&self, position: u64) -> u64 {
        position % self.size
    }

    /// The slot after `slot`, without a division.
    #[inline]
    fn next_slot(&self, slot: u64) -> u64 {
        if slot + 1 == self.size { 0 } else { slot + 1 }
    }

    /// Records the call in ring slot `slot`.
    #[inline]
    pub(crate) fn record_in_slot(&self, slot: u64, mark: Mark) {
        let (word, bit) = ((slot / 64) as usize, 1_u64 << (slot % 64));
        if let Some(failure) = word_of(&self.failure_bits, word) {
            set_bit(failure, bit, mark.failure, &self.failures);
        }
        if let Some(slow) = word_of(&self.slow_bits, word) {
            set_bit(slow, bit, mark.slow, &self.slow);
        }
    }

    /// The totals of generation `generation`: positions reserved but not yet taken
    /// (the rest of each thread's run) are not counted as calls.
    pub(crate) fn totals(&self, generation: u32) -> Totals {
        let next = self.next.load(Ordering::Relaxed);
        if generation_of(next) != generation {
            return Totals::default();
        }
        let reserved = next & POSITION_MASK;
        let untaken: u64 = self
            .runs
            .iter()
            .map(|run| run.load(Ordering::Relaxed))
            .filter(|&packed| generation_of(packed) == generation)
            .map(left_in)
            .sum();
        Totals {
            calls: reserved.saturating_sub(untaken).min(self.size) as u32,
            failures: self.failures.load(Ordering::Relaxed),
            slow: self.slow.load(Ordering::Relaxed),
        }
    }

    /// Empties the window for the calls of `generation`: positions are reserved only
    /// for it from now on.
    pub(crate) fn clear(&self, generation: u32) {
        self.next
            .store(in_generation(generation), Ordering::Relaxed);
        for run in self.runs.iter() {
            run.store(0, Ordering::Relaxed);
        }
        for bits in self
            .failure_bits
            .iter()
            .chain(self.slow_bits.iter())
            .flat_map(|line| line.iter())
        {
            bits.store(0, Ordering::Relaxed);
        }
        self.failures.store(0, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
    }
}

/// Sets or clears `bit` in `word`, keeping `count` equal to the number of set bits.
#[inline]
fn set_bit(word: &AtomicU64, bit: u64, set: bool, count: &AtomicU32) {
    if set {
        if word.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            count.fetch_add(1, Ordering::Relaxed);
        }
    } else if word.load(Ordering::Relaxed) & bit != 0
        && word.fetch_and(!bit, Ordering::Relaxed) & bit != 0
    {
        count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One bucket of a time window: the bucket's number in time, and its counts.
#[derive(Debug)]
struct Bucket {
    epoch: AtomicU64,
    calls: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
}

/// The calls of the last `length`, in fixed buckets; a bucket is emptied when time
/// reaches it again, so old calls leave the window a bucket at a time.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    buckets: Box<[Bucket]>,
    roll: Mutex<()>,
}

impl TimeWindow {
    pub(crate) fn new(length: Duration, buckets: u32) -> Self {
        let bucket = length / buckets;
        TimeWindow {
            bucket_nanos: u64::try_from(bucket.as_nanos()).unwrap_or(u64::MAX).max(1),
            // Epoch 0 is "never used": real epochs start at 1.
            buckets: (0..buckets)
                .map(|_| Bucket {
                    epoch: AtomicU64::new(0),
                    calls: AtomicU32::new(0),
                    failures: AtomicU32::new(0),
                    slow: AtomicU32::new(0),
                })
                .collect(),
            roll: Mutex::new(()),
        }
    }

    fn epoch(&self, since_start: Duration) -> u64 {
        let nanos = u64::try_from(since_start.as_nanos()).unwrap_or(u64::MAX);
        nanos / self.bucket_nanos + 1
    }

    #[inline]
    pub(crate) fn record(&self, since_start: Duration, mark: Mark) {
        let epoch = self.epoch(since_start);
        let bucket = &self.buckets[(epoch % self.buckets.len() as u64) as usize];
        if bucket.epoch.load(Ordering::Acquire) != epoch {
            let _roll = self.roll.lock();
            if bucket.epoch.load(Ordering::Acquire) != epoch {
                bucket.calls.store(0, Ordering::Relaxed);
                bucket.failures.store(0, Ordering::Relaxed);
                bucket.slow.store(0, Ordering::Relaxed);
                bucket.epoch.store(epoch, Ordering::Release);
            }
        }
        bucket.calls.fetch_add(1, Ordering::Relaxed);
        if mark.failure {
            bucket.failures.fetch_add(1, Ordering::Relaxed);
        }
        if mark.slow {
            bucket.slow.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn totals(&self, since_start: Duration) -> Totals {
        let now = self.epoch(since_start);
        let span = self.buckets.len() as u64;
        let mut totals = Totals::default();
        for bucket in self.buckets.iter() {
            let epoch = bucket.epoch.load(Ordering::Acquire);
            if epoch != 0 && epoch <= now && now - epoch < span {
                totals.calls = totals
                    .calls
                    .saturating_add(bucket.calls.load(Ordering::Relaxed));
                totals.failures = totals
                    .failures
                    .saturating_add(bucket.failures.load(Ordering::Relaxed));
                totals.slow = totals
                    .slow
                    .saturating_add(bucket.slow.load(Ordering::Relaxed));
            }
        }
        totals
    }

    pub(crate) fn clear(&self) {
        let _roll = self.roll.lock();
        for bucket in self.buckets.iter() {
            bucket.epoch.store(0, Ordering::Release);
            bucket.calls.store(0, Ordering::Relaxed);
            bucket.failures.store(0, Ordering::Relaxed);
            bucket.slow.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mark((failure, slow): (bool, bool)) -> Mark {
        Mark { failure, slow }
    }

    proptest! {
        #[test]
        fn count_window_matches_a_naive_model(
            size in 1_u32..200,
            slow_calls in any::<bool>(),
            calls in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..600),
        ) {
            let window = CountWindow::new(size, slow_calls, 4);
            // Without slow-call detection no call is slow.
            let calls: Vec<_> = calls.into_iter().map(|(failure, slow)| (failure, slow && slow_calls)).collect();
            for call in &calls {
                window.record(mark(*call));
            }
            let last: Vec<_> = calls.iter().rev().take(size as usize).collect();
            let expected = Totals {
                calls: last.len() as u32,
                failures: last.iter().filter(|(failure, _)| *failure).count() as u32,
                slow: last.iter().filter(|(_, slow)| *slow).count() as u32,
            };
            prop_assert_eq!(window.totals(0), expected);
        }

        /// One thread taking positions from its run, across generation changes and
        /// clears: always exactly the last `size` calls of the current cycle.
        #[test]
        fn one_threads_runs_keep_exactly_the_last_calls(
            size in 1_u32..200,
            threads in 1_usize..8,
            steps in proptest::collection::vec((any::<bool>(), 0_u8..40), 0..600),
        ) {
            let window = CountWindow::new(size, false, threads);
            let thread = threads - 1;
            let (mut generation, mut calls) = (0_u32, Vec::new());
            for (failure, action) in steps {
                match action {
                    // A new cycle: the breaker clears the window and moves on.
                    0 => {
                        generation = generation.wrapping_add(1);
                        window.clear(generation);
                        calls.clear();
                    }
                    // A clear in the same cycle (a metrics-only breaker's report).
                    1 => {
                        window.clear(generation);
                        calls.clear();
                    }
                    // A call of the cycle before, finishing late: it takes no position.
                    2 => {
                        let late = window.take(thread, generation.wrapping_sub(1));
                        prop_assert_eq!(late, None);
                    }
                    _ => {
                        let slot = window.take(thread, generation).expect("the window's generation");
                        window.record_in_slot(slot, mark((failure, false)));
                        calls.push(failure);
                    }
                }
                let last: Vec<_> = calls.iter().rev().take(size as usize).collect();
                let expected = Totals {
                    calls: last.len() as u32,
                    failures: last.iter().filter(|failure| ***failure).count() as u32,
                    slow: 0,
                };
                prop_assert_eq!(window.totals(generation), expected);
            }
        }

        /// Threads taking turns: the calls are counted exactly, and the failure count
        /// equals the failure bits and never exceeds the failures made.
        #[test]
        fn threads_taking_turns_count_every_call(
            size in 1_u32..200,
            calls in proptest::collection::vec((0_usize..6, any::<bool>()), 0..600),
        ) {
            // Four threads with runs, two (indices 4 and 5) on the shared counter.
            let window = CountWindow::new(size, false, 4);
            let mut failures = 0;
            for (n, (thread, failure)) in calls.iter().enumerate() {
                let slot = window.take(*thread, 0).expect("the window's generation");
                window.record_in_slot(slot, mark((*failure, false)));
                failures += u32::from(*failure);
                let totals = window.totals(0);
                prop_assert_eq!(totals.calls, (n as u32 + 1).min(size));
                let bits: u32 = window.failure_bits.iter().flat_map(|line| line.iter()).map(|bits| bits.load(Ordering::Relaxed).count_ones()).sum();
                prop_assert_eq!(totals.failures, bits);
                prop_assert!(totals.failures <= failures.min(size));
            }
        }

        #[test]
        fn time_window_matches_a_naive_model(
            buckets in 1_u32..20,
            calls in proptest::collection::vec((0_u64..50, any::<bool>(), any::<bool>()), 0..300),
        ) {
            // Buckets of 1 s; calls at non-decreasing whole seconds.
            let window = TimeWindow::new(Duration::from_secs(u64::from(buckets)), buckets);
            let mut now = 0;
            let mut seen = Vec::new();
            for (step, failure, slow) in calls {
                now += step % 3;
                window.record(Duration::from_secs(now), mark((failure, slow)));
                seen.push((now, failure, slow));
            }
            let inside: Vec<_> = seen.iter().filter(|(at, ..)| now - at < u64::from(buckets)).collect();
            let expected = Totals {
                calls: inside.len() as u32,
                failures: inside.iter().filter(|(_, failure, _)| *failure).count() as u32,
                slow: inside.iter().filter(|(_, _, slow)| *slow).count() as u32,
            };
            prop_assert_eq!(window.totals(Duration::from_secs(now)), expected);
        }
    }

    #[test]
    fn a_late_call_of_an_earlier_cycle_reserves_nothing_in_the_new_one() {
        let window = CountWindow::new(100, false, 4);
        // A thread with a run of generation 0 and a thread on the shared counter.
        for thread in [0, 7] {
            let slot = window.take(thread, 0).expect("generation 0");
            window.record_in_slot(slot, mark((true, false)));
        }
        window.clear(1);
        for thread in [0, 1, 7] {
            assert_eq!(window.take(thread, 0), None, "thread {thread}");
        }
        assert_eq!(window.totals(1), Totals::default());
        let slot = window.take(1, 1).expect("generation 1");
        window.record_in_slot(slot, mark((false, false)));
        assert_eq!(
            window.totals(1),
            Totals {
                calls: 1,
                ..Totals::default()
            }
        );
        assert_eq!(window.totals(0), Totals::default(), "generation 0 is gone");
    }

    #[test]
    fn the_ring_bits_fill_whole_cache_lines_of_their_own() {
        // Every call reads the ring bits: sharing a line with memory another thread
        // writes (a reference count allocated beside them) made two-thread calls
        // several times slower, depending on where the allocator put them.
        for (size, slow_calls) in [(1, false), (100, true), (1_000, true), (1 << 20, false)] {
            let window = CountWindow::new(size, slow_calls, 4);
            let line = std::mem::align_of::<Line>();
            assert!(line >= 64, "at least a cache line");
            for bits in [&window.failure_bits, &window.slow_bits] {
                if bits.is_empty() {
                    continue;
                }
                assert_eq!(bits.as_ptr() as usize % line, 0, "size {size}: aligned");
                assert_eq!(
                    std::mem::size_of_val(&**bits) % line,
                    0,
                    "size {size}: whole lines"
                );
                assert!(
                    bits.len() * WORDS_PER_LINE * 64 >= size as usize,
                    "size {size}"
                );
            }
            assert_eq!(window.slow_bits.is_empty(), !slow_calls);
        }
    }

    #[test]
    fn the_reserved_count_stays_bounded_and_the_window_full() {
        let window = CountWindow::new(10, false, 1);
        window.next.store(POSITION_MASK / 2 - 3, Ordering::Relaxed);
        let mut slots = Vec::new();
        for _ in 0..10 {
            let slot = window.take(5, 0).expect("generation 0");
            window.record_in_slot(slot, mark((true, false)));
            slots.push(slot);
        }
        let first = (POSITION_MASK / 2 - 3) % 10;
        let expected: Vec<_> = (0..10).map(|n| (first + n) % 10).collect();
        assert_eq!(slots, expected, "the ring order survives the wrap");
        assert!(window.next.load(Ordering::Relaxed) & POSITION_MASK < 100);
        assert_eq!(
            window.totals(0),
            Totals {
                calls: 10,
                failures: 10,
                slow: 0
            }
        );
    }

    #[test]
    fn cleared_windows_are_empty() {
        let count = CountWindow::new(10, true, 4);
        let time = TimeWindow::new(Duration::from_secs(10), 5);
        for _ in 0..20 {
            count.record(mark((true, true)));
            time.record(Duration::from_secs(3), mark((true, true)));
        }
        let untimed = CountWindow::new(100, false, 4);
        for _ in 0..20 {
            untimed.record(mark((true, false)));
        }
        count.clear(0);
        time.clear();
        untimed.clear(0);
        assert_eq!(count.totals(0), Totals::default());
        assert_eq!(untimed.totals(0), Totals::default());
        untimed.record(mark((false, false)));
        assert_eq!(
            untimed.totals(0),
            Totals {
                calls: 1,
                ..Totals::default()
            },
            "clearing a window without slow bits clears its failure bits"
        );
        assert_eq!(time.totals(Duration::from_secs(3)), Totals::default());
    }
}

#[cfg(all(test, hardy_loom))]
mod loom_models;

//! Feeds completed calls into the limit algorithm, a window at a time.
//!
//! A completion adds to the window with a few atomic operations; whoever completes a
//! call after the window's end takes the algorithm's lock (without waiting for it) and
//! applies the window. A sample racing the swap may land in the next window, which
//! only moves it by one window.

use crate::limit::{Algorithm, MIN_WINDOW_SAMPLES, Step, WindowStats};
use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering};

const NOT_PROBING: u64 = u64::MAX;

/// What a window did to the limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed {
    pub(crate) step: Step,
    pub(crate) limit: u32,
    pub(crate) rtt: f64,
}

#[derive(Debug)]
pub(crate) struct Sampler {
    window: u64,
    /// A call slower than this is a drop (nanoseconds; `u64::MAX`: none).
    slow: u64,
    window_end: AtomicU64,
    samples: AtomicU32,
    sum_nanos: AtomicU64,
    drops: AtomicU32,
    max_in_flight: AtomicU32,
    probing_since: AtomicU64,
    /// The last window's mean latency (nanoseconds; 0: none yet).
    rtt: AtomicU64,
    /// The minimum latency measured (nanoseconds; 0: none yet).
    min_rtt: AtomicU64,
    algorithm: Mutex<Algorithm>,
}

impl Sampler {
    /// Starts at the shedder's epoch (time zero).
    pub(crate) fn new(algorithm: Algorithm, window: u64, slow: u64) -> Self {
        let probing = algorithm.probing_since().unwrap_or(NOT_PROBING);
        Sampler {
            window,
            slow,
            window_end: AtomicU64::new(window),
            samples: AtomicU32::new(0),
            sum_nanos: AtomicU64::new(0),
            drops: AtomicU32::new(0),
            max_in_flight: AtomicU32::new(0),
            probing_since: AtomicU64::new(probing),
            rtt: AtomicU64::new(0),
            min_rtt: AtomicU64::new(0),
            algorithm: Mutex::new(algorithm),
        }
    }

    /// Adds a call admitted at `start` that completed at `now` with `in_flight` calls
    /// running (itself included), failed or not. Returns what the window did if this
    /// completion closed it.
    #[inline]
    pub(crate) fn record(
        &self,
        start: u64,
        now: u64,
        in_flight: u32,
        failed: bool,
    ) -> Option<Closed> {
        // While probing, only calls admitted at the probe's low concurrency count.
        let probing = self.probing_since.load(Ordering::Relaxed);
        if probing != NOT_PROBING && start < probing {
            return None;
        }
        let rtt = now.saturating_sub(start);
        let samples = self.samples.fetch_add(1, Ordering::Relaxed) + 1;
        self.sum_nanos.fetch_add(rtt, Ordering::Relaxed);
        if failed || rtt > self.slow {
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
        self.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        if now < self.window_end.load(Ordering::Relaxed) || samples < MIN_WINDOW_SAMPLES {
            return None;
        }
        self.close(now)
    }

    #[cold]
    fn close(&self, now: u64) -> Option<Closed> {
        let mut algorithm = self.algorithm.try_lock()?;
        if now < self.window_end.load(Ordering::Relaxed) {
            return None;
        }
        let stats = WindowStats {
            samples: self.samples.swap(0, Ordering::Relaxed),
            sum_nanos: self.sum_nanos.swap(0, Ordering::Relaxed),
            drops: self.drops.swap(0, Ordering::Relaxed),
            max_in_flight: self.max_in_flight.swap(0, Ordering::Relaxed),
        };
        self.window_end
            .store(now.saturating_add(self.window), Ordering::Relaxed);
        let step = algorithm.on_window(now, &stats);
        let rtt = stats.sum_nanos as f64 / f64::from(stats.samples.max(1));
        self.rtt.store(rtt as u64, Ordering::Relaxed);
        if let Some(min_rtt) = algorithm.min_rtt() {
            self.min_rtt.store(min_rtt as u64, Ordering::Relaxed);
        }
        self.probing_since.store(
            algorithm.probing_since().unwrap_or(NOT_PROBING),
            Ordering::Relaxed,
        );
        Some(Closed {
            step,
            limit: algorithm.published(),
            rtt,
        })
    }

    /// Sets the limit at run time; returns the limit to publish.
    pub(crate) fn set(&self, limit: u32) -> u32 {
        let mut algorithm = self.algorithm.lock();
        algorithm.set(limit);
        algorithm.published()
    }

    /// The last window's mean latency in nanoseconds, if one was measured.
    pub(crate) fn rtt(&self) -> Option<u64> {
        Some(self.rtt.load(Ordering::Relaxed)).filter(|&rtt| rtt > 0)
    }

    /// The minimum latency in nanoseconds, if one was measured.
    pub(crate) fn min_rtt(&self) -> Option<u64> {
        Some(self.min_rtt.load(Ordering::Relaxed)).filter(|&rtt| rtt > 0)
    }

    /// Whether a probe of the minimum latency is under way.
    pub(crate) fn probing(&self) -> bool {
        self.probing_since.load(Ordering::Relaxed) != NOT_PROBING
    }
}

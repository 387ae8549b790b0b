//! [`Latencies`]: recent latencies in bounded memory, and their percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::config::MAX_LATENCY;

/// Significant figures the histogram keeps: values within 1 % of each other share a
/// bucket.
const SIGNIFICANT_FIGURES: u8 = 2;

/// The latencies of recent calls, in microseconds, in two fixed-size histograms: the
/// one being filled and the last full one, swapped every `period` (as tower's hedge
/// rotates its histogram). A percentile is read from the last full period, or, during
/// the first, from the one being filled; it is trusted once that one holds
/// `min_samples` latencies. Memory stays the same however many calls are recorded.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_hedge::Latencies;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut latencies = Latencies::new(Duration::from_secs(10));
/// for ms in 1..=100 {
///     latencies.record(Duration::from_millis(ms));
/// }
/// let p95 = latencies.percentile(95.0, 20).expect("100 samples");
/// assert!(p95 >= Duration::from_millis(94) && p95 <= Duration::from_millis(96));
/// assert_eq!(latencies.percentile(95.0, 1_000), None, "too few to trust");
/// # }
/// ```
#[derive(Debug)]
pub struct Latencies {
    filling: Histogram<u64>,
    last: Histogram<u64>,
    period: Duration,
    rotated: Instant,
    /// Whether a full period has ended (then `last` is read).
    full: bool,
}

impl Latencies {
    /// Empty, rotating every `period`.
    ///
    /// # Panics
    ///
    /// Never for the fixed bounds it uses (1 µs to an hour, two significant figures).
    #[must_use]
    pub fn new(period: Duration) -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, micros(MAX_LATENCY), SIGNIFICANT_FIGURES)
                .expect("fixed, valid bounds")
        };
        Latencies {
            filling: histogram(),
            last: histogram(),
            period,
            rotated: Instant::now(),
            full: false,
        }
    }

    /// Records one latency (longer than [`MAX_LATENCY`] counts as it; shorter than a
    /// microsecond as one).
    pub fn record(&mut self, latency: Duration) {
        self.rotate();
        self.filling.saturating_record(micros(latency).max(1));
    }

    /// Records a latency too short to measure (a call answered at its first poll),
    /// without reading the clock: the rotation waits for the next record that reads it
    /// or the next percentile read.
    pub fn record_at_once(&mut self) {
        self.filling.saturating_record(1);
    }

    /// The `percentile` (`0 < p < 100`) of recent latencies, once at least
    /// `min_samples` are known; `None` before.
    pub fn percentile(&mut self, percentile: f64, min_samples: u64) -> Option<Duration> {
        self.rotate();
        let histogram = if self.full { &self.last } else { &self.filling };
        (histogram.len() >= min_samples.max(1))
            .then(|| Duration::from_micros(histogram.value_at_percentile(percentile)))
    }

    /// Latencies in the histogram read now.
    #[must_use]
    pub fn len(&self) -> u64 {
        if self.full {
            self.last.len()
        } else {
            self.filling.len()
        }
    }

    /// Whether no latency is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Swaps the histograms once a period has passed (twice: the last one is dropped).
    fn rotate(&mut self) {
        let elapsed = self.rotated.elapsed();
        if elapsed < self.period {
            return;
        }
        if elapsed >= self.period * 2 {
            // Nothing recorded in the last full period is recent any more.
            self.filling.reset();
        }
        std::mem::swap(&mut self.filling, &mut self.last);
        self.filling.reset();
        self.rotated = Instant::now();
        self.full = true;
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

//! The limit algorithms: what one window of completed calls does to the limit.
//!
//! Pure state machines over nanosecond timestamps, so that they are tested apart from
//! the clock and the atomics that feed them.

use crate::LimitConfig;

/// Fewest completed calls a window needs before it updates the limit; a quieter window
/// is extended until it has them.
pub(crate) const MIN_WINDOW_SAMPLES: u32 = 4;

/// What the calls that completed in one window showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WindowStats {
    /// Calls measured.
    pub(crate) samples: u32,
    /// Their latencies, summed, in nanoseconds.
    pub(crate) sum_nanos: u64,
    /// Calls that failed or were slower than the drop threshold.
    pub(crate) drops: u32,
    /// The most calls seen in flight.
    pub(crate) max_in_flight: u32,
}

impl WindowStats {
    fn mean(&self) -> f64 {
        self.sum_nanos as f64 / f64::from(self.samples.max(1))
    }
}

/// What a window changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Step {
    /// The published limit stays.
    Unchanged,
    /// The estimate moved (the published limit may have changed).
    Updated,
    /// A probe of the minimum latency began: the limit is held at its minimum.
    ProbeStarted,
    /// A probe ended with this minimum latency, in nanoseconds.
    ProbeFinished(f64),
}

#[derive(Debug, Clone)]
enum Kind {
    Fixed,
    Aimd { backoff_ratio: f64, increase: f64 },
    Gradient(Gradient),
}

#[derive(Debug, Clone)]
struct Gradient {
    tolerance: f64,
    smoothing: f64,
    probe_interval: u64,
    probe_jitter: f64,
    probe_samples: u32,
    min_rtt: Option<f64>,
    probe: Option<Probe>,
    next_probe: u64,
    probes: u64,
    seed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    started: u64,
    samples: u32,
    sum_nanos: u64,
    /// Whether the limit is held at its minimum meanwhile. The first probe, at start,
    /// is not while the load leaves the initial limit room: it measures the calls that
    /// come, so that a cold start sheds nothing a warm one would not.
    pinned: bool,
}

/// A limit and the algorithm that moves it.
#[derive(Debug, Clone)]
pub(crate) struct Algorithm {
    kind: Kind,
    estimate: f64,
    min: f64,
    max: f64,
}

impl Algorithm {
    /// Starts at `now` (nanoseconds); a gradient limit starts by measuring the minimum
    /// latency at its initial limit.
    pub(crate) fn new(config: &LimitConfig, now: u64, seed: u64) -> Self {
        let (min, max) = config.bounds();
        let kind = match config {
            LimitConfig::Fixed(_) => Kind::Fixed,
            LimitConfig::Aimd(aimd) => Kind::Aimd {
                backoff_ratio: aimd.backoff_ratio,
                increase: f64::from(aimd.increase),
            },
            LimitConfig::Gradient(gradient) => Kind::Gradient(Gradient {
                tolerance: gradient.tolerance,
                smoothing: gradient.smoothing,
                probe_interval: nanos(gradient.probe_interval),
                probe_jitter: gradient.probe_jitter,
                probe_samples: gradient.probe_samples,
                min_rtt: None,
                probe: Some(Probe {
                    started: now,
                    samples: 0,
                    sum_nanos: 0,
                    pinned: false,
                }),
                next_probe: u64::MAX,
                probes: 0,
                seed,
            }),
        };
        Algorithm {
            kind,
            estimate: f64::from(config.initial_limit()),
            min: f64::from(min),
            max: f64::from(max),
        }
    }

    /// The limit calls are admitted against now.
    pub(crate) fn published(&self) -> u32 {
        if let Kind::Gradient(Gradient {
            probe: Some(Probe { pinned: true, .. }),
            ..
        }) = &self.kind
        {
            return self.min as u32;
        }
        self.estimate.floor().clamp(self.min, self.max) as u32
    }

    /// When the probe under way began, if one is.
    pub(crate) fn probing_since(&self) -> Option<u64> {
        match &self.kind {
            Kind::Gradient(Gradient {
                probe: Some(probe), ..
            }) => Some(probe.started),
            _ => None,
        }
    }

    /// Whether a probe holds the limit at its minimum now.
    #[cfg(test)]
    fn is_pinned(&self) -> bool {
        matches!(
            &self.kind,
            Kind::Gradient(Gradient {
                probe: Some(Probe { pinned: true, .. }),
                ..
            })
        )
    }

    /// The minimum latency measured, in nanoseconds.
    pub(crate) fn min_rtt(&self) -> Option<f64> {
        match &self.kind {
            Kind::Gradient(gradient) => gradient.min_rtt,
            _ => None,
        }
    }

    /// Sets the estimate (a run-time override), within the bounds.
    pub(crate) fn set(&mut self, limit: u32) {
        self.estimate = f64::from(limit).clamp(self.min, self.max);
    }

    /// Applies one window that ended at `now`.
    pub(crate) fn on_window(&mut self, now: u64, stats: &WindowStats) -> Step {
        if stats.samples == 0 {
            return Step::Unchanged;
        }
        // The calls never came near the limit: it says nothing about the capacity, so it
        // does not grow (at a load the server takes in its stride, it would grow without
        // end). Near means within the limit's square root, the step it grows by.
        let app_limited = f64::from(stats.max_in_flight) + self.estimate.sqrt() < self.estimate;
        let (min, max) = (self.min, self.max);
        match &mut self.kind {
            Kind::Fixed => Step::Unchanged,
            Kind::Aimd {
                backoff_ratio,
                increase,
            } => {
                if stats.drops > 0 {
                    self.estimate = (self.estimate * *backoff_ratio).max(min);
                } else if !app_limited {
                    self.estimate = (self.estimate + *increase).min(max);
                } else {
                    return Step::Unchanged;
                }
                Step::Updated
            }
            Kind::Gradient(gradient) => {
                if let Some(probe) = &mut gradient.probe {
                    if !probe.pinned && f64::from(stats.max_in_flight) >= self.estimate.floor() {
                        // The load fills the initial limit: the latency it shows is not
                        // the minimum. Measure with the limit held, as later probes do.
                        *probe = Probe {
                            started: now,
                            samples: 0,
                            sum_nanos: 0,
                            pinned: true,
                        };
                        return Step::ProbeStarted;
                    }
                    probe.samples += stats.samples;
                    probe.sum_nanos += stats.sum_nanos;
                    if probe.samples < gradient.probe_samples {
                        return Step::Unchanged;
                    }
                    let min_rtt = probe.sum_nanos as f64 / f64::from(probe.samples);
                    gradient.min_rtt = Some(min_rtt);
                    gradient.probe = None;
                    gradient.probes += 1;
                    gradient.next_probe = now.saturating_add(gradient.jittered_interval());
                    return Step::ProbeFinished(min_rtt);
                }
                let rtt = stats.mean();
                // A window whose calls kept well below the limit did not queue behind
                // each other: its latency is the service's own, and a lower one is the
                // new minimum. A window near the limit may have queued: its mean is
                // no measure of the minimum (the smallest of many such means would
                // be biased low by their noise).
                let min_rtt = match gradient.min_rtt {
                    Some(known) if known <= rtt || !app_limited => known,
                    _ => rtt,
                };
                gradient.min_rtt = Some(min_rtt);
                let ratio = if rtt > 0.0 {
                    gradient.tolerance * min_rtt / rtt
                } else {
                    1.0
                };
                if app_limited {
                    // The calls kept well below the limit: their latency is not the
                    // limit's doing, and says nothing of where it should be.
                } else if ratio < 1.0 {
                    // Calls queue beyond the tolerance: shrink towards the limit at which
                    // they would not, faster than the limit grows, so that a step in
                    // load is absorbed within a few windows.
                    let target = self.estimate * ratio.max(0.5);
                    let smoothing = (2.0 * gradient.smoothing).clamp(0.5, 1.0);
                    self.estimate =
                        ((1.0 - smoothing) * self.estimate + smoothing * target).clamp(min, max);
                } else {
                    // Latency holds and the limit was (nearly) reached: grow to find the
                    // capacity, by up to the square root of the limit: all of it at the
                    // minimum latency, less as latency nears the tolerance, so that the
                    // limit comes to rest below it instead of overshooting.
                    let headroom = if gradient.tolerance > 1.0 {
                        ((ratio - 1.0) / (gradient.tolerance - 1.0)).min(1.0)
                    } else {
                        1.0
                    };
                    let target = self.estimate + headroom * self.estimate.sqrt();
                    self.estimate = ((1.0 - gradient.smoothing) * self.estimate
                        + gradient.smoothing * target)
                        .clamp(min, max);
                }
                if now >= gradient.next_probe {
                    gradient.probe = Some(Probe {
                        started: now,
                        samples: 0,
                        sum_nanos: 0,
                        pinned: true,
                    });
                    return Step::ProbeStarted;
                }
                Step::Updated
            }
        }
    }
}

impl Gradient {
    /// The probe interval with this probe's jitter: a draw within `1 ± probe_jitter`.
    fn jittered_interval(&self) -> u64 {
        let draw = hardy_core::rng::unit(hardy_core::rng::splitmix64(self.seed ^ self.probes));
        let factor = 1.0 + self.probe_jitter * (2.0 * draw - 1.0);
        (self.probe_interval as f64 * factor) as u64
    }
}

pub(crate) fn nanos(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::{AimdConfig, FixedConfig, GradientConfig};

    const MS: u64 = 1_000_000;

    fn window(samples: u32, rtt: u64, max_in_flight: u32) -> WindowStats {
        WindowStats {
            samples,
            sum_nanos: u64::from(samples) * rtt,
            drops: 0,
            max_in_flight,
        }
    }

    fn gradient() -> GradientConfig {
        GradientConfig {
            initial_limit: 20,
            min_limit: 3,
            max_limit: 200,
            probe_samples: 10,
            ..GradientConfig::default()
        }
    }

    fn probed(config: &GradientConfig, rtt: u64) -> Algorithm {
        let mut algorithm = Algorithm::new(&LimitConfig::Gradient(config.clone()), 0, 7);
        // The first probe measures at the initial limit.
        assert_eq!(algorithm.published(), config.initial_limit);
        assert_eq!(algorithm.probing_since(), Some(0));
        let step = algorithm.on_window(100 * MS, &window(config.probe_samples, rtt, 3));
        assert_eq!(step, Step::ProbeFinished(rtt as f64));
        assert_eq!(algorithm.published(), config.initial_limit);
        algorithm
    }

    #[test]
    fn a_probe_needs_its_samples() {
        let config = gradient();
        let mut algorithm = Algorithm::new(&LimitConfig::Gradient(config.clone()), 0, 7);
        assert_eq!(
            algorithm.on_window(MS, &window(4, 10 * MS, 3)),
            Step::Unchanged
        );
        assert_eq!(algorithm.published(), 20, "not pinned at start");
        assert_eq!(
            algorithm.on_window(2 * MS, &window(6, 20 * MS, 3)),
            Step::ProbeFinished(16.0 * MS as f64)
        );
        assert_eq!(algorithm.min_rtt(), Some(16.0 * MS as f64));
        assert_eq!(algorithm.published(), 20);
    }

    #[test]
    fn a_start_under_load_that_fills_the_limit_probes_held_at_the_minimum() {
        let config = gradient();
        let mut algorithm = Algorithm::new(&LimitConfig::Gradient(config.clone()), 0, 7);
        assert_eq!(
            algorithm.on_window(100 * MS, &window(6, 25 * MS, 20)),
            Step::ProbeStarted
        );
        assert_eq!(algorithm.published(), 3);
        assert_eq!(algorithm.probing_since(), Some(100 * MS));
        assert_eq!(
            algorithm.on_window(200 * MS, &window(10, 10 * MS, 3)),
            Step::ProbeFinished(10.0 * MS as f64)
        );
        assert_eq!(algorithm.published(), 20);
    }

    #[test]
    fn gradient_grows_while_latency_stays_at_the_minimum() {
        let mut algorithm = probed(&gradient(), 10 * MS);
        let mut last = algorithm.published();
        for i in 0..50 {
            let limit = algorithm.published();
            algorithm.on_window((200 + i) * MS, &window(20, 10 * MS, limit));
            assert!(algorithm.published() >= last);
            last = algorithm.published();
        }
        assert!(last > 60, "{last}");
    }

    #[test]
    fn gradient_does_not_grow_when_the_limit_is_not_used() {
        let mut algorithm = probed(&gradient(), 10 * MS);
        for i in 0..50 {
            algorithm.on_window((200 + i) * MS, &window(20, 10 * MS, 5));
        }
        assert_eq!(algorithm.published(), 20);
    }

    #[test]
    fn gradient_settles_near_tolerance_times_capacity() {
        // A server with 10 workers: latency grows with the calls beyond 10.
        let config = gradient();
        let mut algorithm = probed(&config, 10 * MS);
        let mut limits = Vec::new();
        for i in 0..500 {
            let limit = algorithm.published();
            let rtt = 10 * MS * u64::from(limit.max(10)) / 10;
            algorithm.on_window((200 + i) * MS, &window(20, rtt, limit));
            limits.push(algorithm.published());
        }
        // tolerance × 10 = 12.5: below it the limit grows, above it shrinks.
        let settled = &limits[100..];
        assert!(settled.iter().all(|l| (11..=14).contains(l)), "{settled:?}");
    }

    #[test]
    fn gradient_does_not_drift_when_the_load_is_within_capacity() {
        // 12 calls in flight at most, at the unloaded latency: the limit rises to just
        // above them and stays there, however long it runs.
        let mut algorithm = probed(&gradient(), 10 * MS);
        for i in 0..2_000 {
            algorithm.on_window((200 + i) * MS, &window(20, 10 * MS, 12));
        }
        let limit = algorithm.published();
        assert!((12..=20).contains(&limit), "{limit}");
    }

    #[test]
    fn a_step_in_load_is_absorbed_within_a_few_windows() {
        // 10 workers; the limit at 20 when the load doubles past it.
        let mut algorithm = probed(&gradient(), 10 * MS);
        let mut windows = 0;
        while algorithm.published() > 14 {
            let limit = algorithm.published();
            let rtt = 10 * MS * u64::from(limit.max(10)) / 10;
            algorithm.on_window((200 + windows) * MS, &window(20, rtt, limit));
            windows += 1;
            assert!(windows < 100, "never shrank");
        }
        assert!(windows <= 3, "{windows} windows");
    }

    #[test]
    fn gradient_probes_again_after_its_interval() {
        let config = GradientConfig {
            probe_jitter: 0.0,
            ..gradient()
        };
        let mut algorithm = probed(&config, 10 * MS);
        let interval = nanos(config.probe_interval);
        assert_eq!(
            algorithm.on_window(interval, &window(20, 10 * MS, 20)),
            Step::Updated
        );
        let at = 100 * MS + interval;
        assert_eq!(
            algorithm.on_window(at, &window(20, 10 * MS, 20)),
            Step::ProbeStarted
        );
        assert_eq!(algorithm.published(), 3);
        assert_eq!(algorithm.probing_since(), Some(at));
        let resumed = algorithm.estimate.floor() as u32;
        // The service got slower for good: the new minimum is the new latency.
        assert_eq!(
            algorithm.on_window(at + MS, &window(10, 30 * MS, 3)),
            Step::ProbeFinished(30.0 * MS as f64)
        );
        assert_eq!(algorithm.published(), resumed);
    }

    #[test]
    fn probe_jitter_spreads_the_interval() {
        let config = gradient();
        let intervals: Vec<u64> = (0..20)
            .map(|seed| {
                let mut algorithm = Algorithm::new(&LimitConfig::Gradient(config.clone()), 0, seed);
                algorithm.on_window(0, &window(10, MS, 3));
                match &algorithm.kind {
                    Kind::Gradient(gradient) => gradient.next_probe,
                    _ => unreachable!(),
                }
            })
            .collect();
        let base = nanos(config.probe_interval) as f64;
        assert!(intervals.iter().all(|&i| {
            let i = i as f64;
            i >= base * 0.85 && i <= base * 1.15
        }));
        assert!(intervals.iter().any(|&i| i != intervals[0]));
    }

    #[test]
    fn aimd_backs_off_on_drops_and_grows_when_used() {
        let config = LimitConfig::Aimd(AimdConfig {
            initial_limit: 10,
            min_limit: 2,
            max_limit: 12,
            ..AimdConfig::default()
        });
        let mut algorithm = Algorithm::new(&config, 0, 0);
        assert_eq!(algorithm.published(), 10);
        algorithm.on_window(1, &window(8, MS, 8));
        assert_eq!(algorithm.published(), 11);
        algorithm.on_window(2, &window(8, MS, 2));
        assert_eq!(algorithm.published(), 11, "app-limited: no growth");
        algorithm.on_window(3, &window(8, MS, 9));
        algorithm.on_window(4, &window(8, MS, 9));
        assert_eq!(algorithm.published(), 12, "capped at max_limit");
        let dropped = WindowStats {
            drops: 1,
            ..window(8, MS, 12)
        };
        algorithm.on_window(5, &dropped);
        assert_eq!(algorithm.published(), 10); // 12 × 0.9 = 10.8
        for i in 0..40 {
            algorithm.on_window(6 + i, &dropped);
        }
        assert_eq!(algorithm.published(), 2);
    }

    #[test]
    fn fixed_never_moves() {
        let config = LimitConfig::Fixed(FixedConfig { limit: 7 });
        let mut algorithm = Algorithm::new(&config, 0, 0);
        assert_eq!(algorithm.on_window(1, &window(8, MS, 7)), Step::Unchanged);
        assert_eq!(algorithm.published(), 7);
        algorithm.set(9);
        assert_eq!(algorithm.published(), 9);
    }

    fn any_limit() -> impl Strategy<Value = LimitConfig> {
        prop_oneof![
            (1u32..50, 0u32..50, 1u32..4).prop_map(|(min, span, increase)| {
                LimitConfig::Aimd(AimdConfig {
                    initial_limit: min + span / 2,
                    min_limit: min,
                    max_limit: min + span,
                    increase,
                    ..AimdConfig::default()
                })
            }),
            (1u32..50, 0u32..50, 1.0f64..3.0, 0.01f64..=1.0).prop_map(
                |(min, span, tolerance, smoothing)| {
                    LimitConfig::Gradient(GradientConfig {
                        initial_limit: min + span / 2,
                        min_limit: min,
                        max_limit: min + span,
                        tolerance,
                        smoothing,
                        probe_samples: 5,
                        probe_interval: Duration::from_millis(500),
                        ..GradientConfig::default()
                    })
                }
            ),
        ]
    }

    proptest! {
        /// Whatever the calls show, the limit stays within its bounds, and a probe ends
        /// once it has its samples.
        #[test]
        fn the_limit_stays_within_its_bounds(
            config in any_limit(),
            windows in proptest::collection::vec((0u32..40, 0u64..100_000_000, 0u32..3, 0u32..200), 1..200),
        ) {
            let (min, max) = config.bounds();
            let mut algorithm = Algorithm::new(&config, 0, 1);
            let mut now = 0;
            for (samples, rtt, drops, in_flight) in windows {
                now += 100 * MS;
                let stats = WindowStats {
                    samples,
                    sum_nanos: u64::from(samples) * rtt,
                    drops: drops.min(samples),
                    max_in_flight: in_flight,
                };
                let probing = algorithm.probing_since().is_some();
                let step = algorithm.on_window(now, &stats);
                let limit = algorithm.published();
                prop_assert!((min..=max).contains(&limit), "{limit} outside {min}..={max}");
                if algorithm.is_pinned() {
                    prop_assert_eq!(limit, min);
                }
                if let Step::ProbeFinished(min_rtt) = step {
                    prop_assert!(probing);
                    prop_assert!(min_rtt.is_finite());
                }
            }
        }
    }
}

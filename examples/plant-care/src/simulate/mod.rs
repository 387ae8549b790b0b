//! `plant-care simulate`: days of simulated garden on paused time, and the report
//! ([`Report`], in `report.rs`).

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::time::Instant;

use crate::Error;
use crate::config::Config;
use crate::controller::Controller;
use crate::hardware::{self, Faults};
use crate::history::Source;

mod report;

pub use report::{Chart, PlantReport, Report};

/// The longest simulation: ten years.
pub const MAX_DAYS: u32 = 3_650;

/// The most moisture samples a plant's trace keeps: past this, neighbouring samples
/// are merged (averaged in pairs), so a trace's memory stays flat however long the
/// simulation runs.
pub const MAX_SAMPLES: usize = 4_096;

/// Rounds between two drains of the metrics' histograms.
const UPKEEP_ROUNDS: usize = 256;

/// Runs `days` of `config`'s garden with `faults` on paused time and reports.
///
/// # Errors
///
/// A config or device error; `days` of 0 or past [`MAX_DAYS`].
pub fn run(config: &Config, days: u32, faults: Faults, progress: bool) -> Result<Report, Error> {
    // Time only: without an I/O driver, each step of paused time skips a system call.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(simulate(config, days, faults, progress))
}

async fn simulate(
    config: &Config,
    days: u32,
    faults: Faults,
    progress: bool,
) -> Result<Report, Error> {
    // Every random choice is seeded, so the same seed gives the same run.
    let mut config = config.clone();
    // A policy file holds signed integers: seeds past i64::MAX lose their top bit.
    let seed = i64::try_from(config.seed & 0x7FFF_FFFF_FFFF_FFFF).unwrap_or_default();
    config.policies.set("retry", "default", "seed", seed);
    config.policies.set("breaker", "default", "seed", seed);
    let config = &config;
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let (controller, garden, relays) = metrics::with_local_recorder(&recorder, || {
        let hardware =
            hardware::build(config, faults).map_err(|error| Error::Build(error.into()))?;
        let garden = hardware.garden.clone().ok_or(Error::NotSimulated)?;
        let relays = hardware.relays.clone();
        let controller = Controller::new(config, hardware).map_err(Error::Build)?;
        Ok::<_, Error>((controller, garden, relays))
    })?;
    let start = Instant::now();
    let rounds = usize::try_from(
        u128::from(days) * 86_400 * 1_000_000_000 / config.read_every.as_nanos().max(1),
    )
    .map_err(|_| Error::TooManyRounds {
        days,
        read_every: config.read_every,
    })?;
    let bar = indicatif::ProgressBar::new(rounds as u64);
    if !progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut moisture = vec![Trace::default(); config.plants.len()];
    let mut watered_at = vec![Vec::new(); config.plants.len()];
    let rounds_a_year = (365 * 86_400 / config.read_every.as_secs().max(1)).max(1) as usize;
    let mut by_year = vec![Vec::<(usize, usize)>::new(); config.plants.len()];
    let mut values = vec![0.0; config.plants.len()];
    for round in 0..rounds {
        let before: Vec<u32> = controller.status().iter().map(|s| s.waterings).collect();
        for (i, plant) in config.plants.iter().enumerate() {
            let value = garden.moisture(&plant.id.as_str().into()).unwrap_or(0.0) * 100.0;
            let inside = (plant.min_moisture..=plant.max_moisture).contains(&value);
            if round % rounds_a_year == 0 {
                by_year[i].push((0, 0));
            }
            if let Some((kept, all)) = by_year[i].last_mut() {
                *kept += usize::from(inside);
                *all += 1;
            }
            values[i] = value;
        }
        controller.tick().await;
        for (i, status) in controller.status().iter().enumerate() {
            if status.waterings > before[i] {
                watered_at[i].push(round);
            }
            moisture[i].push(
                values[i],
                Flags {
                    breaker_open: status.sensor_breaker == "open",
                    last_good: status.source == Some(Source::LastGood),
                },
            );
        }
        bar.inc(1);
        if round % UPKEEP_ROUNDS == UPKEEP_ROUNDS - 1 {
            // Histograms keep their samples until drained: drain them now and then, or
            // a long run's memory grows with every call.
            metrics.run_upkeep();
        }
        let next = start
            + config
                .read_every
                .saturating_mul(u32::try_from(round + 1).unwrap_or(u32::MAX));
        tokio::time::sleep_until(next).await;
    }
    bar.finish_and_clear();
    let text = metrics.render();
    let status = controller.status();
    let plants = config
        .plants
        .iter()
        .enumerate()
        .map(|(i, plant)| {
            let (longest_run, most_in_a_day_ml) = pump_use(&relays[i], plant.pump.flow_ml_per_s);
            PlantReport {
                id: plant.id.clone(),
                band: (plant.min_moisture, plant.max_moisture),
                waterings: status[i].waterings,
                watered_ml: status[i].watered_ml,
                in_range: by_year[i].iter().map(|(kept, _)| kept).sum::<usize>() as f64
                    / rounds.max(1) as f64,
                in_range_by_year: by_year[i]
                    .iter()
                    .map(|(kept, all)| *kept as f64 / (*all).max(1) as f64)
                    .collect(),
                drift_correction: status[i].drift_correction,
                backup_correction: status[i].backup_correction,
                needs_attention: status[i].needs_attention.clone(),
                longest_run,
                most_in_a_day_ml,
                rounds_per_sample: moisture[i].per_sample,
                moisture: std::mem::take(&mut moisture[i].samples),
                breaker_open: moisture[i].flags.iter().map(|f| f.breaker_open).collect(),
                last_good: moisture[i].flags.iter().map(|f| f.last_good).collect(),
                watered_at: std::mem::take(&mut watered_at[i]),
            }
        })
        .collect();
    Ok(Report {
        days,
        read_every: config.read_every,
        seed: config.seed,
        faults,
        plants,
        totals: controller.totals(),
        metrics: text,
    })
}

/// What went on with a plant's readings in a round (or, merged, in any round of a
/// sample).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flags {
    breaker_open: bool,
    last_good: bool,
}

impl Flags {
    fn or(self, other: Flags) -> Flags {
        Flags {
            breaker_open: self.breaker_open || other.breaker_open,
            last_good: self.last_good || other.last_good,
        }
    }
}

/// A plant's moisture samples, at most [`MAX_SAMPLES`]: when full, neighbours are
/// averaged in pairs (their flags joined) and each sample then stands for twice the
/// rounds.
#[derive(Debug, Clone)]
struct Trace {
    samples: Vec<f64>,
    flags: Vec<Flags>,
    per_sample: usize,
    /// The rounds gathered toward the next sample: their sum, count and flags.
    pending: (f64, usize, Flags),
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            samples: Vec::new(),
            flags: Vec::new(),
            per_sample: 1,
            pending: (0.0, 0, Flags::default()),
        }
    }
}

impl Trace {
    fn push(&mut self, value: f64, flags: Flags) {
        let (sum, count, joined) = self.pending;
        self.pending = (sum + value, count + 1, joined.or(flags));
        if self.pending.1 < self.per_sample {
            return;
        }
        let (sum, count, joined) = std::mem::take(&mut self.pending);
        self.samples.push(sum / count as f64);
        self.flags.push(joined);
        if self.samples.len() == MAX_SAMPLES {
            self.samples = self
                .samples
                .chunks(2)
                .map(|pair| pair.iter().sum::<f64>() / pair.len() as f64)
                .collect();
            self.flags = self
                .flags
                .chunks(2)
                .map(|pair| pair.iter().fold(Flags::default(), |all, f| all.or(*f)))
                .collect();
            self.per_sample *= 2;
        }
    }
}

/// The longest run of a relay, and the most water it let through in any 24 hours (a
/// window sliding over the runs: one pass).
fn pump_use(relay: &plantos_hal::sim::SimPin, flow: f64) -> (Duration, f64) {
    let mut runs = Vec::new();
    let mut on = None;
    for (at, high) in relay.changes() {
        match (high, on) {
            (true, None) => on = Some(at),
            (false, Some(start)) => {
                runs.push((start, at - start));
                on = None;
            }
            _ => {}
        }
    }
    let longest = runs.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let day = Duration::from_secs(86_400);
    let (mut most, mut window, mut first) = (0.0_f64, 0.0_f64, 0);
    for (start, ran) in &runs {
        window += ran.as_secs_f64() * flow;
        // The window holds the runs that started within a day before this one's start
        // (the same runs as the day from the earliest of them).
        while *start >= runs[first].0 + day {
            window -= runs[first].1.as_secs_f64() * flow;
            first += 1;
        }
        most = most.max(window);
    }
    (longest, most)
}

/// The sum of a counter over the series whose labels include `labels`.
pub fn sum(text: &str, metric: &str, labels: &[(&str, &str)]) -> u64 {
    sum_where(text, metric, |rest| {
        labels
            .iter()
            .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")))
    })
}

/// The sum of a counter over the series whose label text passes `keep`.
pub fn sum_where(text: &str, metric: &str, keep: impl Fn(&str) -> bool) -> u64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
            if name != metric {
                return None;
            }
            keep(rest).then(|| value.parse::<f64>().ok()).flatten()
        })
        .map(|value| value as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plantos_hal::sim::SimPin;
    use proptest::prelude::*;

    #[test]
    fn a_trace_keeps_at_most_its_samples_and_their_mean() {
        let mut trace = Trace::default();
        let rounds = 10 * 365 * 144; // ten years of rounds every ten minutes
        for round in 0..rounds {
            trace.push((round % 100) as f64, Flags::default());
        }
        assert!(
            trace.samples.len() <= MAX_SAMPLES,
            "{}",
            trace.samples.len()
        );
        assert!(trace.samples.len() >= MAX_SAMPLES / 2);
        assert!(trace.per_sample.is_power_of_two());
        assert!(trace.samples.len() * trace.per_sample <= rounds);
        assert!(
            trace.samples.len() * trace.per_sample + trace.per_sample > rounds - trace.pending.1
        );
        let mean = trace.samples.iter().sum::<f64>() / trace.samples.len() as f64;
        assert!((mean - 49.5).abs() < 0.5, "{mean}");
        let mut short = Trace::default();
        for round in 0..1_008 {
            short.push(f64::from(round as u16), Flags::default());
        }
        assert_eq!(short.per_sample, 1);
        assert_eq!(short.samples.len(), 1_008, "a week keeps every round");
    }

    /// The most let through in any 24 hours, by trying each run as the window's start.
    fn most_by_every_start(runs: &[(u64, u64)], flow: f64) -> f64 {
        runs.iter()
            .map(|(start, _)| {
                runs.iter()
                    .filter(|(other, _)| *other >= *start && *other < *start + 86_400)
                    .map(|(_, ran)| *ran as f64 * flow)
                    .sum::<f64>()
            })
            .fold(0.0, f64::max)
    }

    proptest! {
        #[test]
        fn the_sliding_day_finds_the_most_of_any_24_hours(
            runs in proptest::collection::vec((1u64..40_000, 1u64..60), 0..40),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("runtime");
            runtime.block_on(async {
                use embedded_hal::digital::OutputPin;
                let start = Instant::now();
                let mut relay = SimPin::new();
                let mut starts = Vec::new();
                for (gap, ran) in &runs {
                    tokio::time::advance(Duration::from_secs(*gap)).await;
                    starts.push((start.elapsed().as_secs(), *ran));
                    relay.set_high().expect("on");
                    tokio::time::advance(Duration::from_secs(*ran)).await;
                    relay.set_low().expect("off");
                }
                let (longest, most) = pump_use(&relay, 2.5);
                let expected = most_by_every_start(&starts, 2.5);
                prop_assert!((most - expected).abs() < 1e-9, "{most} != {expected}");
                let longest_expected = runs.iter().map(|(_, ran)| *ran).max().unwrap_or(0);
                prop_assert_eq!(longest, Duration::from_secs(longest_expected));
                Ok(())
            })?;
        }
    }

    #[test]
    fn flags_are_joined_when_samples_merge() {
        let mut trace = Trace::default();
        let rounds = MAX_SAMPLES + 2;
        for round in 0..rounds {
            let flags = Flags {
                breaker_open: round == 5,
                last_good: round == 8,
            };
            trace.push(1.0, flags);
        }
        assert_eq!(trace.per_sample, 2);
        assert_eq!(trace.flags.len(), trace.samples.len());
        let open: Vec<usize> = (0..trace.flags.len())
            .filter(|i| trace.flags[*i].breaker_open)
            .collect();
        let stale: Vec<usize> = (0..trace.flags.len())
            .filter(|i| trace.flags[*i].last_good)
            .collect();
        assert_eq!(
            (open, stale),
            (vec![2], vec![4]),
            "round 5 in sample 2, round 8 in 4"
        );
    }
}

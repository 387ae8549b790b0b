//! What a simulation did: the [`Report`], its text and its chart.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::chart::{self, Frame, Line, MarkKind};
use crate::controller::Totals;
use crate::hardware::Faults;

/// What a simulation did, from the stacks' totals and the garden itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Simulated days.
    pub days: u32,
    /// How often the plants were read: the time of a round.
    pub read_every: Duration,
    /// The seed.
    pub seed: u64,
    /// The faults injected.
    pub faults: Faults,
    /// Each plant's figures.
    pub plants: Vec<PlantReport>,
    /// What the stacks did: reads, retries, backup and stale reads, breaker trips,
    /// refused waterings, timeouts.
    pub totals: Totals,
    /// The metrics, as Prometheus text.
    pub metrics: String,
}

/// One plant's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantReport {
    /// The plant.
    pub id: String,
    /// Its target band, `min_moisture..=max_moisture`, percent.
    pub band: (f64, f64),
    /// Waterings.
    pub waterings: u32,
    /// Millilitres given.
    pub watered_ml: u32,
    /// Share of the time the soil was within the plant's range (measured in the garden,
    /// not by the sensors).
    pub in_range: f64,
    /// The same share in each year of the run (the last one possibly part of a year).
    pub in_range_by_year: Vec<f64>,
    /// How far the probe's readings were corrected for drift by the end, percent.
    pub drift_correction: f64,
    /// How far the backup probe's readings were shifted to match the probe's, percent.
    pub backup_correction: f64,
    /// Why the plant needed a person at the end, if it did.
    pub needs_attention: Option<String>,
    /// The longest the pump ran at once.
    pub longest_run: Duration,
    /// The most water given in any 24 hours, ml.
    pub most_in_a_day_ml: f64,
    /// The soil moisture (percent) at each round, for the chart; past
    /// [`MAX_SAMPLES`](super::MAX_SAMPLES) rounds, each sample is the mean of `rounds_per_sample` rounds.
    pub moisture: Vec<f64>,
    /// Rounds each sample of `moisture` stands for (1 for runs of up to
    /// [`MAX_SAMPLES`](super::MAX_SAMPLES) rounds, then a power of two).
    pub rounds_per_sample: usize,
    /// For each sample of `moisture`: whether the probe's breaker was open in any of
    /// its rounds.
    pub breaker_open: Vec<bool>,
    /// For each sample of `moisture`: whether the last good reading was served in any
    /// of its rounds.
    pub last_good: Vec<bool>,
    /// The rounds at which the pump ran.
    pub watered_at: Vec<usize>,
}

impl PlantReport {
    /// Whether the pump kept `pump`'s limits all run: no run past `max_run`, never more
    /// than `daily_budget_ml` in any 24 hours.
    ///
    /// # Errors
    ///
    /// The limit passed, with the plant and the figure.
    pub fn within_pump_limits(&self, pump: &plantos_hal::PumpConfig) -> Result<(), String> {
        if self.longest_run > pump.max_run {
            return Err(format!(
                "{}: ran {:?}, past max_run {:?}",
                self.id, self.longest_run, pump.max_run
            ));
        }
        if self.most_in_a_day_ml > f64::from(pump.daily_budget_ml) {
            return Err(format!(
                "{}: {} ml in a day, past daily_budget_ml {}",
                self.id, self.most_in_a_day_ml, pump.daily_budget_ml
            ));
        }
        Ok(())
    }
}

impl Report {
    /// The report as text, with a sparkline of each plant's moisture.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "plant-care simulate: {} days, seed {}, faults {:?}\n",
            self.days, self.seed, self.faults
        );
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>8} {:>9} {:>11} {:>13}",
            "plant", "waterings", "water", "in range", "longest run", "most in a day"
        );
        for plant in &self.plants {
            let _ = writeln!(
                out,
                "{:<8} {:>9} {:>5} ml {:>8.1}% {:>10.1}s {:>10.0} ml",
                plant.id,
                plant.waterings,
                plant.watered_ml,
                plant.in_range * 100.0,
                plant.longest_run.as_secs_f64(),
                plant.most_in_a_day_ml
            );
        }
        let corrected: Vec<String> = self
            .plants
            .iter()
            .filter(|plant| {
                plant.drift_correction.abs() >= 0.5 || plant.backup_correction.abs() >= 0.5
            })
            .map(|plant| {
                format!(
                    "{} probe {:+.1} %, backup {:+.1} %",
                    plant.id, plant.drift_correction, plant.backup_correction
                )
            })
            .collect();
        if !corrected.is_empty() {
            let _ = writeln!(out, "\ndrift corrected: {}", corrected.join(" · "));
        }
        for plant in &self.plants {
            if let Some(why) = &plant.needs_attention {
                let _ = writeln!(out, "needs attention: {}: {why}", plant.id);
            }
        }
        if self.days > 365 {
            let _ = writeln!(out, "\nin range, year by year:");
            for plant in &self.plants {
                let years: Vec<String> = plant
                    .in_range_by_year
                    .iter()
                    .map(|share| format!("{:5.1}%", share * 100.0))
                    .collect();
                let _ = writeln!(out, "{:<8} {}", plant.id, years.join("  "));
            }
        }
        let _ = writeln!(
            out,
            "\nreads {} · backup probe tried {} · last good (stale) {} · retries {} · read timeouts {} · breaker trips {} · waterings rate-limited {}\n",
            self.totals.reads,
            self.totals.backup_reads,
            self.totals.stale_reads,
            self.totals.retries,
            self.totals.read_timeouts,
            self.totals.breaker_trips,
            self.totals.rate_limited
        );
        for plant in &self.plants {
            let _ = writeln!(out, "{:<8} {}", plant.id, sparkline(&plant.moisture, 72));
        }
        out
    }

    /// A chart of every plant's moisture over its target band, its waterings, and
    /// strips where its probe's breaker was open or the last good reading was served,
    /// as SVG.
    ///
    /// # Errors
    ///
    /// A drawing error.
    pub fn svg(&self) -> Result<String, Error> {
        let round_hours = self.read_every.as_secs_f64() / 3600.0;
        let lines: Vec<Line> = self
            .plants
            .iter()
            .map(|plant| {
                let per = plant.rounds_per_sample.max(1);
                let hours = |sample: usize| (sample * per) as f64 * round_hours;
                let flagged = plant.breaker_open.iter().zip(&plant.last_good).enumerate();
                let marks = chart::marks(flagged.map(|(sample, (open, stale))| {
                    (
                        hours(sample),
                        hours(sample + 1),
                        MarkKind::of(*open, *stale),
                    )
                }));
                Line {
                    id: plant.id.clone(),
                    band: plant.band,
                    points: plant
                        .moisture
                        .iter()
                        .enumerate()
                        .map(|(sample, moisture)| (hours(sample), *moisture))
                        .collect(),
                    waterings: plant
                        .watered_at
                        .iter()
                        .map(|round| *round as f64 * round_hours)
                        .collect(),
                    marks,
                }
            })
            .collect();
        let frame = Frame {
            title: format!(
                "plant-care simulate: {} days, seed {}, faults {:?}",
                self.days, self.seed, self.faults
            ),
            hours: (0.0, f64::from(self.days) * 24.0),
            size: (1200, 480),
        };
        chart::svg(&frame, &lines)
    }

    /// Writes the chart to `dir/moisture.svg`; returns its path.
    ///
    /// # Errors
    ///
    /// The file cannot be written, with its path.
    pub fn write_svg(&self, dir: &Path) -> Result<PathBuf, Error> {
        Chart::create(dir)?.write(self)
    }
}

/// The chart's file, opened before a simulation runs so that a directory that cannot
/// be written to fails at once rather than after the simulated days.
#[derive(Debug)]
pub struct Chart {
    path: PathBuf,
    file: std::fs::File,
}

impl Chart {
    /// Creates `dir` if needed and opens `dir/moisture.svg` for writing.
    ///
    /// # Errors
    ///
    /// The directory or the file cannot be made, with the path.
    pub fn create(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("moisture.svg");
        std::fs::create_dir_all(dir)
            .map_err(|source| Error::File {
                path: dir.to_path_buf(),
                source,
            })
            .and_then(|()| {
                std::fs::File::create(&path).map_err(|source| Error::File {
                    path: path.clone(),
                    source,
                })
            })
            .map(|file| Chart { path, file })
    }

    /// Writes `report`'s chart; returns the file's path.
    ///
    /// # Errors
    ///
    /// The file cannot be written (a full disk), with its path.
    pub fn write(mut self, report: &Report) -> Result<PathBuf, Error> {
        use std::io::Write as _;
        match self
            .file
            .write_all(report.svg()?.as_bytes())
            .and_then(|()| self.file.sync_all())
        {
            Ok(()) => Ok(self.path),
            Err(source) => Err(Error::File {
                path: self.path,
                source,
            }),
        }
    }
}

/// The values as a line of block characters, `width` wide, 0 to 100 %.
fn sparkline(values: &[f64], width: usize) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() {
        return String::new();
    }
    let chunk = values.len().div_ceil(width).max(1);
    values
        .chunks(chunk)
        .map(|chunk| {
            let mean = chunk.iter().sum::<f64>() / chunk.len() as f64;
            BLOCKS[((mean / 100.0 * 7.0).round().clamp(0.0, 7.0)) as usize]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plant's report of four samples, one watering, five-second runs.
    fn plant(id: &str) -> PlantReport {
        PlantReport {
            id: id.to_string(),
            band: (40.0, 80.0),
            waterings: 1,
            watered_ml: 100,
            in_range: 1.0,
            in_range_by_year: vec![1.0],
            drift_correction: 0.0,
            backup_correction: 0.0,
            needs_attention: None,
            longest_run: Duration::from_secs(5),
            most_in_a_day_ml: 100.0,
            moisture: vec![50.0, 40.0, 60.0, 55.0],
            rounds_per_sample: 1,
            breaker_open: vec![false; 4],
            last_good: vec![false; 4],
            watered_at: vec![1],
        }
    }

    #[test]
    fn a_report_knows_when_its_pump_passed_a_limit() {
        let pump = plantos_hal::PumpConfig::default();
        let mut plant = PlantReport {
            longest_run: pump.max_run,
            most_in_a_day_ml: f64::from(pump.daily_budget_ml),
            ..plant("basil")
        };
        assert_eq!(plant.within_pump_limits(&pump), Ok(()), "at the limits");
        plant.longest_run += Duration::from_millis(1);
        assert!(
            plant
                .within_pump_limits(&pump)
                .is_err_and(|e| e.contains("max_run"))
        );
        plant.longest_run = pump.max_run;
        plant.most_in_a_day_ml += 1.0;
        assert!(
            plant
                .within_pump_limits(&pump)
                .is_err_and(|e| e.contains("daily_budget_ml"))
        );
    }

    #[test]
    fn the_report_chart_has_bands_waterings_and_marks_and_escapes_ids() {
        let plant = |id: &str| PlantReport {
            breaker_open: vec![false, true, true, false],
            last_good: vec![false, false, false, true],
            ..plant(id)
        };
        let report = Report {
            days: 1,
            read_every: Duration::from_secs(600),
            seed: 1,
            faults: crate::hardware::Faults::None,
            plants: vec![plant("<script>alert(\"x\")</script>"), plant("a & b's")],
            totals: Totals::default(),
            metrics: String::new(),
        };
        let svg = report.svg().expect("drawn");
        assert!(!svg.contains("<script"), "{svg}");
        let texts = chart::texts(&svg);
        assert!(
            texts.iter().any(|t| t == "<script>alert(\"x\")</script>"),
            "{texts:?}"
        );
        assert!(texts.iter().any(|t| t == "a & b's"), "{texts:?}");
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let dots = document
            .descendants()
            .filter(|node| node.has_tag_name("circle"))
            .count();
        assert_eq!(dots, 2, "a watering a plant");
    }
}

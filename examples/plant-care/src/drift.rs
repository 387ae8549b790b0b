//! Probe drift: how a plant's pot dries, and from each stretch of drying how far its
//! probe has drifted, so that the controller can recalibrate the probe in use.
//!
//! A pot loses water in proportion to how wet it is, and faster in warm air: counted in
//! warm hours (each hour weighted by [`warmth`] of the air), moisture falls as
//! `m0 · e^(−k · hours)`. A probe that drifts reads `m − offset`. Neither the rise
//! after a watering nor the slope of the drying tells the offset, but the curve does:
//! once `k` is known, fitting `reading = m0 · x − offset` with `x = e^(−k · hours)` to
//! a stretch of readings between two waterings gives the offset by linear least
//! squares. `k` is learned in the first [`LEARN`] from the same stretches, while the
//! probe is fresh (its offset near zero): then `ln reading` falls in a straight line.
//!
//! The offsets of the stretches of the last [`OFFSET_WINDOW`] make the estimate (a line
//! through them, extrapolated to now, since drift grows steadily), and the probe's
//! calibration is moved by what the estimate adds to the correction already made.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How long the pot's drying rate is learned for before offsets are measured: two
/// weeks (then as long as it takes to have [`MIN_RATE_FITS`] stretches).
pub const LEARN: Duration = Duration::from_secs(14 * 86_400);
/// Stretches that must agree on the drying rate before offsets are measured.
pub const MIN_RATE_FITS: usize = 3;
/// Readings this soon after a watering are left out: the water is still soaking in.
pub const SETTLE: Duration = Duration::from_secs(3600);
/// Readings a stretch needs to be fitted.
pub const MIN_POINTS: usize = 36;
/// The longest stretch: one longer is fitted and a new one begun.
pub const MAX_STRETCH: Duration = Duration::from_secs(48 * 3600);
/// Readings drier than this (percent) are left out: below about 20 % a pot no longer
/// dries in proportion to its moisture.
pub const MIN_FIT_MOISTURE: f64 = 22.0;
/// The largest typical error (root mean square, percent) of an accepted fit.
pub const MAX_FIT_ERROR: f64 = 1.0;
/// How far back the offsets that make the estimate reach.
pub const OFFSET_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// The smallest change of the correction that moves the calibration, percent.
pub const MIN_CORRECTION_STEP: f64 = 0.5;
/// A probe corrected by more than this (percent) is flagged for a person to
/// recalibrate.
pub const FLAG_DRIFT: f64 = 5.0;

/// How much faster a pot dries at `celsius` than at 20 °C: 5 % more a degree warmer,
/// 5 % less a degree cooler, never less than a tenth.
#[must_use]
pub fn warmth(celsius: f64) -> f64 {
    (1.0 + 0.05 * (celsius - 20.0)).max(0.1)
}

/// Watches one probe's readings for drift.
#[derive(Debug, Clone)]
pub struct DriftWatch {
    start: Instant,
    last: Option<Instant>,
    /// Warm hours since the start.
    warm_hours: f64,
    /// The current stretch: (warm hours, reading).
    stretch: Vec<(f64, f64)>,
    stretch_began: Option<Instant>,
    watered_at: Option<Instant>,
    rate_fits: Vec<f64>,
    rate: Option<f64>,
    /// Offsets measured (the correction made by then included), newest last.
    offsets: VecDeque<(Instant, f64)>,
    /// The correction made so far: readings come out this much wetter than the probe's
    /// first calibration made them, percent.
    correction: f64,
    /// Fits refused in a row as implausible jumps.
    refused: u32,
}

impl Default for DriftWatch {
    /// A watch starting now.
    fn default() -> Self {
        DriftWatch::new(Instant::now())
    }
}

impl DriftWatch {
    /// A watch starting at `now`.
    #[must_use]
    pub fn new(now: Instant) -> Self {
        DriftWatch {
            start: now,
            last: None,
            warm_hours: 0.0,
            stretch: Vec::new(),
            stretch_began: None,
            watered_at: None,
            rate_fits: Vec::new(),
            rate: None,
            offsets: VecDeque::new(),
            correction: 0.0,
            refused: 0,
        }
    }

    /// The correction made so far, percent (what readings gain over the probe's first
    /// calibration).
    #[must_use]
    pub fn correction(&self) -> f64 {
        self.correction
    }

    /// The pot's drying rate, per warm hour, once learned.
    #[must_use]
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Whether the probe has drifted so far that a person should recalibrate it.
    #[must_use]
    pub fn needs_recalibration(&self) -> bool {
        self.correction.abs() > FLAG_DRIFT
    }

    /// A round at `now` in air at `celsius`, with the probe's reading if it was read
    /// and trusted (through its calibration as corrected so far). Returns a change of
    /// the correction to make now (move the calibration this many percent wetter), if
    /// a stretch just ended and moved the estimate.
    pub fn observe(&mut self, now: Instant, celsius: f64, reading: Option<f64>) -> Option<f64> {
        if let Some(last) = self.last {
            let hours = now.saturating_duration_since(last).as_secs_f64() / 3600.0;
            self.warm_hours += warmth(celsius) * hours;
        }
        self.last = Some(now);
        let settled = self
            .watered_at
            .is_none_or(|at| now.saturating_duration_since(at) >= SETTLE);
        if let Some(reading) = reading
            && settled
            && reading >= MIN_FIT_MOISTURE
        {
            if self.stretch.is_empty() {
                self.stretch_began = Some(now);
            }
            self.stretch.push((self.warm_hours, reading));
        }
        let long = self
            .stretch_began
            .is_some_and(|began| now.saturating_duration_since(began) >= MAX_STRETCH);
        if long { self.close(now) } else { None }
    }

    /// The pot was watered at `now`: the stretch ends. Returns a change of the
    /// correction to make now, as [`observe`](Self::observe).
    pub fn watered(&mut self, now: Instant) -> Option<f64> {
        self.watered_at = Some(now);
        self.close(now)
    }

    /// A person recalibrated the probe: what was measured no longer holds.
    pub fn recalibrated(&mut self, now: Instant) {
        let rate = self.rate;
        *self = DriftWatch::new(now);
        self.rate = rate;
    }

    fn close(&mut self, now: Instant) -> Option<f64> {
        let points = std::mem::take(&mut self.stretch);
        self.stretch_began = None;
        if points.len() < MIN_POINTS {
            return None;
        }
        let Some(rate) = self.rate else {
            self.learn_rate(&points, now);
            return None;
        };
        let (m0, offset, error) = fit_offset(&points, rate)?;
        if !(5.0..=110.0).contains(&m0) || error > MAX_FIT_ERROR {
            return None;
        }
        let total = self.correction + offset;
        if let Some((at, last)) = self.offsets.back() {
            let days = now.saturating_duration_since(*at).as_secs_f64() / 86_400.0;
            if (total - last).abs() > 5.0 + 0.5 * days && self.refused < 2 {
                // A jump no drift makes: a glitch, unless it keeps coming.
                self.refused += 1;
                return None;
            }
        }
        self.refused = 0;
        self.offsets.push_back((now, total));
        while self
            .offsets
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > OFFSET_WINDOW)
        {
            self.offsets.pop_front();
        }
        let estimate = self.estimate(now);
        let change = estimate - self.correction;
        if change.abs() < MIN_CORRECTION_STEP {
            return None;
        }
        self.correction = estimate;
        Some(change)
    }

    fn learn_rate(&mut self, points: &[(f64, f64)], now: Instant) {
        let origin = points[0].0;
        let logs: Vec<(f64, f64)> = points
            .iter()
            .map(|(hours, reading)| (hours - origin, reading.ln()))
            .collect();
        if let Some((slope, intercept)) = line(&logs) {
            let error = rms(points
                .iter()
                .map(|(hours, reading)| reading - (intercept + slope * (hours - origin)).exp()));
            if -slope > 0.0 && -slope < 0.2 && error <= MAX_FIT_ERROR {
                self.rate_fits.push(-slope);
            }
        }
        let learnt = now.saturating_duration_since(self.start) >= LEARN;
        if learnt && self.rate_fits.len() >= MIN_RATE_FITS {
            self.rate = Some(median(&self.rate_fits));
        }
    }

    /// The offset now: a line through the offsets of the window (those far from their
    /// median left out), extrapolated to now; their median while there are few.
    fn estimate(&self, now: Instant) -> f64 {
        let values: Vec<f64> = self.offsets.iter().map(|(_, offset)| *offset).collect();
        let middle = median(&values);
        let kept: Vec<(f64, f64)> = self
            .offsets
            .iter()
            .filter(|(_, offset)| (offset - middle).abs() <= 4.0)
            .map(|(at, offset)| {
                let days = -now.saturating_duration_since(*at).as_secs_f64() / 86_400.0;
                (days, *offset)
            })
            .collect();
        if kept.len() >= 4
            && let Some((_, at_now)) = line(&kept)
        {
            return at_now;
        }
        middle
    }
}

/// Fits `reading = m0 · e^(−rate · (hours − first)) − offset` to `points`; returns `m0`,
/// the offset and the fit's error (root mean square, percent), refitted once without
/// the points far from the first fit.
fn fit_offset(points: &[(f64, f64)], rate: f64) -> Option<(f64, f64, f64)> {
    let origin = points[0].0;
    let curve: Vec<(f64, f64)> = points
        .iter()
        .map(|(hours, reading)| ((-rate * (hours - origin)).exp(), *reading))
        .collect();
    let (m0, intercept) = line(&curve)?;
    let residual = |(x, y): &(f64, f64)| y - (m0 * x + intercept);
    let error = rms(curve.iter().map(residual));
    let kept: Vec<(f64, f64)> = curve
        .iter()
        .copied()
        .filter(|point| residual(point).abs() <= (3.0 * error).max(0.5))
        .collect();
    if kept.len() < MIN_POINTS {
        return None;
    }
    let (m0, intercept) = line(&kept)?;
    let error = rms(kept.iter().map(|(x, y)| y - (m0 * x + intercept)));
    Some((m0, -intercept, error))
}

/// The least-squares line through `points`: (slope, value at 0). `None` when the
/// points do not spread along the first axis.
fn line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let spread: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    if spread <= 1e-12 {
        return None;
    }
    let slope = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum::<f64>()
        / spread;
    Some((slope, mean_y - slope * mean_x))
}

fn rms(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), v| (sum + v * v, count + 1));
    if count == 0 {
        return 0.0;
    }
    (sum / count as f64).sqrt()
}

pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 0.008;
    const ROUND: Duration = Duration::from_secs(600);

    /// A pot dried and watered as the simulated garden does, read by a probe whose
    /// offset grows by `drift` percent a day, corrected as the watch says. Returns the
    /// watch and the true offset at the end.
    async fn run(days: u64, drift: f64, start_offset: f64) -> (DriftWatch, f64) {
        let start = Instant::now();
        let mut watch = DriftWatch::new(start);
        let mut moisture: f64 = 60.0;
        let mut noise = 0.0_f64;
        for round in 0..(days * 144) {
            let now = Instant::now();
            let hours = round as f64 / 6.0;
            let celsius = 21.0 + 4.0 * ((hours + 6.0 - 9.0) / 24.0 * std::f64::consts::TAU).sin();
            let offset = start_offset + drift * hours / 24.0;
            // A little noise, the same each run.
            noise = (noise * 7.3 + 0.37).fract();
            let reading = moisture - offset + watch.correction() + (noise - 0.5) * 0.5;
            if let Some(change) = watch.observe(now, celsius, Some(reading)) {
                assert!(change.is_finite());
            }
            if moisture < 45.0 {
                moisture += 16.7;
                watch.watered(now);
            }
            moisture -= RATE * warmth(celsius) * moisture.max(20.0) / 6.0;
            tokio::time::advance(ROUND).await;
        }
        let end_offset = start_offset + drift * days as f64;
        (watch, end_offset)
    }

    #[tokio::test(start_paused = true)]
    async fn the_drying_rate_is_learned_from_the_first_two_weeks() {
        let (watch, _) = run(20, 0.0, 0.0).await;
        let rate = watch.rate().expect("learned");
        assert!((rate - RATE).abs() < 0.0005, "{rate}");
        assert!(
            watch.correction().abs() < MIN_CORRECTION_STEP,
            "{}",
            watch.correction()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_drifting_probe_is_corrected_to_within_a_percent_or_two() {
        // 0.1 % a day, as the simulated garden's mild faults: 36 % in a year.
        let (watch, offset) = run(365, 0.1, 0.0).await;
        assert!(
            (watch.correction() - offset).abs() < 2.0,
            "corrected {:.2} %, drifted {offset:.2} %",
            watch.correction()
        );
        assert!(watch.needs_recalibration());
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_does_not_drift_is_left_alone() {
        let (watch, _) = run(120, 0.0, 0.0).await;
        assert!(watch.correction().abs() < 1.0, "{}", watch.correction());
        assert!(!watch.needs_recalibration());
    }

    #[tokio::test(start_paused = true)]
    async fn a_recalibration_forgets_the_offsets_and_keeps_the_rate() {
        let (mut watch, _) = run(60, 0.1, 0.0).await;
        assert!(watch.correction() > 2.0);
        let rate = watch.rate();
        watch.recalibrated(Instant::now());
        assert_eq!(watch.correction(), 0.0);
        assert_eq!(watch.rate(), rate);
    }

    #[test]
    fn a_line_through_points_and_none_through_a_column() {
        let (slope, at_zero) = line(&[(1.0, 3.0), (2.0, 5.0), (3.0, 7.0)]).expect("a line");
        assert!((slope - 2.0).abs() < 1e-12 && (at_zero - 1.0).abs() < 1e-12);
        assert_eq!(line(&[(1.0, 3.0), (1.0, 5.0)]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert!((warmth(25.0) - 1.25).abs() < 1e-12);
        assert_eq!(warmth(-100.0), 0.1);
    }
}

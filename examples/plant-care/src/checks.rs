//! Two checks of a plant's probes besides their drift: a watering must raise the
//! reading, and the backup probe must read what the probe reads.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::drift::{SETTLE, median};

/// How many rises after a watering are remembered to know what one should be.
const RISES: usize = 8;
/// Rises that must be known before one is judged.
const MIN_RISES: usize = 3;
/// A rise smaller than this share of what the dose usually gives is a watering that
/// did not raise the reading.
const DUD_SHARE: f64 = 0.3;
/// The latest a watering is judged: a reading later than this after it (the probe was
/// out) leaves it unjudged.
const JUDGE_WITHIN: Duration = Duration::from_secs(3 * 3600);
/// Waterings in a row that did not raise the reading before the plant is flagged.
pub const DUDS: u32 = 2;

/// Whether waterings raise the reading: the reading an hour after a watering is
/// compared with the one that called for it, against the rise a millilitre usually
/// gives. Waterings that do not raise it mean a pump that does not pump, water that
/// does not reach the pot, or a probe that does not see it.
#[derive(Debug, Clone, Default)]
pub struct RiseCheck {
    pending: Option<(Instant, f64, u32)>,
    per_ml: VecDeque<f64>,
    duds: u32,
}

impl RiseCheck {
    /// `ml` were given at `at`, when the probe read `before`.
    pub fn watered(&mut self, at: Instant, before: f64, ml: u32) {
        self.pending = Some((at, before, ml));
    }

    /// The probe read `reading` (trusted) at `now`: judges the last watering once the
    /// water has soaked in.
    pub fn observe(&mut self, now: Instant, reading: f64) {
        let Some((at, before, ml)) = self.pending else {
            return;
        };
        let waited = now.saturating_duration_since(at);
        if waited < SETTLE || ml == 0 {
            return;
        }
        self.pending = None;
        if waited > JUDGE_WITHIN {
            // The probe was out since: the pot has dried in the meantime, and the rise
            // says nothing of the watering.
            return;
        }
        let rise = reading - before;
        let per_ml = rise / f64::from(ml);
        let usual = (self.per_ml.len() >= MIN_RISES)
            .then(|| median(self.per_ml.make_contiguous()))
            .filter(|usual| *usual > 0.0);
        match usual {
            Some(usual) if per_ml < DUD_SHARE * usual => self.duds += 1,
            _ => {
                self.duds = 0;
                self.per_ml.push_back(per_ml);
                if self.per_ml.len() > RISES {
                    self.per_ml.pop_front();
                }
            }
        }
    }

    /// The probe's readings were shifted `change` percent: the reading a watering is
    /// judged against moves with them.
    pub fn recalibrated(&mut self, change: f64) {
        if let Some((_, before, _)) = &mut self.pending {
            *before += change;
        }
    }

    /// Why the plant needs a person, when waterings in a row did not raise the reading.
    #[must_use]
    pub fn trouble(&self) -> Option<String> {
        (self.duds >= DUDS).then(|| {
            format!(
                "{} waterings in a row did not raise the reading: check the pump, its hose and the probe",
                self.duds
            )
        })
    }
}

/// How often the backup probe is read beside the probe.
pub const COMPARE_EVERY: Duration = Duration::from_secs(3600);
/// Comparisons that make a judgement.
const COMPARISONS: usize = 12;
/// The smallest disagreement (percent) that is corrected.
const MIN_GAP: f64 = 1.0;
/// A backup corrected by more than this (percent) is flagged for a person.
pub const FLAG_GAP: f64 = 5.0;

/// The backup probe against the probe: once an hour both are read, and when a dozen
/// readings agree that the backup reads off, its readings are shifted to match the
/// probe's (whose own drift the drying of the pot tells). A backup shifted far is
/// flagged.
#[derive(Debug, Clone, Default)]
pub struct BackupCheck {
    compared: Option<Instant>,
    gaps: Vec<f64>,
    shift: f64,
}

impl BackupCheck {
    /// Whether the backup is due to be read beside the probe at `now`.
    #[must_use]
    pub fn due(&self, now: Instant) -> bool {
        self.compared
            .is_none_or(|at| now.saturating_duration_since(at) >= COMPARE_EVERY)
    }

    /// The probe read `probe` and the backup `backup` at `now` (both trusted).
    /// Returns a shift to make to the backup's readings (percent, wetter when
    /// positive), when enough comparisons agree that it reads off.
    pub fn compare(&mut self, now: Instant, probe: f64, backup: f64) -> Option<f64> {
        self.compared = Some(now);
        self.gaps.push(probe - backup);
        if self.gaps.len() < COMPARISONS {
            return None;
        }
        let gap = median(&self.gaps);
        self.gaps.clear();
        if gap.abs() < MIN_GAP {
            return None;
        }
        self.shift += gap;
        Some(gap)
    }

    /// How far the backup's readings have been shifted so far, percent.
    #[must_use]
    pub fn shift(&self) -> f64 {
        self.shift
    }

    /// Why the plant needs a person, when the backup has been shifted far.
    #[must_use]
    pub fn trouble(&self) -> Option<String> {
        (self.shift.abs() > FLAG_GAP).then(|| {
            format!(
                "its backup probe disagreed with the probe by {:.0} % (corrected so far): recalibrate it",
                self.shift.abs()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waterings_that_do_not_raise_the_reading_are_flagged_after_two() {
        let mut check = RiseCheck::default();
        let hour = Duration::from_secs(3600);
        // Four waterings of 200 ml raise the reading 13 % each.
        for _ in 0..4 {
            check.watered(Instant::now(), 50.0, 200);
            tokio::time::advance(hour / 2).await;
            check.observe(Instant::now(), 50.0); // still soaking: not judged
            tokio::time::advance(hour).await;
            check.observe(Instant::now(), 63.0);
        }
        assert_eq!(check.trouble(), None);
        // Then the pump's hose slips: the water goes elsewhere.
        for _ in 0..2 {
            check.watered(Instant::now(), 50.0, 200);
            tokio::time::advance(2 * hour).await;
            check.observe(Instant::now(), 50.5);
        }
        assert_eq!(
            check.trouble().as_deref(),
            Some(
                "2 waterings in a row did not raise the reading: check the pump, its hose and the probe"
            )
        );
        // Fixed: the next watering raises it again.
        check.watered(Instant::now(), 50.0, 200);
        tokio::time::advance(2 * hour).await;
        check.observe(Instant::now(), 62.0);
        assert_eq!(check.trouble(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rise_is_not_judged_before_enough_are_known() {
        let mut check = RiseCheck::default();
        for _ in 0..3 {
            check.watered(Instant::now(), 50.0, 200);
            tokio::time::advance(Duration::from_secs(7200)).await;
            check.observe(Instant::now(), 50.0);
        }
        assert_eq!(check.trouble(), None, "nothing to compare with yet");
    }

    #[tokio::test(start_paused = true)]
    async fn a_backup_that_reads_off_is_shifted_to_the_probe_and_flagged_when_far() {
        let mut check = BackupCheck::default();
        assert!(check.due(Instant::now()));
        let mut shifts = Vec::new();
        // The backup reads 3 % too dry, then 4 % more.
        for offset in [3.0, 7.0] {
            for i in 0..COMPARISONS {
                let backup = 50.0 - (offset - check.shift()) + if i % 2 == 0 { 0.2 } else { -0.2 };
                if let Some(shift) = check.compare(Instant::now(), 50.0, backup) {
                    shifts.push(shift);
                }
                assert!(!check.due(Instant::now()), "compared just now");
                tokio::time::advance(COMPARE_EVERY).await;
                assert!(check.due(Instant::now()));
            }
        }
        assert_eq!(shifts.len(), 2);
        assert!((check.shift() - 7.0).abs() < 0.3, "{}", check.shift());
        assert!(
            check
                .trouble()
                .is_some_and(|why| why.contains("disagreed with the probe by 7 %"))
        );
        // A backup that agrees is left alone.
        let mut fine = BackupCheck::default();
        for _ in 0..COMPARISONS {
            assert_eq!(fine.compare(Instant::now(), 50.0, 50.3), None);
        }
        assert_eq!(fine.shift(), 0.0);
    }
}

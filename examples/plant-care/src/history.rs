//! A plant's recent past: its readings and waterings of the last week, bounded in
//! memory, for the page's charts.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::chart::{self, Line, MarkKind};

/// How far back a plant's history reaches: a week.
pub const HISTORY_SPAN: Duration = Duration::from_secs(7 * 86_400);

/// The closest two kept readings of the same kind may be: 5 minutes, so a week holds
/// 2,016 readings however often the probes are read (and one more at each change of
/// source or breaker state).
pub const HISTORY_STEP: Duration = Duration::from_secs(300);

/// Where a reading came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The plant's probe.
    Probe,
    /// The backup probe in the same pot (the probe failed).
    Backup,
    /// The last good reading, served again (both probes failed).
    LastGood,
}

/// One kept reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it was taken (by the controller).
    pub at: Instant,
    /// Moisture, percent.
    pub moisture: f64,
    /// Its quality.
    pub quality: f64,
    /// Where it came from.
    pub source: Source,
    /// Whether the probe's breaker was open.
    pub breaker_open: bool,
}

/// A plant's readings and waterings of the last [`HISTORY_SPAN`].
#[derive(Debug, Clone, Default)]
pub struct History {
    samples: VecDeque<Sample>,
    waterings: VecDeque<(Instant, u32)>,
}

impl History {
    /// Keeps `sample` unless the last kept one is less than [`HISTORY_STEP`] older and
    /// of the same kind (a change of source or of the breaker's state is always kept,
    /// so the marks are never lost); forgets what is past the span.
    pub fn record(&mut self, sample: Sample) {
        let keep = self.samples.back().is_none_or(|last| {
            sample.at.saturating_duration_since(last.at) >= HISTORY_STEP
                || last.source != sample.source
                || last.breaker_open != sample.breaker_open
        });
        if keep {
            self.samples.push_back(sample);
        }
        self.forget(sample.at);
    }

    /// Records a watering of `ml` at `at`.
    pub fn watered(&mut self, at: Instant, ml: u32) {
        self.waterings.push_back((at, ml));
        self.forget(at);
    }

    fn forget(&mut self, now: Instant) {
        let old = |at: Instant| now.saturating_duration_since(at) > HISTORY_SPAN;
        while self.samples.front().is_some_and(|sample| old(sample.at)) {
            self.samples.pop_front();
        }
        while self.waterings.front().is_some_and(|(at, _)| old(*at)) {
            self.waterings.pop_front();
        }
    }

    /// The readings kept, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    /// The chart line of the last `span` up to `now`: hours run from `-span` to 0.
    #[must_use]
    pub fn line(&self, id: &str, band: (f64, f64), now: Instant, span: Duration) -> Line {
        let hours_ago = |at: Instant| -now.saturating_duration_since(at).as_secs_f64() / 3600.0;
        let within = |at: Instant| now.saturating_duration_since(at) <= span;
        let samples: Vec<&Sample> = self.samples.iter().filter(|s| within(s.at)).collect();
        let marks = chart::marks(samples.iter().enumerate().map(|(i, sample)| {
            let to = samples.get(i + 1).map_or(0.0, |next| hours_ago(next.at));
            let kind = MarkKind::of(sample.breaker_open, sample.source == Source::LastGood);
            (hours_ago(sample.at), to, kind)
        }));
        Line {
            id: id.to_string(),
            band,
            points: samples
                .iter()
                .map(|sample| (hours_ago(sample.at), sample.moisture))
                .collect(),
            waterings: self
                .waterings
                .iter()
                .filter(|(at, _)| within(*at))
                .map(|(at, _)| hours_ago(*at))
                .collect(),
            marks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::Mark;

    fn sample(at: Instant, source: Source, breaker_open: bool) -> Sample {
        Sample {
            at,
            moisture: 50.0,
            quality: 1.0,
            source,
            breaker_open,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_week_is_kept_thinned_to_five_minutes_and_no_more() {
        let mut history = History::default();
        // A reading a minute for two weeks.
        for _ in 0..(14 * 1_440) {
            history.record(sample(Instant::now(), Source::Probe, false));
            tokio::time::advance(Duration::from_secs(60)).await;
        }
        let kept = history.samples().count();
        assert_eq!(kept, 2_016, "one every five minutes for a week");
        // A dead probe, read from the backup every minute for a week: still one every
        // five minutes, and one at the change.
        for _ in 0..(7 * 1_440) {
            history.record(sample(Instant::now(), Source::Backup, false));
            tokio::time::advance(Duration::from_secs(60)).await;
        }
        let backup = history
            .samples()
            .filter(|sample| sample.source == Source::Backup)
            .count();
        assert!((2_015..=2_017).contains(&backup), "{backup}");
        let oldest = history.samples().next().expect("some").at;
        assert!(Instant::now().duration_since(oldest) <= HISTORY_SPAN + Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn marks_cover_the_stretches_of_open_breakers_and_last_good_readings() {
        let mut history = History::default();
        let start = Instant::now();
        let kinds = [
            (Source::Probe, false),
            (Source::LastGood, false),
            (Source::LastGood, false),
            (Source::Backup, true),
            (Source::Backup, true),
            (Source::Probe, false),
        ];
        for (source, open) in kinds {
            history.record(sample(Instant::now(), source, open));
            tokio::time::advance(Duration::from_secs(600)).await;
        }
        history.watered(start + Duration::from_secs(1_200), 200);
        let now = Instant::now();
        let line = history.line("basil", (40.0, 80.0), now, Duration::from_secs(86_400));
        let hours = |seconds: u64| -((now - start).as_secs_f64() - seconds as f64) / 3600.0;
        assert_eq!(line.points.len(), 6);
        assert_eq!(
            line.marks,
            [
                Mark {
                    from: hours(600),
                    to: hours(1_800),
                    kind: MarkKind::LastGood
                },
                Mark {
                    from: hours(1_800),
                    to: hours(3_000),
                    kind: MarkKind::BreakerOpen
                },
            ]
        );
        assert_eq!(line.waterings, [hours(1_200)]);
    }
}

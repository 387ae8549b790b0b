//! What a run's samples say: goodput, latency percentiles of served requests (recorded
//! in an HDR histogram), rejections, and how the latency moves over time.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::drive::Sample;

/// A served request answered within this long counts towards goodput.
pub(crate) const SLO: Duration = Duration::from_millis(100);

/// The figures of one stretch of a run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Summary {
    /// Requests sent.
    pub(crate) sent: u64,
    /// Served (200) within the SLO, per second.
    pub(crate) goodput: f64,
    /// Served requests' latency percentiles, in milliseconds: p50, p99, p99.9.
    pub(crate) p50: f64,
    /// The 99th percentile.
    pub(crate) p99: f64,
    /// The 99.9th percentile.
    pub(crate) p999: f64,
    /// The share of requests refused by the protection (429, 503, 504).
    pub(crate) rejected: f64,
    /// The share with no answer or a 5xx other than those.
    pub(crate) failed: f64,
    /// The 99th percentile of every answer, served or refused, in milliseconds: what
    /// a generator that does not tell them apart reports.
    pub(crate) p99_all: f64,
}

/// The figures of the samples due within `from..to`.
pub(crate) fn summarize(samples: &[Sample], from: Duration, to: Duration) -> Summary {
    let mut served = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut all = served.clone();
    let (mut sent, mut good, mut rejected, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for sample in samples.iter().filter(|s| s.due >= from && s.due < to) {
        sent += 1;
        if sample.status != 0 {
            let micros = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
            all.saturating_record(micros.max(1));
        }
        match sample.status {
            200 => {
                let micros = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
                served.saturating_record(micros.max(1));
                good += u64::from(sample.latency <= SLO);
            }
            429 | 503 | 504 => rejected += 1,
            _ => failed += 1,
        }
    }
    let seconds = (to - from).as_secs_f64();
    let ms = |q: f64| {
        if served.is_empty() {
            f64::NAN
        } else {
            served.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let share = |n: u64| {
        if sent == 0 {
            0.0
        } else {
            n as f64 / sent as f64
        }
    };
    Summary {
        sent,
        goodput: good as f64 / seconds,
        p50: ms(0.5),
        p99: ms(0.99),
        p999: ms(0.999),
        rejected: share(rejected),
        failed: share(failed),
        p99_all: if all.is_empty() {
            f64::NAN
        } else {
            all.value_at_quantile(0.99) as f64 / 1000.0
        },
    }
}

/// The served p99 (ms) and the refused share of each `window` of the run, from `from`.
pub(crate) fn timeline(
    samples: &[Sample],
    from: Duration,
    to: Duration,
    window: Duration,
) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut at = from;
    while at + window <= to {
        let summary = summarize(samples, at, at + window);
        points.push((summary.p99, summary.rejected));
        at += window;
    }
    points
}

/// How long after `from` until every later window's served p99 stays within `bound`
/// (ms); `None` if it never does.
pub(crate) fn settles(points: &[(f64, f64)], window: Duration, bound: f64) -> Option<Duration> {
    let last_bad = points
        .iter()
        .rposition(|(p99, _)| p99.is_nan() || *p99 > bound);
    match last_bad {
        None => Some(Duration::ZERO),
        Some(n) if n + 1 < points.len() => Some(window * u32::try_from(n + 1).ok()?),
        Some(_) => None,
    }
}

/// One line of the SVG plot: a server's values at each offered load.
pub(crate) struct Line<'a> {
    /// The server.
    pub(crate) name: &'a str,
    /// Its colour.
    pub(crate) colour: &'a str,
    /// (offered load in multiples of capacity, value).
    pub(crate) points: Vec<(f64, f64)>,
}

/// A small SVG line chart: `lines` against offered load, titled `title`, the y axis
/// labelled `unit`, from 0 to `y_max`.
pub(crate) fn svg_chart(
    title: &str,
    unit: &str,
    y_max: f64,
    lines: &[Line<'_>],
    x_offset: f64,
) -> String {
    let (left, top, width, height) = (x_offset + 60.0, 40.0, 320.0, 220.0);
    let x_of = |load: f64| left + (load.log2() + 1.0) / 3.0 * width; // 0.5..4, log scale
    let y_of = |value: f64| top + height - (value.min(y_max) / y_max) * height;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<text x="{:.0}" y="22" font-size="14" font-weight="bold">{title}</text>"#,
        left
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>"##
    );
    for load in [0.5, 1.0, 2.0, 4.0] {
        let x = x_of(load);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{load}×C</text>"##,
            top + height,
            top + height + 16.0
        );
    }
    for step in 0..=4 {
        let value = y_max * f64::from(step) / 4.0;
        let y = y_of(value);
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{value:.0}</text>"##,
            left - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" transform="rotate(-90 {:.1} {:.1})" text-anchor="middle">{unit}</text>"#,
        left - 44.0,
        top + height / 2.0,
        left - 44.0,
        top + height / 2.0
    );
    for (n, line) in lines.iter().enumerate() {
        let points: Vec<String> = line
            .points
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(load, value)| format!("{:.1},{:.1}", x_of(*load), y_of(*value)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            points.join(" "),
            line.colour
        );
        let y = top + 14.0 + 16.0 * n as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{y:.1}" font-size="11" fill="{}">{}</text>"#,
            left + 8.0,
            line.colour,
            line.name
        );
    }
    svg
}

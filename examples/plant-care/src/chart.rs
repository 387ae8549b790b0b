//! Moisture charts as SVG, drawn with `plotters`: each plant's line over its target
//! band, its waterings as dots, and strips where its probe's breaker was open or the
//! last good reading was served. `simulate` writes one for the whole run; the page
//! shows one for the last day and one for the last week of each plant.

use plotters::prelude::*;

use crate::Error;

/// One plant on a chart. Times are in hours from the chart's start.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// The plant.
    pub id: String,
    /// The plant's target band, `min_moisture..=max_moisture`, percent.
    pub band: (f64, f64),
    /// Moisture, percent, at each time.
    pub points: Vec<(f64, f64)>,
    /// When the plant was watered.
    pub waterings: Vec<f64>,
    /// When something was wrong with its readings.
    pub marks: Vec<Mark>,
}

/// A stretch of time when a plant's readings were not its probe's own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    /// From, hours.
    pub from: f64,
    /// To, hours.
    pub to: f64,
    /// What was wrong.
    pub kind: MarkKind,
}

/// What a [`Mark`] marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// The probe's breaker was open.
    BreakerOpen,
    /// The last good reading was served (the probe and its backup failed).
    LastGood,
}

impl MarkKind {
    /// What marks a stretch of readings: an open breaker first, else the last good
    /// reading served; nothing when neither.
    #[must_use]
    pub fn of(breaker_open: bool, last_good: bool) -> Option<MarkKind> {
        match (breaker_open, last_good) {
            (true, _) => Some(MarkKind::BreakerOpen),
            (false, true) => Some(MarkKind::LastGood),
            (false, false) => None,
        }
    }
}

/// The marks of consecutive stretches `(from, to, kind)`: a stretch with no kind marks
/// nothing, and neighbouring stretches of one kind make one mark.
pub fn marks(stretches: impl IntoIterator<Item = (f64, f64, Option<MarkKind>)>) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::new();
    for (from, to, kind) in stretches {
        let Some(kind) = kind else { continue };
        match marks.last_mut() {
            Some(last) if last.kind == kind && (last.to - from).abs() < 1e-9 => last.to = to,
            _ => marks.push(Mark { from, to, kind }),
        }
    }
    marks
}

/// What the chart shows around its lines.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The caption.
    pub title: String,
    /// The time axis, hours: `from..to`.
    pub hours: (f64, f64),
    /// Size in pixels.
    pub size: (u32, u32),
}

const COLOURS: [RGBColor; 5] = [
    RGBColor(46, 125, 50),
    RGBColor(21, 101, 192),
    RGBColor(239, 108, 0),
    RGBColor(106, 27, 154),
    RGBColor(198, 40, 40),
];

/// The chart of `lines` in `frame`, as an SVG document.
///
/// # Errors
///
/// [`Error::Chart`]: a drawing error from `plotters` (none is expected for finite
/// numbers).
pub fn svg(frame: &Frame, lines: &[Line]) -> Result<String, Error> {
    let mut out = String::new();
    draw(frame, lines, &mut out).map_err(|error| Error::Chart {
        reason: error.to_string(),
    })?;
    Ok(out)
}

fn draw(frame: &Frame, lines: &[Line], out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let (from, to) = frame.hours;
    let to = if to > from { to } else { from + 1.0 };
    let days = (to - from) > 48.0;
    let root = SVGBackend::with_string(out, frame.size).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&frame.title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(from..to, 0.0..100.0)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .x_desc(if days { "days" } else { "hours" })
        .y_desc("moisture %")
        .y_label_formatter(&|percent| format!("{percent:.0}"))
        .x_label_formatter(&|hours| {
            let value = if days { hours / 24.0 } else { *hours };
            if (value - value.round()).abs() < 0.01 {
                format!("{value:.0}")
            } else {
                format!("{value:.1}")
            }
        })
        .label_style(("sans-serif", 13))
        .draw()?;
    let strip = 100.0 / (lines.len().max(1) as f64 * 25.0);
    for (i, line) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let (low, high) = line.band;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(from, low), (to, high)],
            colour.mix(0.08).filled(),
        )))?;
        // Marks: a strip along the bottom, one row a plant.
        let bottom = strip * i as f64;
        chart.draw_series(line.marks.iter().map(|mark| {
            let shade = match mark.kind {
                MarkKind::BreakerOpen => RGBColor(198, 40, 40).mix(0.7),
                MarkKind::LastGood => RGBColor(120, 120, 120).mix(0.6),
            };
            Rectangle::new(
                [
                    (mark.from, bottom),
                    (mark.to.max(mark.from), bottom + strip),
                ],
                shade.filled(),
            )
        }))?;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(line.id.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
        chart.draw_series(
            line.waterings
                .iter()
                .map(|at| Circle::new((*at, moisture_at(&line.points, *at)), 3, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The moisture at `at`: the point at or just before it (the first point if none is).
fn moisture_at(points: &[(f64, f64)], at: f64) -> f64 {
    let index = points.partition_point(|(hour, _)| *hour <= at);
    points
        .get(index.saturating_sub(1))
        .map_or(0.0, |(_, moisture)| *moisture)
}

/// The text of every `<text>` element of `svg`, trimmed (for tests).
///
/// # Panics
///
/// When `svg` is not well-formed XML.
#[cfg(test)]
pub(crate) fn texts(svg: &str) -> Vec<String> {
    let document = roxmltree::Document::parse(svg).expect("well-formed XML");
    document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text())
        .map(|text| text.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str) -> Line {
        Line {
            id: id.to_string(),
            band: (40.0, 80.0),
            points: (0..48)
                .map(|h| (f64::from(h), 50.0 + f64::from(h % 10)))
                .collect(),
            waterings: vec![5.0, 30.0],
            marks: vec![
                Mark {
                    from: 10.0,
                    to: 12.0,
                    kind: MarkKind::BreakerOpen,
                },
                Mark {
                    from: 20.0,
                    to: 21.0,
                    kind: MarkKind::LastGood,
                },
            ],
        }
    }

    #[test]
    fn a_chart_is_well_formed_svg_with_its_bands_marks_and_names_escaped() {
        let frame = Frame {
            title: "moisture".to_string(),
            hours: (0.0, 48.0),
            size: (640, 320),
        };
        let svg = svg(&frame, &[line("<script>alert(1)</script>"), line("a & b")]).expect("drawn");
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        assert!(!svg.contains("<script"), "the id is escaped");
        let texts = texts(&svg);
        assert!(
            texts.iter().any(|t| t == "<script>alert(1)</script>"),
            "{texts:?}"
        );
        assert!(texts.iter().any(|t| t == "a & b"), "{texts:?}");
        // Two bands and two marks a plant, and the background.
        let rects = document
            .descendants()
            .filter(|node| node.has_tag_name("rect"))
            .count();
        assert!(rects >= 1 + 2 * 2 + 2 * 2, "{rects} rectangles");
        let dots = document
            .descendants()
            .filter(|node| node.has_tag_name("circle"))
            .count();
        assert_eq!(dots, 4, "two waterings a plant");
    }

    #[test]
    fn the_moisture_at_a_time_is_the_last_point_before_it() {
        let points = [(0.0, 10.0), (1.0, 20.0), (2.0, 30.0)];
        assert_eq!(moisture_at(&points, 1.5), 20.0);
        assert_eq!(moisture_at(&points, 2.0), 30.0);
        assert_eq!(moisture_at(&points, -1.0), 10.0);
        assert_eq!(moisture_at(&[], 1.0), 0.0);
    }
}

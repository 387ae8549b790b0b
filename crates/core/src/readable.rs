//! [`Readable`]: a duration as a person reads it in a message (`29.9s`, `250ms`,
//! `2m30s`), rounded; the exact value stays in the typed fields.

use std::fmt;
use std::time::Duration;

/// A duration rounded for people: three significant digits below a minute (`29.9s`,
/// `1.25s`, `250ms`, `12µs`), whole seconds below an hour (`2m30s`, `5m`), whole
/// minutes above (`1h5m`). Messages print it; the exact duration stays in the field
/// the message comes from.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_core::Readable;
///
/// assert_eq!(Readable(Duration::from_nanos(29_932_485_629)).to_string(), "29.9s");
/// assert_eq!(Readable(Duration::from_secs(1)).to_string(), "1s");
/// assert_eq!(Readable(Duration::from_micros(11_979)).to_string(), "12ms");
/// assert_eq!(Readable(Duration::from_secs(150)).to_string(), "2m30s");
/// assert_eq!(Readable(Duration::from_secs(3_900)).to_string(), "1h5m");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Readable(pub Duration);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let duration = self.0;
        let nanos = duration.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000 {
            return write!(f, "{nanos}ns");
        }
        // Below a minute: three significant digits in the largest unit under the value.
        let (value, unit) = if nanos < 1_000_000 {
            (nanos as f64 / 1e3, "µs")
        } else if nanos < 1_000_000_000 {
            (nanos as f64 / 1e6, "ms")
        } else {
            (duration.as_secs_f64(), "s")
        };
        let rounded = significant(value);
        match unit {
            // 999.7µs is 1ms, not 1000µs.
            "µs" if rounded >= 999.5 => return f.write_str("1ms"),
            "ms" if rounded >= 999.5 => return f.write_str("1s"),
            "s" if rounded >= 59.95 => {}
            _ => return write!(f, "{}{unit}", trim(rounded)),
        }
        let seconds = duration.as_secs_f64().round() as u64;
        if seconds < 3_600 {
            let (minutes, seconds) = (seconds / 60, seconds % 60);
            return if seconds == 0 {
                write!(f, "{minutes}m")
            } else {
                write!(f, "{minutes}m{seconds}s")
            };
        }
        let minutes = (seconds + 30) / 60;
        let (hours, minutes) = (minutes / 60, minutes % 60);
        if minutes == 0 {
            write!(f, "{hours}h")
        } else {
            write!(f, "{hours}h{minutes}m")
        }
    }
}

/// `value` (at least 1) rounded to three significant digits.
fn significant(value: f64) -> f64 {
    let scale = if value < 10.0 {
        100.0
    } else if value < 100.0 {
        10.0
    } else {
        1.0
    };
    (value * scale).round() / scale
}

/// `value` without trailing zeros: `1.50` is `1.5`, `2.00` is `2`.
fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(duration: Duration) -> String {
        Readable(duration).to_string()
    }

    #[test]
    fn every_range_reads_as_people_write_it() {
        assert_eq!(read(Duration::ZERO), "0s");
        assert_eq!(read(Duration::from_nanos(850)), "850ns");
        assert_eq!(read(Duration::from_nanos(1_234)), "1.23µs");
        assert_eq!(read(Duration::from_micros(999)), "999µs");
        assert_eq!(read(Duration::from_nanos(999_700)), "1ms");
        assert_eq!(read(Duration::from_millis(250)), "250ms");
        assert_eq!(read(Duration::from_nanos(51_791_627)), "51.8ms");
        assert_eq!(read(Duration::from_nanos(999_700_000)), "1s");
        assert_eq!(read(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(read(Duration::from_nanos(11_979_623_233)), "12s");
        assert_eq!(read(Duration::from_millis(59_940)), "59.9s");
        assert_eq!(read(Duration::from_millis(59_960)), "1m");
        assert_eq!(read(Duration::from_secs(90)), "1m30s");
        assert_eq!(read(Duration::from_secs(3_599)), "59m59s");
        assert_eq!(read(Duration::from_secs(3_600)), "1h");
        assert_eq!(read(Duration::from_secs(86_400 * 2 + 60)), "48h1m");
    }
}

//! Repeated warnings said less and less often, so that a device failing for weeks does
//! not flood the log.

use std::time::Duration;

use tokio::time::Instant;

/// How long a repeated warning first keeps quiet: said once, then again after an hour,
/// then after twice as long each time, up to [`WARN_EVERY_AT_MOST`], each time with how
/// many were kept quiet. A probe that fails for weeks says so a few times a day, not
/// every round.
pub const WARN_EVERY: Duration = Duration::from_secs(3600);

/// The longest a repeated warning keeps quiet: a day.
pub const WARN_EVERY_AT_MOST: Duration = Duration::from_secs(86_400);

/// Says a repeated warning less and less often while it repeats.
#[derive(Debug, Default)]
pub(crate) struct Hush {
    last: Option<Instant>,
    quiet: u64,
    gap: Duration,
}

impl Hush {
    /// Whether to say the warning now: `Some(n)`, with `n` the warnings kept quiet
    /// since it was last said; `None` to keep this one quiet too.
    pub(crate) fn say(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(at) if now.saturating_duration_since(at) < self.gap => {
                self.quiet += 1;
                None
            }
            Some(_) => {
                self.last = Some(now);
                self.gap = (self.gap * 2).min(WARN_EVERY_AT_MOST);
                Some(std::mem::take(&mut self.quiet))
            }
            None => {
                self.last = Some(now);
                self.gap = WARN_EVERY;
                Some(0)
            }
        }
    }

    /// The trouble is over: the next warning is said at once.
    pub(crate) fn clear(&mut self) {
        *self = Hush::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_repeated_warning_is_said_less_and_less_often_until_it_clears() {
        let mut hush = Hush::default();
        let mut said = Vec::new();
        // A warning every ten minutes for four days.
        for round in 0..(4 * 144) {
            if let Some(quiet) = hush.say(Instant::now()) {
                said.push((round, quiet));
            }
            tokio::time::advance(Duration::from_secs(600)).await;
        }
        // Said at once, then after 1, 2, 4, 8 and 16 hours, then once a day.
        assert_eq!(
            said,
            [
                (0, 0),
                (6, 5),
                (18, 11),
                (42, 23),
                (90, 47),
                (186, 95),
                (330, 143),
                (474, 143)
            ]
        );
        hush.clear();
        assert_eq!(
            hush.say(Instant::now()),
            Some(0),
            "said at once after it cleared"
        );
        assert_eq!(hush.say(Instant::now()), None);
    }
}

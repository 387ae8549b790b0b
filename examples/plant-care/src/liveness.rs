//! The care loop's liveness: each round of care marks its start, and the loop's end
//! (returning, being dropped, panicking) is marked by its heartbeat's drop.

use std::sync::Arc;
use std::time::Duration;

use hardy::health::CheckResult;
use parking_lot::Mutex;
use tokio::time::Instant;

/// How long past `read_every` the care loop may go without progress (a round started,
/// or a plant cared for) before the controller is not live: the longest one plant's
/// care waits for the pump and waters, with room to spare.
pub const TICK_GRACE: Duration = Duration::from_secs(15 * 60);

/// The care loop's signs of life, which the liveness check reads.
#[derive(Debug)]
pub(crate) struct Pulse {
    every: Duration,
    built: Instant,
    state: Mutex<PulseState>,
}

#[derive(Debug, Default)]
struct PulseState {
    /// When the last round of care started.
    last_tick: Option<Instant>,
    /// Whether a care loop was started.
    started: bool,
    /// Why the care loop ended, once it has.
    ended: Option<String>,
}

impl Pulse {
    /// Signs of life of a loop of rounds every `every`, from now.
    pub(crate) fn new(every: Duration) -> Self {
        Pulse {
            every,
            built: Instant::now(),
            state: Mutex::new(PulseState::default()),
        }
    }

    /// Marks a loop as running until the returned heartbeat is dropped.
    pub(crate) fn heartbeat(pulse: &Arc<Pulse>) -> Heartbeat {
        let mut state = pulse.state.lock();
        state.started = true;
        state.ended = None;
        Heartbeat {
            pulse: pulse.clone(),
            why: "returned",
        }
    }

    /// Whether a loop has run and ended, and why.
    pub(crate) fn ended(&self) -> Option<String> {
        let state = self.state.lock();
        state.started.then(|| state.ended.clone()).flatten()
    }

    /// The care loop made progress now: a round started, or a plant was cared for.
    pub(crate) fn beat(&self) {
        self.state.lock().last_tick = Some(Instant::now());
    }

    /// The liveness verdict: the loop has not ended, and a round of care started
    /// within `read_every` and [`TICK_GRACE`] (since the controller was built, before
    /// the first round).
    pub(crate) fn status(&self) -> CheckResult {
        let state = self.state.lock();
        if let Some(why) = &state.ended {
            return CheckResult::unhealthy(format!("the care loop has ended: {why}"));
        }
        let since = state.last_tick.unwrap_or(self.built);
        let age = Instant::now().saturating_duration_since(since);
        if age > self.every + TICK_GRACE {
            let what = if state.last_tick.is_some() {
                "the last round of care started"
            } else {
                "no round of care since start,"
            };
            return CheckResult::unhealthy(format!("{what} {}s ago", age.as_secs()));
        }
        CheckResult::healthy()
    }
}

/// Marks the care loop as running while it lives; when it is dropped (the loop
/// returned, was cancelled or panicked) the loop is marked ended.
#[derive(Debug)]
#[must_use = "the loop counts as ended once this is dropped"]
pub struct Heartbeat {
    pulse: Arc<Pulse>,
    why: &'static str,
}

impl Heartbeat {
    /// Marks the loop as stopped on purpose (at shutdown) rather than failed.
    pub fn stopping(&mut self) {
        self.why = "stopped for shutdown";
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let why = if std::thread::panicking() {
            "a round of care panicked"
        } else {
            self.why
        };
        self.pulse.state.lock().ended = Some(why.to_string());
    }
}

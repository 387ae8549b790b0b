//! [`LoadShedEvent`].

use std::time::Duration;

use hardy_core::{Name, ShedReason};

use crate::Priority;

/// What a [`LoadShedder`](crate::LoadShedder) tells its listener. Admissions are not
/// reported (they are the hot path; the metrics count them).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LoadShedEvent {
    /// A call was shed.
    Shed {
        /// The shedder's name.
        name: Name,
        /// Why.
        reason: ShedReason,
        /// The call's priority (its level).
        priority: Priority,
        /// Calls in flight at the time.
        in_flight: u32,
        /// The limit at the time.
        limit: u32,
    },
    /// The concurrency limit changed.
    LimitChanged {
        /// The shedder's name.
        name: Name,
        /// The limit before.
        from: u32,
        /// The limit now.
        to: u32,
        /// The mean latency of the window that moved it, if measured.
        rtt: Option<Duration>,
    },
    /// The gradient limit began measuring the minimum latency: the limit is held at its
    /// minimum until the probe ends.
    ProbeStarted {
        /// The shedder's name.
        name: Name,
    },
    /// A probe of the minimum latency ended.
    ProbeFinished {
        /// The shedder's name.
        name: Name,
        /// The minimum latency measured.
        min_rtt: Duration,
    },
}

impl LoadShedEvent {
    /// The name of the shedder that emitted the event.
    pub fn name(&self) -> &Name {
        match self {
            LoadShedEvent::Shed { name, .. }
            | LoadShedEvent::LimitChanged { name, .. }
            | LoadShedEvent::ProbeStarted { name }
            | LoadShedEvent::ProbeFinished { name, .. } => name,
        }
    }
}

/// The `tracing` target of this crate's events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "hardy::load_shed";

/// With the `tracing` feature, each event is recorded under the target
/// `hardy::load_shed`, with the handle's name and the event's facts as fields.
impl hardy_core::Traced for LoadShedEvent {
    #[cfg(feature = "tracing")]
    #[inline]
    fn wanted() -> bool {
        tracing::level_enabled!(tracing::Level::INFO)
    }

    #[cfg(feature = "tracing")]
    fn trace(&self) {
        match self {
            LoadShedEvent::Shed {
                name,
                reason,
                priority,
                in_flight,
                limit,
            } => tracing::debug!(
                target: TARGET, name = %name, reason = reason.as_str(), priority = priority.level(),
                in_flight, limit, "call shed"
            ),
            LoadShedEvent::LimitChanged {
                name,
                from,
                to,
                rtt,
            } => tracing::info!(
                target: TARGET, name = %name, from, to, rtt = ?rtt, "concurrency limit changed"
            ),
            LoadShedEvent::ProbeStarted { name } => tracing::debug!(
                target: TARGET, name = %name, "minimum latency probe started"
            ),
            LoadShedEvent::ProbeFinished { name, min_rtt } => tracing::debug!(
                target: TARGET, name = %name, min_rtt = ?min_rtt, "minimum latency probe finished"
            ),
        }
    }
}

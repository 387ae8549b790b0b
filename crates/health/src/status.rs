//! [`Status`], [`Probe`] and [`Probes`].

use std::fmt;

/// The health of one check, or of several aggregated.
///
/// Statuses are ordered from best to worst: `Healthy < Degraded < Unknown < Unhealthy`,
/// and an aggregate is the worst of its parts (an empty aggregate is healthy).
/// [`is_serving`](Status::is_serving) says whether a probe answers 200: healthy and
/// degraded serve; unknown (never checked yet, or not enough successes since) and
/// unhealthy do not.
///
/// # Examples
///
/// ```
/// use hardy_health::Status;
///
/// let overall = Status::aggregate([Status::Healthy, Status::Degraded]);
/// assert_eq!(overall, Status::Degraded);
/// assert!(overall.is_serving());
/// assert_eq!(Status::aggregate([Status::Unknown, Status::Unhealthy]), Status::Unhealthy);
/// assert_eq!(Status::aggregate([]), Status::Healthy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working as it should.
    Healthy,
    /// Working, but impaired: a breaker open, a pool exhausted, a slow answer.
    Degraded,
    /// Not known yet: never checked, or not enough successes since it was unhealthy.
    Unknown,
    /// Not working.
    Unhealthy,
}

impl Status {
    /// The worst of `statuses`; healthy when there are none.
    pub fn aggregate(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().max().unwrap_or(Status::Healthy)
    }

    /// Whether a probe with this status answers that it serves (healthy or degraded).
    #[must_use]
    pub fn is_serving(self) -> bool {
        matches!(self, Status::Healthy | Status::Degraded)
    }

    /// The status as a lowercase word, as in reports and metric labels.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unknown => "unknown",
            Status::Unhealthy => "unhealthy",
        }
    }

    /// The status as a number for a gauge: 0 healthy, 1 degraded, 2 unknown,
    /// 3 unhealthy.
    #[must_use]
    pub fn level(self) -> f64 {
        match self {
            Status::Healthy => 0.0,
            Status::Degraded => 1.0,
            Status::Unknown => 2.0,
            Status::Unhealthy => 3.0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a probe asks, in the terms of Kubernetes' probes.
///
/// - [`Liveness`](Probe::Liveness): is the program itself working, or should it be
///   restarted? Only checks of the program's own state belong here: a dependency that
///   is down must never make a program look dead.
/// - [`Readiness`](Probe::Readiness): can it serve now? Dependencies belong here.
/// - [`Startup`](Probe::Startup): has it finished starting?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// Is the program working at all?
    Liveness,
    /// Can it serve now?
    Readiness,
    /// Has it finished starting?
    Startup,
}

/// The probes a check takes part in.
///
/// Default: readiness only, so a failing dependency makes the program unready, never
/// dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct Probes {
    /// Part of the liveness probe. Default: `false`.
    pub liveness: bool,
    /// Part of the readiness probe. Default: `true`.
    pub readiness: bool,
    /// Part of the startup probe. Default: `false`.
    pub startup: bool,
}

impl Default for Probes {
    fn default() -> Self {
        Probes::READINESS
    }
}

impl Probes {
    /// Readiness only: a dependency.
    pub const READINESS: Probes = Probes {
        liveness: false,
        readiness: true,
        startup: false,
    };
    /// Liveness and readiness: the program's own state.
    pub const LIVENESS: Probes = Probes {
        liveness: true,
        readiness: true,
        startup: false,
    };
    /// Startup only.
    pub const STARTUP: Probes = Probes {
        liveness: false,
        readiness: false,
        startup: true,
    };

    /// Whether these probes include `probe`.
    #[must_use]
    pub fn includes(self, probe: Probe) -> bool {
        match probe {
            Probe::Liveness => self.liveness,
            Probe::Readiness => self.readiness,
            Probe::Startup => self.startup,
        }
    }
}

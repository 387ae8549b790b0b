//! [`HealthRegistry`]: the checks of a program, run on demand or in the background.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hardy_core::{ConfigError, Listener, Name, Validate};
use metrics::{Counter, Gauge};
use parking_lot::{Mutex, RwLock};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::check::DynCheck;
use crate::judge::Judge;
use crate::stats::{Counts, HealthStats};
use crate::{CheckConfig, CheckResult, HealthCheck, HealthEvent, HealthTask, Probe, Status};

/// `hardy_health_status{name, check}`: each check's status as a number: 0 healthy,
/// 1 degraded, 2 unknown, 3 unhealthy.
pub const METRIC_STATUS: &str = "hardy_health_status";
/// `hardy_health_runs_total{name, check, result}`: runs of each check by result:
/// `healthy`, `degraded`, `unhealthy`, `timeout` or `panic`.
pub const METRIC_RUNS: &str = "hardy_health_runs_total";

const RESULTS: [&str; 5] = ["healthy", "degraded", "unhealthy", "timeout", "panic"];

/// The checks of a program, each with its own config: run on demand
/// ([`check_health`](HealthRegistry::check_health),
/// [`check_probe`](HealthRegistry::check_probe)) or in the background
/// ([`start`](HealthRegistry::start)), their results cached and aggregated into a
/// [`HealthReport`].
///
/// Each check runs at most once at a time and at most once per `interval` for the
/// probes: a probe that finds a fresh result reads it, and probes that come while a run
/// is under way wait for that run, so however often a load balancer asks, the
/// dependency is asked once per interval. Each run is on its own task, bounded by the
/// check's timeout; a run that times out or panics is a failure.
///
/// `HealthRegistry` is cheap to clone; clones share the checks and their results.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_health::{check_fn, CheckConfig, HealthRegistry, Probe, Probes, Status};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let health = HealthRegistry::builder("plant-care")
///     .check("controller", check_fn(|| async { Status::Healthy }), CheckConfig {
///         probes: Probes::LIVENESS,
///         ..CheckConfig::default()
///     })
///     .check("sensor-bus", check_fn(|| async { Err::<(), _>("no ack") }), CheckConfig {
///         failure_threshold: 1,
///         ..CheckConfig::default()
///     })
///     .build()?;
/// let ready = health.check_probe(Probe::Readiness).await;
/// assert_eq!(ready.status, Status::Unhealthy);
/// let live = health.check_probe(Probe::Liveness).await;
/// assert_eq!(live.status, Status::Healthy, "a dependency never makes it look dead");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HealthRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    name: Name,
    entries: RwLock<Vec<Arc<Entry>>>,
    listener: Listener<HealthEvent>,
    rng: Mutex<SmallRng>,
    counts: Counts,
}

struct Entry {
    name: Name,
    config: CheckConfig,
    check: Box<dyn DynCheck>,
    state: Mutex<EntryState>,
    /// Held while the check runs: one run at a time, and callers that come meanwhile
    /// wait for its result.
    running: tokio::sync::Mutex<()>,
    status: Gauge,
    runs: [Counter; RESULTS.len()],
}

#[derive(Default)]
struct EntryState {
    judge: Judge,
    last: Option<CheckResult>,
    checked_at: Option<Instant>,
    duration: Duration,
}

/// A check's part of a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckReport {
    /// The check's status, after the thresholds.
    pub status: Status,
    /// What the last run said, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
    /// How long the last run took, in milliseconds; none before the first run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// How long ago the last run ended, in milliseconds; none before the first run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<f64>,
}

/// The health of a registry's checks, or of one probe's: the aggregate status (the
/// worst of the checks') and each check's report. Serializes to JSON.
///
/// # Examples
///
/// ```
/// use hardy_health::{check_fn, CheckConfig, HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let health = HealthRegistry::builder("app")
///     .check("db", check_fn(|| async { Status::Healthy }), CheckConfig::default())
///     .build()?;
/// let report = health.check_health().await;
/// assert_eq!(
///     report.to_json(),
///     r#"{"status":"healthy","checks":{"db":{"status":"healthy","consecutive_failures":0,"duration_ms":0.0,"age_ms":0.0}}}"#,
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HealthReport {
    /// The worst status of the checks included; healthy when none is.
    pub status: Status,
    /// Each check included, by name.
    pub checks: BTreeMap<String, CheckReport>,
}

impl HealthReport {
    /// The report as JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|error| {
            format!("{{\"status\":\"{}\",\"error\":\"{error}\"}}", self.status)
        })
    }
}

/// Builds a [`HealthRegistry`]; made by [`HealthRegistry::builder`].
#[must_use = "a builder does nothing until built"]
pub struct HealthBuilder {
    name: Name,
    checks: Vec<(Name, Box<dyn DynCheck>, CheckConfig)>,
    listener: Listener<HealthEvent>,
    seed: Option<u64>,
}

impl fmt::Debug for HealthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthBuilder")
            .field("name", &self.name)
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

impl HealthBuilder {
    /// Adds a check named `name`, run as `config` says.
    pub fn check(
        mut self,
        name: impl Into<Name>,
        check: impl HealthCheck,
        config: CheckConfig,
    ) -> Self {
        self.checks.push((name.into(), Box::new(check), config));
        self
    }

    /// Calls `listener` with every [`HealthEvent`]. Default: no listener.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&HealthEvent) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// Seeds the jitter of the background checker, for reproducible runs. Default: a
    /// seed from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validates every check's config and builds the registry.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting (its instance is the check's
    /// name), or a check name given twice.
    pub fn build(self) -> Result<HealthRegistry, ConfigError> {
        let registry = HealthRegistry {
            shared: Arc::new(Shared {
                name: self.name,
                entries: RwLock::new(Vec::new()),
                listener: self.listener,
                rng: Mutex::new(match self.seed {
                    Some(seed) => SmallRng::seed_from_u64(seed),
                    None => SmallRng::from_os_rng(),
                }),
                counts: Counts::default(),
            }),
        };
        for (name, check, config) in self.checks {
            registry.add(name, check, config)?;
        }
        Ok(registry)
    }
}

impl HealthRegistry {
    /// Starts building a registry named `name`; the name labels its metrics.
    pub fn builder(name: impl Into<Name>) -> HealthBuilder {
        HealthBuilder {
            name: name.into(),
            checks: Vec::new(),
            listener: Listener::none(),
            seed: None,
        }
    }

    /// The registry's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// Its running totals since it was built, over all its checks, without a `metrics`
    /// recorder.
    #[must_use]
    pub fn stats(&self) -> HealthStats {
        self.shared.counts.stats(&self.shared.name)
    }

    /// Adds a check named `name` after the registry was built. A background checker
    /// already started does not run it; probes do.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming a bad setting, or a name already registered.
    pub fn register(
        &self,
        name: impl Into<Name>,
        check: impl HealthCheck,
        config: CheckConfig,
    ) -> Result<(), ConfigError> {
        self.add(name.into(), Box::new(check), config)
    }

    fn add(
        &self,
        name: Name,
        check: Box<dyn DynCheck>,
        config: CheckConfig,
    ) -> Result<(), ConfigError> {
        config.validate(&name)?;
        let mut entries = self.shared.entries.write();
        if entries.iter().any(|entry| entry.name == name) {
            return Err(Validate::new(crate::config::COMPONENT, &name).error(
                "name",
                name.as_ref(),
                "is registered already",
            ));
        }
        let labels = |check: &Name| {
            [
                ("name", self.shared.name.to_string()),
                ("check", check.to_string()),
            ]
        };
        metrics::describe_gauge!(
            METRIC_STATUS,
            "Health check status: 0 healthy, 1 degraded, 2 unknown, 3 unhealthy"
        );
        metrics::describe_counter!(
            METRIC_RUNS,
            metrics::Unit::Count,
            "Health check runs by result"
        );
        let status = metrics::gauge!(METRIC_STATUS, &labels(&name));
        status.set(Status::Unknown.level());
        let runs = RESULTS.map(|result| {
            let mut labels = labels(&name).to_vec();
            labels.push(("result", result.to_string()));
            metrics::counter!(METRIC_RUNS, &labels)
        });
        entries.push(Arc::new(Entry {
            name,
            config,
            check,
            state: Mutex::new(EntryState::default()),
            running: tokio::sync::Mutex::new(()),
            status,
            runs,
        }));
        Ok(())
    }

    /// Every check's health, running those whose result is older than their interval
    /// (or that never ran), all at once; the others report their cached result.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the runs it started to end (each within its check's
    /// timeout) and record their results.
    pub async fn check_health(&self) -> HealthReport {
        self.refresh_stale(None).await;
        self.report()
    }

    /// The health of the checks in `probe`, running those whose result is not fresh.
    ///
    /// # Cancel safety
    ///
    /// As [`check_health`](Self::check_health).
    pub async fn check_probe(&self, probe: Probe) -> HealthReport {
        self.refresh_stale(Some(probe)).await;
        self.report_probe(probe)
    }

    /// Runs the check named `name` now, fresh result or not (after any run under way),
    /// and returns its report; `None` when no check has that name.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the run to end and record its result.
    pub async fn run_now(&self, name: &str) -> Option<CheckReport> {
        let entry = self.entry(name)?;
        let shared = self.shared.clone();
        let run = entry.clone();
        let _ = tokio::spawn(async move { refresh(&shared, &run, None).await }).await;
        Some(entry.report(Instant::now()))
    }

    /// Every check's cached health; runs nothing.
    #[must_use]
    pub fn report(&self) -> HealthReport {
        self.report_where(|_| true)
    }

    /// The cached health of the checks in `probe`; runs nothing.
    #[must_use]
    pub fn report_probe(&self, probe: Probe) -> HealthReport {
        self.report_where(|entry| entry.config.probes.includes(probe))
    }

    /// The status of the check named `name`, if there is one.
    #[must_use]
    pub fn status(&self, name: &str) -> Option<Status> {
        self.entry(name)
            .map(|entry| entry.state.lock().judge.status)
    }

    /// Starts checking in the background: each check runs at once, and each next run
    /// starts `interval` after the last one ended, moved at random by up to
    /// `jitter × interval` either way. Stop it with
    /// [`HealthTask::stop`]; dropping the task stops it too.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    pub fn start(&self) -> HealthTask {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = JoinSet::new();
        for entry in self.shared.entries.read().iter() {
            let shared = self.shared.clone();
            let entry = entry.clone();
            let mut stopped = stopped.clone();
            tasks.spawn(async move {
                loop {
                    // Run now, unless a probe's run ended since this turn began.
                    refresh(&shared, &entry, Some(Instant::now())).await;
                    let delay = shared.jittered(&entry.config);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stopped.wait_for(|stop| *stop) => return,
                    }
                }
            });
        }
        HealthTask::new(stop, tasks)
    }

    fn entry(&self, name: &str) -> Option<Arc<Entry>> {
        self.shared
            .entries
            .read()
            .iter()
            .find(|entry| &*entry.name == name)
            .cloned()
    }

    async fn refresh_stale(&self, probe: Option<Probe>) {
        let now = Instant::now();
        let stale: Vec<Arc<Entry>> = self
            .shared
            .entries
            .read()
            .iter()
            .filter(|entry| probe.is_none_or(|probe| entry.config.probes.includes(probe)))
            .filter(|entry| !entry.is_fresh(now))
            .cloned()
            .collect();
        // Each run is its own task, detached: a probe that gives up (its client hung
        // up) does not cancel the run, which ends within the check's timeout and
        // records its result for the next probe.
        let runs: Vec<_> = stale
            .into_iter()
            .map(|entry| {
                let shared = self.shared.clone();
                tokio::spawn(async move { refresh(&shared, &entry, Some(now)).await })
            })
            .collect();
        for run in runs {
            let _ = run.await;
        }
    }

    fn report_where(&self, include: impl Fn(&Entry) -> bool) -> HealthReport {
        let now = Instant::now();
        let checks: BTreeMap<String, CheckReport> = self
            .shared
            .entries
            .read()
            .iter()
            .filter(|entry| include(entry))
            .map(|entry| (entry.name.to_string(), entry.report(now)))
            .collect();
        HealthReport {
            status: Status::aggregate(checks.values().map(|check| check.status)),
            checks,
        }
    }
}

impl Shared {
    fn jittered(&self, config: &CheckConfig) -> Duration {
        let spread: f64 = if config.jitter > 0.0 {
            self.rng.lock().random_range(-config.jitter..=config.jitter)
        } else {
            0.0
        };
        config.interval.mul_f64(1.0 + spread)
    }
}

impl Entry {
    fn is_fresh(&self, now: Instant) -> bool {
        self.state
            .lock()
            .checked_at
            .is_some_and(|at| now.saturating_duration_since(at) < self.config.interval)
    }

    fn report(&self, now: Instant) -> CheckReport {
        let state = self.state.lock();
        CheckReport {
            status: state.judge.status,
            message: state.last.as_ref().and_then(|last| last.message.clone()),
            consecutive_failures: state.judge.failures,
            duration_ms: state.checked_at.map(|_| state.duration.as_secs_f64() * 1e3),
            age_ms: state
                .checked_at
                .map(|at| now.saturating_duration_since(at).as_secs_f64() * 1e3),
        }
    }
}

/// Aborts a spawned run when the caller goes away.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `entry`'s check and records the result, unless a run that ended at or after
/// `fresh_since` has a result already (a caller that waited for a run under way then
/// takes its result).
async fn refresh(shared: &Arc<Shared>, entry: &Arc<Entry>, fresh_since: Option<Instant>) {
    let _running = entry.running.lock().await;
    if let Some(since) = fresh_since
        && entry.state.lock().checked_at.is_some_and(|at| at >= since)
    {
        return;
    }
    let started = Instant::now();
    let task = entry.clone();
    let mut run = AbortOnDrop(tokio::spawn(async move { task.check.run().await }));
    let (result, kind) = match tokio::time::timeout(entry.config.timeout, &mut run.0).await {
        Ok(Ok(result)) => {
            let kind = match result.status {
                Status::Healthy => 0,
                Status::Degraded => 1,
                Status::Unknown | Status::Unhealthy => 2,
            };
            (result, kind)
        }
        Ok(Err(error)) if error.is_panic() => (CheckResult::unhealthy("the check panicked"), 4),
        Ok(Err(_)) => (CheckResult::unhealthy("the check was cancelled"), 2),
        Err(_) => (
            CheckResult::unhealthy(format!("no answer within {:?}", entry.config.timeout)),
            3,
        ),
    };
    entry.runs[kind].increment(1);
    Counts::add(&shared.counts.runs);
    if kind == 3 {
        Counts::add(&shared.counts.timed_out);
    }
    let ended = Instant::now();
    let (before, after, failures) = {
        let mut state = entry.state.lock();
        // An unknown result is no answer: a failure.
        let found = if result.status == Status::Unknown {
            Status::Unhealthy
        } else {
            result.status
        };
        let before = state.judge.take(
            found,
            entry.config.failure_threshold,
            entry.config.success_threshold,
        );
        state.last = Some(result.clone());
        state.checked_at = Some(ended);
        state.duration = ended.saturating_duration_since(started);
        (before, state.judge.status, state.judge.failures)
    };
    if kind != 0 {
        Counts::add(&shared.counts.failed_runs);
    }
    if !result.status.is_serving() {
        shared.listener.emit_with(|| HealthEvent::CheckFailed {
            check: entry.name.clone(),
            message: result.message.clone().unwrap_or_default(),
            consecutive_failures: failures,
        });
    }
    if before != after {
        Counts::add(&shared.counts.status_changes);
        entry.status.set(after.level());
        shared.listener.emit_with(|| HealthEvent::StatusChanged {
            check: entry.name.clone(),
            from: before,
            to: after,
        });
    }
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .shared
            .entries
            .read()
            .iter()
            .map(|entry| entry.name.to_string())
            .collect();
        f.debug_struct("HealthRegistry")
            .field("name", &self.shared.name)
            .field("checks", &names)
            .finish()
    }
}

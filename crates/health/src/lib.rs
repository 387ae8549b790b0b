//! Health checks for async Rust: report truthfully, and never stampede a dependency.
//!
//! - [`HealthCheck`]: an async check returning a [`CheckResult`] (a [`Status`] and a
//!   message); closures with [`check_fn`]; built in: [`TcpCheck`], `BreakerCheck`
//!   (feature `breaker`), `PoolCheck` (feature `pool`), `HttpCheck` (feature
//!   `http-check`); with the feature `system`, `DiskSpaceCheck` (Unix), `MemoryCheck`,
//!   `LoadCheck` and `TemperatureCheck`.
//! - [`HealthRegistry`]: the checks of a program, each with a [`CheckConfig`]: a
//!   timeout, an interval (with jitter), failure and success thresholds, and the
//!   [`Probes`] it takes part in — liveness, readiness, startup — so that a dependency
//!   that is down makes the program unready, never dead.
//! - Results are cached for the check's interval and each check runs once at a time:
//!   however often the probes ask, the dependency is asked once per interval.
//! - [`HealthRegistry::start`]: a background checker with a graceful
//!   [`stop`](HealthTask::stop); [`HealthRegistry::check_health`] on demand.
//! - [`HealthReport`] serializes to JSON; with the `http` feature, [`http::router`]
//!   serves `/health`, `/health/live`, `/health/ready` and `/health/startup` with 200
//!   or 503.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardy_health::{check_fn, CheckConfig, HealthRegistry, Probe, Status};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let health = HealthRegistry::builder("plant-care")
//!     .check("tank", check_fn(|| async { Status::Degraded }), CheckConfig::default())
//!     .build()?;
//! let checker = health.start(); // every 30 s ± 3 s
//! tokio::time::sleep(Duration::from_millis(1)).await;
//! let ready = health.report_probe(Probe::Readiness);
//! assert_eq!(ready.status, Status::Degraded);
//! assert!(ready.status.is_serving());
//! checker.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! The [`METRIC_STATUS`] gauge and the [`METRIC_RUNS`] counter per check, registered
//! when the check is added. A listener receives every [`HealthEvent`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Deserialize` for [`CheckConfig`], [`Probes`] and [`Status`] |
//! | `breaker` | no | `BreakerCheck`: a `hardy-breaker` breaker open or half-open is degraded |
//! | `pool` | no | `PoolCheck`: a `hardy-pool` pool exhausted or timing out is degraded |
//! | `http-check` | no | `HttpCheck`: GET a URL, expect a status |
//! | `http` | no | `http::router`: the axum endpoints |
//! | `system` | no | `DiskSpaceCheck` (Unix), `MemoryCheck`, `LoadCheck`, `TemperatureCheck`: free disk space, available memory, load average and SoC temperature against thresholds |

mod check;
mod config;
mod event;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http-check")]
mod http_check;
mod judge;
mod registry;
mod stats;
mod status;
#[cfg(feature = "system")]
mod system;
mod task;

#[cfg(feature = "breaker")]
pub use check::BreakerCheck;
#[cfg(feature = "pool")]
pub use check::PoolCheck;
pub use check::{CheckResult, FnCheck, HealthCheck, TcpCheck, check_fn};
pub use config::{
    CheckConfig, DEFAULT_FAILURE_THRESHOLD, DEFAULT_INTERVAL, DEFAULT_JITTER,
    DEFAULT_SUCCESS_THRESHOLD, DEFAULT_TIMEOUT,
};
pub use event::HealthEvent;
#[cfg(feature = "http-check")]
pub use http_check::{HttpCheck, InvalidUri};
pub use registry::{
    CheckReport, HealthBuilder, HealthRegistry, HealthReport, METRIC_RUNS, METRIC_STATUS,
};
pub use stats::HealthStats;
pub use status::{Probe, Probes, Status};
#[cfg(all(feature = "system", unix))]
pub use system::{
    DEFAULT_DISK_FAIL_BELOW_PERCENT, DEFAULT_DISK_WARN_BELOW_PERCENT, DiskSpaceBuilder,
    DiskSpaceCheck, DiskSpaceConfig,
};
#[cfg(feature = "system")]
pub use system::{
    DEFAULT_LOAD_FAIL_ABOVE_PER_CPU, DEFAULT_LOAD_WARN_ABOVE_PER_CPU,
    DEFAULT_MEMORY_FAIL_BELOW_PERCENT, DEFAULT_MEMORY_WARN_BELOW_PERCENT,
    DEFAULT_TEMPERATURE_FAIL_ABOVE_CELSIUS, DEFAULT_TEMPERATURE_WARN_ABOVE_CELSIUS, LoadAverage,
    LoadBuilder, LoadCheck, LoadConfig, MemoryBuilder, MemoryCheck, MemoryConfig,
    TemperatureBuilder, TemperatureCheck, TemperatureConfig, ThermalZone,
};
pub use task::HealthTask;

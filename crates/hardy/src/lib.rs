//! Hardy: resilience for async Rust and tower.
//!
//! Hardy is a family of small crates that keep services and devices working when what
//! they depend on fails. Each pattern is usable as a plain async call and as a `tower`
//! layer; every layer keeps its inner service's error type (which is
//! `From<`[`Rejection`]`>`), so a whole stack has one flat error type. This crate
//! re-exports each pattern crate behind a feature of the same name, the shared
//! vocabulary of `hardy-core` at its root, a [`prelude`], and [`ServiceBuilderExt`].
//!
//! # Direct call
//!
//! ```
//! use std::time::Duration;
//! use hardy::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let timeout = Timeout::new("soil-read", Duration::from_secs(2))?;
//! let moisture = timeout.call(|| async { Ok::<_, std::io::Error>(0.38) }).await?;
//! assert_eq!(moisture, 0.38);
//! # Ok(())
//! # }
//! ```
//!
//! # Tower stack
//!
//! Outermost first: a rate limit, then retries around a circuit breaker around a
//! bulkhead around a per-attempt timeout.
//!
//! ```
//! use std::time::Duration;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let reads = RateLimiter::builder("soil-1").per(10, Duration::from_secs(1)).build()?;
//! let retry = Retry::builder("soil-1").max_attempts(3).build()?;
//! let breaker = CircuitBreaker::builder("soil-1").build()?;
//! let sensors = Bulkhead::builder("sensors").max_concurrent(4).build()?;
//! let per_attempt = Timeout::new("soil-1", Duration::from_secs(2))?;
//! let mut read = ServiceBuilder::new()
//!     .hardy_rate_limit(&reads)
//!     .hardy_retry(&retry)
//!     .hardy_breaker(&breaker)
//!     .hardy_bulkhead(&sensors)
//!     .hardy_timeout(&per_attempt)
//!     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(sensor) });
//! assert_eq!(read.ready().await?.call(1).await?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! The same patterns as one layer, a [`Pipeline`], decide the same way, and its calls
//! hold one reference to the handles instead of one for each pattern (the rate limit
//! sits inside the retry there: each attempt takes a turn).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `timeout` | yes | [`timeout`]: `hardy-timeout` (timeouts, operation tables, deadlines) |
//! | `breaker` | yes | [`breaker`]: `hardy-breaker` (circuit breaker, registry) |
//! | `retry` | yes | [`retry`]: `hardy-retry` (backoff, jitter, retry budget) |
//! | `bulkhead` | yes | [`bulkhead`]: `hardy-bulkhead` (bulkheads, partitions, blocking calls) |
//! | `fallback` | yes | [`fallback`]: `hardy-fallback` (fallback answers, last known good) |
//! | `pool` | yes | [`pool`]: `hardy-pool` (async object pools) |
//! | `health` | yes | [`health`]: `hardy-health` (health checks, probes, reports) |
//! | `load-shed` | yes | [`load_shed`]: `hardy-load-shed` (adaptive concurrency limits, priorities, fairness) |
//! | `rate-limit` | yes | [`rate_limit`]: `hardy-rate-limit` (GCRA rate limits, keyed limits) |
//! | `hedge` | no | [`hedge`]: `hardy-hedge` (hedged requests: a second copy of a slow call, within a budget) |
//! | `chaos` | yes | [`chaos`]: `hardy-chaos` (seeded fault and latency injection) |
//! | `pipeline` | yes | [`Pipeline`]: the retry, breaker, rate limit, bulkhead and timeout as one layer, one reference per call (brings those five) |
//! | `config` | no | [`Policies`]: named handles and whole stacks from a TOML or JSON policy file (brings `serde`) |
//! | `serde` | no | `Serialize`/`Deserialize` for every config |
//! | `http` | no | [`http`]: `hardy-http` (rejections as HTTP responses, RateLimit fields, keys, deadlines across hops); deadlines read from `http::Request` extensions; health endpoints and HTTP checks |
//! | `health-system` | no | `hardy-health`'s system checks: free disk space, available memory, load, SoC temperature |
//! | `redis` | no | [`redis`]: `hardy-redis` (state a fleet shares through Redis) |
//! | `tracing` | no | every pattern's events recorded with `tracing` (targets `hardy::breaker`, `hardy::retry`, …) |
//! | `full` | no | all of the above |

#[cfg(feature = "config")]
mod document;
mod ext;
#[cfg(feature = "config")]
mod operation;
#[cfg(feature = "config")]
pub mod optional;
#[cfg(feature = "pipeline")]
pub mod pipeline;
#[cfg(feature = "config")]
mod policies;
#[cfg(feature = "config")]
mod read;
#[cfg(feature = "config")]
mod section;
#[cfg(feature = "config")]
mod stack;

#[cfg(feature = "config")]
pub use document::PolicyDocument;
pub use ext::ServiceBuilderExt;
/// Circuit breaker and registry: `hardy-breaker`.
#[cfg(feature = "breaker")]
pub use hardy_breaker as breaker;
/// Bulkheads, partitions and blocking calls: `hardy-bulkhead`.
#[cfg(feature = "bulkhead")]
pub use hardy_bulkhead as bulkhead;
/// Seeded fault, rejection, latency and corruption injection: `hardy-chaos`.
#[cfg(feature = "chaos")]
pub use hardy_chaos as chaos;
/// The shared vocabulary: `hardy-core`.
pub use hardy_core as core;
pub use hardy_core::{
    AsRejection, Classify, ConfigError, DefaultClassifier, Error, Listener, Name, Outcome,
    PolicyError, PolicyErrors, Rejection, RejectionKind, Retryability, ShedReason, Validate,
    find_rejection,
};
/// Fallback answers, last known good responses, TTL caching: `hardy-fallback`.
#[cfg(feature = "fallback")]
pub use hardy_fallback as fallback;
/// Health checks, liveness/readiness/startup probes and reports: `hardy-health`.
#[cfg(feature = "health")]
pub use hardy_health as health;
/// Hedged requests: `hardy-hedge`.
#[cfg(feature = "hedge")]
pub use hardy_hedge as hedge;
/// Hardy at the HTTP edge: rejections as responses, RateLimit fields, keys from
/// requests, deadlines across hops, a response classifier: `hardy-http`.
#[cfg(feature = "http")]
pub use hardy_http as http;
/// Load shedding: adaptive concurrency limits, priorities, fair shares, CoDel queueing
/// and adaptive throttling: `hardy-load-shed`.
#[cfg(feature = "load-shed")]
pub use hardy_load_shed as load_shed;
/// Async object pools with HikariCP's lifecycle: `hardy-pool`.
#[cfg(feature = "pool")]
pub use hardy_pool as pool;
/// GCRA rate limits, direct and keyed, refusing or waiting: `hardy-rate-limit`.
#[cfg(feature = "rate-limit")]
pub use hardy_rate_limit as rate_limit;
/// State a fleet shares through Redis: fleet-wide rate limits, shared breakers, a
/// shared last-known-good level: `hardy-redis`.
#[cfg(feature = "redis")]
pub use hardy_redis as redis;
/// Retries with backoff, jitter, deadlines and a shared retry budget: `hardy-retry`.
#[cfg(feature = "retry")]
pub use hardy_retry as retry;
/// Timeouts, per-operation timeout tables and deadlines: `hardy-timeout`.
#[cfg(feature = "timeout")]
pub use hardy_timeout as timeout;
#[cfg(feature = "config")]
pub use operation::{OperationConfig, PolicyRef};
#[cfg(feature = "pipeline")]
pub use pipeline::{Pipeline, PipelineLayer, PipelineService};
#[cfg(feature = "config")]
pub use policies::{Backends, Policies, TIMEOUT_TABLE};
#[cfg(feature = "config")]
pub use section::{DEFAULT_POLICY, PolicyHandle, PolicySection};
#[cfg(feature = "config")]
pub use stack::{OperationLayer, OperationService, StackPlan};

/// The types most programs using Hardy need.
///
/// ```
/// use hardy::prelude::*;
/// ```
pub mod prelude {
    #[cfg(feature = "config")]
    pub use crate::Policies;
    pub use crate::ServiceBuilderExt;
    #[cfg(feature = "breaker")]
    pub use hardy_breaker::{BreakerLayer, BreakerRegistry, BreakerState, CircuitBreaker};
    #[cfg(feature = "bulkhead")]
    pub use hardy_bulkhead::{Bulkhead, BulkheadLayer, Partitions};
    #[cfg(feature = "chaos")]
    pub use hardy_chaos::{Chaos, ChaosLayer, Latency};
    pub use hardy_core::{
        AsRejection, Classify, DefaultClassifier, Error, Outcome, Rejection, Retryability,
    };
    #[cfg(feature = "fallback")]
    pub use hardy_fallback::{Fallback, FallbackLayer, LastKnownGood};
    #[cfg(feature = "health")]
    pub use hardy_health::{
        CheckConfig, HealthCheck, HealthRegistry, Probe, Probes, Status as HealthStatus,
    };
    #[cfg(feature = "load-shed")]
    pub use hardy_load_shed::{CallInfo, LoadShedLayer, LoadShedder, Priority};
    #[cfg(feature = "pool")]
    pub use hardy_pool::{Manager, Pool, Pooled};
    #[cfg(feature = "rate-limit")]
    pub use hardy_rate_limit::{KeyedRateLimiter, RateLimitLayer, RateLimiter};
    #[cfg(feature = "retry")]
    pub use hardy_retry::{Backoff, Jitter, Retry, RetryBudget, RetryLayer};
    #[cfg(feature = "timeout")]
    pub use hardy_timeout::{Deadline, OperationTimeouts, Timeout, TimeoutLayer};
}

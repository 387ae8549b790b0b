//! Hedged requests for async Rust and tower: when a call is slower than most, another
//! copy of it goes out and the first success wins, the others cancelled ("The Tail at
//! Scale"; Polly's hedging, tower's `hedge`, Finagle's backup requests).
//!
//! ```
//! use std::time::Duration;
//! use hardy_hedge::Hedge;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // Hedge a read once it outlives the 95th percentile of recent reads, at most one
//! // extra attempt a call, extra attempts at most 10 % of the calls.
//! let hedge = Hedge::builder("replica-reads").percentile(95.0).build()?;
//! let mut reads = ServiceBuilder::new()
//!     .layer(hedge.layer())
//!     .service_fn(|key: u32| async move { Ok::<_, BoxError>(key) });
//! assert_eq!(reads.ready().await?.call(7).await?, 7);
//! # Ok(())
//! # }
//! ```
//!
//! - **When**: [`HedgeDelay::Fixed`], or [`HedgeDelay::Percentile`] of recent first
//!   attempts' latencies ([`Latencies`]: bounded memory, rotated every period; no
//!   hedging until `min_samples` are known).
//! - **How much**: `max_hedges` extra attempts a call, a budget (a
//!   [`RetryBudget`](hardy_retry::RetryBudget): each call deposits a share of a token,
//!   each extra attempt takes one), and none while a [breaker](HedgeBuilder::breaker)
//!   on the path is not closed.
//! - **Which answer**: the first success; a failure ends the call only when no other
//!   attempt runs, unless `first_failure_ends`.
//! - **Requests** are copied as the retry copies them ([`CloneRequest`]); one that
//!   cannot be copied is not hedged.
//! - **Telemetry**: [`METRIC_CALLS`], [`METRIC_HEDGES`], [`METRIC_SKIPPED`];
//!   [`HedgeEvent`]s to a listener (and `tracing` with the feature); [`Hedge::stats`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`HedgeConfig`] and [`HedgeDelay`] |
//! | `tracing` | no | every event recorded with `tracing` (target `hardy::hedge`) |
//!
//! [`CloneRequest`]: hardy_retry::CloneRequest

mod config;
mod event;
mod future;
mod hedge;
mod latency;
mod layer;
mod service;
mod stats;

pub use config::{
    DEFAULT_HEDGE_RATIO, DEFAULT_MIN_SAMPLES, DEFAULT_PERCENTILE, DEFAULT_PERIOD, HedgeBuilder,
    HedgeConfig, HedgeDelay, MAX_HEDGES, MAX_LATENCY,
};
pub use event::{HedgeEvent, SkipReason};
pub use future::{Attempts, Hedging, Operation, ServiceAttempts};
pub use hedge::{Hedge, METRIC_CALLS, METRIC_HEDGES, METRIC_SKIPPED};
pub use latency::Latencies;
pub use layer::HedgeLayer;
pub use service::HedgeService;
pub use stats::HedgeStats;

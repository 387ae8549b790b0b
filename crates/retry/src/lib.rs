//! Retries for async calls and tower services that never amplify an outage.
//!
//! [`Retry`] tries an operation again when its failure is transient:
//!
//! - **Schedules**: [`Backoff`] constant, linear, exponential or Fibonacci, spread by
//!   [`Jitter`] (none, full, equal, decorrelated, smooth decorrelated) and capped by
//!   `max_delay`, which no jitter exceeds; the first retry may be immediate. A
//!   [`Schedule`] is an iterator of delays usable on its own.
//! - **Limits**: `max_attempts`; a `max_duration` and caller [`Deadline`]s (no retry
//!   whose delay would end too late); a [`RetryBudget`] shared across calls that keeps
//!   retries a fraction of the traffic.
//! - **Classification**: only what the [`Classify`](hardy_core::Classify) marks
//!   retryable is retried — by default errors, and timeouts, but never a refusal by
//!   another Hardy layer unless `wait_for_retry_after` lets it wait for the refusal's
//!   retry-after hint. An `Ok` may be retried, and a retry-after hint in a
//!   classification replaces the schedule's delay.
//! - **The last real result**: when attempts, deadline or budget run out, the caller
//!   gets the last attempt's own result.
//!
//! [`Deadline`]: hardy_timeout::Deadline
//!
//! # Direct call
//!
//! The closure makes one attempt each time it is called.
//!
//! ```
//! use std::time::Duration;
//! use hardy_retry::{Backoff, Retry};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let retry = Retry::builder("soil-1")
//!     .max_attempts(3)
//!     .backoff(Backoff::Exponential { initial: Duration::from_millis(100), multiplier: 2.0 })
//!     .build()?;
//! let moisture = retry.call(|| async { Ok::<_, std::io::Error>(0.41) }).await?;
//! assert_eq!(moisture, 0.41);
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_retry::Retry;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let retry = Retry::builder("soil-1").build()?;
//! let mut read = ServiceBuilder::new()
//!     .layer(retry.layer())
//!     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(sensor) });
//! assert_eq!(read.ready().await?.call(3).await?, 3);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! [`METRIC_CALLS`], [`METRIC_RETRIES`], [`METRIC_GAVE_UP`], [`METRIC_BUDGET_REFUSALS`]
//! and the [`METRIC_ATTEMPTS_PER_CALL`] histogram (whose sum counts attempts), registered
//! when the retry is built. A listener receives a [`RetryEvent`] for every attempt.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`RetryConfig`], [`RetryBudgetConfig`], [`Backoff`] and [`Jitter`] |

mod budget;
mod config;
mod event;
pub mod future;
#[doc(hidden)]
pub mod hooks;
mod layer;
mod request;
mod retry;
mod retrying;
mod schedule;
mod service;
mod stats;
mod sync;
mod tries;

pub use budget::RetryBudget;
pub use config::{
    DEFAULT_BUDGET_MAX_BALANCE, DEFAULT_BUDGET_MIN_RETRIES_PER_SECOND, DEFAULT_BUDGET_RETRY_RATIO,
    DEFAULT_INITIAL_DELAY, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_DELAY, DEFAULT_MULTIPLIER,
    MAX_BUDGET_BALANCE, MAX_BUDGET_MIN_RETRIES_PER_SECOND, MAX_BUDGET_RETRY_RATIO,
    RetryBudgetConfig, RetryBuilder, RetryConfig,
};
pub use event::{GiveUpReason, RetryEvent};
pub use layer::RetryLayer;
pub use request::{CloneRequest, Cloned, SendOnce};
pub use retry::{
    METRIC_ATTEMPTS_PER_CALL, METRIC_BUDGET_REFUSALS, METRIC_CALLS, METRIC_GAVE_UP, METRIC_RETRIES,
    Retry,
};
pub use schedule::{Backoff, Jitter, Schedule};
pub use service::RetryService;
pub use stats::{GaveUpCounts, RetryStats};

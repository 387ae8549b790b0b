//! Concurrency isolation for async calls and tower services.
//!
//! A [`Bulkhead`] caps how many calls to a dependency run at once, so that when the
//! dependency slows down or hangs, it ties up a bounded share of the callers:
//!
//! - **Admission**: `max_concurrent` calls run; the next wait in a FIFO queue of at most
//!   `max_waiting`, each for at most `max_wait`, or are refused at once with
//!   [`Rejection::BulkheadFull`](hardy_core::Rejection::BulkheadFull), which carries the
//!   calls in flight and waiting and the limits.
//! - **Release on every path**: a slot is freed when the call completes, fails, is
//!   cancelled (also while waiting) or panics.
//! - **Partitions**: [`Partitions`] gives each kind of work its own bulkhead, with
//!   optional spare slots any partition may borrow.
//! - **Blocking work**: [`Bulkhead::run_blocking`] runs blocking closures (bus and file
//!   I/O) on Tokio's blocking threads, at most `max_concurrent` at once.
//! - **Run-time limits**: [`Bulkhead::set_max_concurrent`] and friends; a lower limit
//!   drains as calls finish.
//! - [`Bulkhead::stats`]: in flight, waiting, admitted, refused.
//!
//! An uncontended admission is one atomic compare-and-swap and its release one atomic
//! addition; a lock is taken only when calls have to wait.
//!
//! # Direct call
//!
//! ```
//! use hardy_bulkhead::Bulkhead;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sensors = Bulkhead::builder("sensors").max_concurrent(4).build()?;
//! let moisture = sensors.call(|| async { Ok::<_, std::io::Error>(0.41) }).await?;
//! assert_eq!(moisture, 0.41);
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use std::time::Duration;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_bulkhead::Bulkhead;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let pumps = Bulkhead::builder("actuators")
//!     .max_concurrent(1)
//!     .max_waiting(8)
//!     .max_wait(Duration::from_secs(60))
//!     .build()?;
//! let mut pump = ServiceBuilder::new()
//!     .layer(pumps.layer())
//!     .service_fn(|ml: u32| async move { Ok::<_, BoxError>(ml) });
//! assert_eq!(pump.ready().await?.call(250).await?, 250);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! [`METRIC_CALLS`] (admitted, rejected), the [`METRIC_IN_FLIGHT`] and
//! [`METRIC_WAITING`] gauges and the [`METRIC_WAIT`] histogram, registered when the
//! bulkhead is built. A listener receives every [`BulkheadEvent`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`BulkheadConfig`] and [`PartitionsConfig`] |

mod bulkhead;
mod config;
mod event;
pub mod future;
#[doc(hidden)]
pub mod hooks;
mod layer;
mod partition;
mod permit;
mod service;
mod sync;
mod wait;

pub use bulkhead::{
    Bulkhead, BulkheadStats, METRIC_CALLS, METRIC_IN_FLIGHT, METRIC_WAIT, METRIC_WAITING,
};
pub use config::{
    BulkheadBuilder, BulkheadConfig, DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_WAIT, DEFAULT_MAX_WAITING,
    MAX_CONCURRENT, MAX_WAITING, PartitionsBuilder, PartitionsConfig,
};
pub use event::BulkheadEvent;
pub use layer::BulkheadLayer;
pub use partition::Partitions;
pub use permit::BulkheadPermit;
pub use service::BulkheadService;

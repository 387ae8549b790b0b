//! Timeouts for async calls and tower services, with per-operation tables and caller
//! deadlines.
//!
//! - [`Timeout`]: a named limit on how long a call may take. A call that runs out of
//!   time is abandoned (its future dropped) with [`Rejection::Timeout`], which carries
//!   how long it ran and the limit in force. A call ready at its first poll registers no
//!   timer and reads no clock.
//! - [`OperationTimeouts`]: a table of limits by operation name with a default.
//! - [`Deadline`]: a caller's overall budget; the effective limit of a call is the
//!   smaller of the timeout and the time left before the deadline, and a call whose
//!   deadline has passed is not started.
//! - [`TimeoutLayer`] / [`TimeoutService`]: the same as a tower layer, finding each
//!   request's deadline with an [`ExtractDeadline`].
//!
//! Time comes from `tokio::time`, so tests run on paused time.
//!
//! [`Rejection::Timeout`]: hardy_core::Rejection::Timeout
//!
//! # Direct call
//!
//! ```
//! use std::time::Duration;
//! use hardy_core::{Error, Rejection};
//! use hardy_timeout::Timeout;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let timeout = Timeout::builder("soil-read").timeout(Duration::from_secs(2)).build()?;
//!
//! let stalled = timeout
//!     .call(|| async {
//!         tokio::time::sleep(Duration::from_secs(10)).await; // a stuck I2C read
//!         Ok::<f32, std::io::Error>(0.41)
//!     })
//!     .await;
//! match stalled {
//!     Err(Error::Rejected(Rejection::Timeout { elapsed, .. })) => {
//!         assert_eq!(elapsed, Duration::from_secs(2))
//!     }
//!     other => panic!("expected a timeout, got {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use std::time::Duration;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_timeout::{Deadline, Timeout, TimeoutLayer};
//!
//! struct Read {
//!     sensor: u8,
//!     deadline: Option<Deadline>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let per_attempt = Timeout::new("soil-read", Duration::from_secs(2))?;
//! let mut service = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(per_attempt).deadline_from(|read: &Read| read.deadline))
//!     .service_fn(|read: Read| async move {
//!         tokio::time::sleep(Duration::from_millis(500)).await;
//!         Ok::<_, BoxError>(u32::from(read.sensor) * 10)
//!     });
//!
//! // Plenty of budget: the answer arrives.
//! let read = Read { sensor: 3, deadline: Some(Deadline::after(Duration::from_secs(5))) };
//! assert_eq!(service.ready().await?.call(read).await?, 30);
//!
//! // The caller's budget is tighter than the timeout: it wins.
//! let read = Read { sensor: 3, deadline: Some(Deadline::after(Duration::from_millis(100))) };
//! let error = service.ready().await?.call(read).await.unwrap_err();
//! assert!(error.downcast_ref::<hardy_core::Rejection>().is_some_and(|r| r.is_timeout()));
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! The counter `hardy_timeout_timeouts_total{name, cause}` (`cause` is `limit` or
//! `deadline`) counts abandoned calls; its handles are registered when the timeout is
//! built, so install the `metrics` recorder first. A listener set with
//! [`TimeoutBuilder::on_event`] receives a [`TimeoutEvent`] for each.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`TimeoutConfig`] and [`OperationTimeoutsConfig`], durations as `"30s"` |
//! | `http` | no | [`FromExtensions`]: read a request's [`Deadline`] from `http::Request` extensions |

mod config;
mod countdown;
mod deadline;
mod event;
pub mod future;
#[doc(hidden)]
pub mod hooks;
mod layer;
mod operations;
mod service;
mod stats;
mod timeout;

pub use config::{
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_TIMEOUT, OperationTimeoutsBuilder, OperationTimeoutsConfig,
    TimeoutBuilder, TimeoutConfig,
};
#[cfg(feature = "http")]
pub use deadline::FromExtensions;
pub use deadline::{Deadline, ExtractDeadline, NoDeadline};
pub use event::TimeoutEvent;
pub use layer::TimeoutLayer;
pub use operations::OperationTimeouts;
pub use service::TimeoutService;
pub use stats::TimeoutStats;
pub use timeout::{METRIC_TIMEOUTS, Timeout};

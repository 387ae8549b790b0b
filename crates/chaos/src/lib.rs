//! Seeded fault injection for async calls and tower services: errors, rejections,
//! latency and wrong-but-`Ok` answers, each with a rate.
//!
//! - [`Chaos`]: a named handle holding the rates, the latency distribution and a seeded
//!   sequence of draws. The same seed gives the same faults, call by call. Rates can be
//!   changed, and injection turned off and on, at run time.
//! - [`ChaosLayer`] / [`ChaosService`]: the same as a tower layer. An error maker
//!   ([`ChaosLayer::error`]) and a corrupter ([`ChaosLayer::corrupt`]) are closures
//!   over the service's own error and response types.
//! - [`Latency`]: fixed, uniform, exponential or log-normal delays, on `tokio::time`,
//!   so tests run on paused time.
//!
//! An injected rejection is a real [`Rejection`](hardy_core::Rejection) (a circuit
//! open, a bulkhead full, a timeout, …) naming the chaos handle, so the layers above it
//! and the caller react as they would to the real one.
//!
//! # Direct call
//!
//! ```
//! use std::time::Duration;
//! use hardy_chaos::{Chaos, InjectedRejection, Latency, NoCorrupt};
//! use hardy_core::Error;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let chaos = Chaos::builder("soil-1")
//!     .seed(42)
//!     .rejection(0.2, InjectedRejection::Timeout)
//!     .latency(0.5, Latency::Fixed { delay: Duration::from_millis(300) })
//!     .build()?;
//!
//! let started = tokio::time::Instant::now();
//! let mut timeouts = 0;
//! for _ in 0..50 {
//!     match chaos.call(|| async { Ok::<_, std::io::Error>(41.5) }).await {
//!         Ok(moisture) => assert_eq!(moisture, 41.5),
//!         Err(Error::Rejected(rejection)) if rejection.is_timeout() => timeouts += 1,
//!         Err(other) => panic!("unexpected {other}"),
//!     }
//! }
//! let stats = chaos.stats();
//! assert_eq!(stats.rejections, timeouts);
//! assert_eq!(started.elapsed(), stats.total_delay);
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_chaos::Chaos;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let chaos = Chaos::builder("ec2").seed(7).error_rate(1.0).build()?;
//! let mut service = ServiceBuilder::new()
//!     .layer(chaos.layer().error(|| BoxError::from("injected: throttled")))
//!     .service_fn(|id: u32| async move { Ok::<_, BoxError>(id) });
//!
//! let error = service.ready().await?.call(1).await.unwrap_err();
//! assert_eq!(error.to_string(), "injected: throttled");
//!
//! chaos.set_enabled(false);
//! assert_eq!(service.ready().await?.call(2).await?, 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `hardy_chaos_calls_total` | counter | `name` |
//! | `hardy_chaos_injected_total` | counter | `name`, `fault` (`latency`, `error`, `rejection`, `corrupt`) |
//! | `hardy_chaos_delay_seconds` | histogram | `name` |
//!
//! A listener set with [`ChaosBuilder::on_event`] receives every [`ChaosEvent`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`ChaosConfig`], [`Latency`] and [`InjectedRejection`] |

mod chaos;
mod config;
mod event;
mod fault;
pub mod future;
mod inject;
mod layer;
mod rng;
mod service;
mod sync;

pub use chaos::{Chaos, ChaosStats, METRIC_CALLS, METRIC_DELAY, METRIC_INJECTED};
pub use config::{
    ChaosBuilder, ChaosConfig, DEFAULT_LATENCY, DEFAULT_RATE, DEFAULT_RETRY_AFTER,
    InjectedRejection, Latency,
};
pub use event::ChaosEvent;
pub use fault::{Fault, FaultOutcome};
pub use inject::{Corrupt, MakeError, NoCorrupt, NoError};
pub use layer::ChaosLayer;
pub use service::ChaosService;

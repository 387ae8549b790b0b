//! Fallbacks for async calls and tower services: degrade gracefully.
//!
//! - [`Fallback`]: on a classified failure or a rejection (an open breaker, a full
//!   bulkhead), answer with a value, a function of the failure, an async function (a
//!   backup sensor) or another tower service.
//! - [`LastKnownGood`]: remember the latest good response per key and serve it for a
//!   failed call while it is younger than `max_staleness`, marked as stale with its age
//!   (`mark_stale`); with a `ttl`, answer from it without calling while it is fresh (a
//!   TTL cache with hit and miss metrics). Keys are bounded.
//!
//! # Direct call
//!
//! ```
//! use hardy_fallback::Fallback;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backup = Fallback::builder("soil-1")
//!     .or_else(|_failed| async { Ok::<f64, std::io::Error>(0.39) }) // the backup sensor
//!     .build();
//! let moisture = backup
//!     .call(|| async { Err::<f64, _>(std::io::Error::other("no ack")) })
//!     .await?;
//! assert_eq!(moisture, 0.39);
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_fallback::Fallback;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let forecast = Fallback::builder("forecast").value("unknown").build();
//! let mut weather = ServiceBuilder::new()
//!     .layer(forecast.layer())
//!     .service_fn(|_city: &str| async { Err::<&str, BoxError>("timeout".into()) });
//! assert_eq!(weather.ready().await?.call("Oslo").await?, "unknown");
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! [`METRIC_USED`] (fallbacks by cause), [`METRIC_CACHE`] (hits and misses) and
//! [`METRIC_STALE`] (stale responses served, or none young enough), registered when
//! the handle is built. A listener receives every [`FallbackEvent`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`LastKnownGoodConfig`] |

mod action;
mod config;
mod event;
mod fallback;
pub mod future;
mod last_good;
mod last_good_service;
mod layer;
mod level;
mod state;
mod stats;

pub use action::{Answer, Backup, BackupFuture, MapFailure, OrElse, Recover, Value};
pub use config::{DEFAULT_MAX_KEYS, DEFAULT_MAX_STALENESS, DEFAULT_TTL, LastKnownGoodConfig};
pub use event::{Cause, FallbackEvent};
pub use fallback::{Fallback, FallbackBuilder, METRIC_USED, NoAnswer};
pub use last_good::{
    LastKnownGood, LastKnownGoodBuilder, METRIC_CACHE, METRIC_STALE, MarkingBuilder,
};
pub use last_good_service::{LastGoodCall, LastGoodFuture, LastGoodLayer, LastGoodService};
pub use layer::{FallbackLayer, FallbackService};
pub use level::{LevelError, LevelFuture, SharedLevel, Stored};
pub use stats::{ByCauseCounts, FallbackStats, LastKnownGoodStats};

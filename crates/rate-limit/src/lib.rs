//! Rate limits for async calls and tower services.
//!
//! A [`RateLimiter`] paces calls to a dependency (a remote API, a pump, a bus) so that
//! they come no faster than it can take or than is safe:
//!
//! - **GCRA with bursts**: on average `limit` calls per `period`, up to `burst` at once
//!   after a quiet spell. One timestamp per limiter: a check is one clock read and one
//!   compare-and-swap, with no refill task, and exact: no call is admitted early, none
//!   is refused late.
//! - **Reject or wait**: a call over the rate is refused with
//!   [`Rejection::RateLimited`](hardy_core::Rejection::RateLimited), whose `retry_after`
//!   says when it would be admitted, or, with `max_wait`, waits for its turn when that
//!   comes soon enough. A waiting call reserves its turn, so waiters go in order and
//!   never exceed the rate; one that is dropped gives its turn back.
//! - **Keyed**: a [`KeyedRateLimiter`] keeps one rate per key (per client, per plant)
//!   in bounded state: at most `max_keys` keys, idle ones forgotten first.
//! - **Tokio time**: paused-time tests and simulations see the limiter exactly.
//!
//! # Direct call
//!
//! ```
//! use std::time::Duration;
//! use hardy_rate_limit::RateLimiter;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let api = RateLimiter::builder("weather-api")
//!     .per(60, Duration::from_secs(60))
//!     .burst(5)
//!     .build()?;
//! let forecast = api.call(|| async { Ok::<_, std::io::Error>("sunny") }).await?;
//! assert_eq!(forecast, "sunny");
//! api.check()?; // or only ask, without running anything
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use std::time::Duration;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_rate_limit::KeyedRateLimiter;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // At most 4 waterings a day per plant; requests are (plant, millilitres).
//! let waterings = KeyedRateLimiter::builder("waterings")
//!     .per(4, Duration::from_secs(24 * 3600))
//!     .burst(1)
//!     .build_keyed::<u32>()?;
//! let mut pump = ServiceBuilder::new()
//!     .layer(waterings.layer(|(plant, _): &(u32, u32)| *plant))
//!     .service_fn(|(_, ml): (u32, u32)| async move { Ok::<_, BoxError>(ml) });
//! assert_eq!(pump.ready().await?.call((1, 250)).await?, 250);
//! assert!(pump.ready().await?.call((1, 250)).await.is_err()); // too soon for plant 1
//! assert_eq!(pump.ready().await?.call((2, 100)).await?, 100);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! [`METRIC_CALLS`] (admitted, waited, rejected) and, for keyed limiters, the
//! [`METRIC_KEYS`] gauge, registered when the limiter is built. A listener receives
//! every [`RateLimitEvent`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`RateLimitConfig`] |

mod by_key;
mod clock;
mod config;
mod event;
mod fleet;
pub mod future;
mod gcra;
#[doc(hidden)]
pub mod hooks;
mod keyed;
mod layer;
mod limit;
mod limiter;
mod service;
mod stats;
mod store;
mod sync;
mod wait;

pub use by_key::{ByKey, ForKey};
pub use clock::Clock;
pub use config::{
    DEFAULT_LIMIT, DEFAULT_MAX_KEYS, DEFAULT_MAX_WAIT, DEFAULT_PERIOD, MAX_BURST_WINDOW,
    RateLimitBuilder, RateLimitConfig,
};
pub use event::RateLimitEvent;
pub use gcra::Quota;
pub use keyed::KeyedRateLimiter;
pub use layer::RateLimitLayer;
pub use limit::Limit;
pub use limiter::{METRIC_CALLS, METRIC_KEYS, RateLimiter};
pub use service::RateLimitService;
pub use stats::RateLimitStats;
pub use store::{
    Degrade, METRIC_DEGRADED, METRIC_STORE_REQUESTS, RateStore, StoreError, TakeFuture,
    TakeRequest, Taken,
};

//! A circuit breaker for async calls and tower services.
//!
//! [`CircuitBreaker`] stops calling a dependency that keeps failing and lets a few
//! probes through after a while to find out whether it has recovered.
//!
//! - **Rules that open it**: failures in a row; a failure ratio over a sliding window;
//!   a slow-call ratio; each judged once the window holds `minimum_calls`.
//! - **Windows**: the last N calls ([`Window::Count`], no clock read) or the last T in
//!   fixed buckets ([`Window::Time`]); O(1) per call, and old calls really leave.
//! - **Half-open**: exactly `half_open_calls` probes pass; their results close or reopen
//!   the breaker; probes that hang past `max_wait_in_half_open` reopen it; a cancelled
//!   probe frees its slot.
//! - **Generations**: a result that arrives after the breaker moved on is ignored, so a
//!   slow call admitted while closed cannot close a half-open breaker.
//! - **Open duration**: fixed or growing after each failed attempt, capped and jittered;
//!   a failure's retry-after hint may hold it open (`honor_retry_after`).
//! - **Manual**: [`force_open`](CircuitBreaker::force_open),
//!   [`disable`](CircuitBreaker::disable), [`metrics_only`](CircuitBreaker::metrics_only),
//!   [`reset`](CircuitBreaker::reset).
//! - [`BreakerRegistry`]: one breaker per dependency name.
//!
//! What counts as failure is a [`Classify`](hardy_core::Classify): by default `Ok` is a
//! success, an error a failure, a timeout a failure, and a refusal by another Hardy
//! layer is ignored.
//!
//! # Direct call
//!
//! ```
//! use std::time::Duration;
//! use hardy_breaker::CircuitBreaker;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breaker = CircuitBreaker::builder("soil-1")
//!     .consecutive_failures(3)
//!     .open_for(Duration::from_secs(30))
//!     .build()?;
//! let moisture = breaker.call(|| async { Ok::<_, std::io::Error>(0.41) }).await?;
//! assert_eq!(moisture, 0.41);
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_breaker::CircuitBreaker;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = CircuitBreaker::builder("pump-1").build()?;
//! let mut pump = ServiceBuilder::new()
//!     .layer(breaker.layer())
//!     .service_fn(|ml: u32| async move { Ok::<_, BoxError>(ml) });
//! assert_eq!(pump.ready().await?.call(250).await?, 250);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! `hardy_breaker_calls_total{name, outcome}`, `hardy_breaker_state{name}` and
//! `hardy_breaker_transitions_total{name, to}`, registered when the breaker is built.
//! A listener receives every [`BreakerEvent`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`BreakerConfig`] and [`Window`] |

mod breaker;
mod config;
mod event;
mod fleet;
pub mod future;
#[doc(hidden)]
pub mod hooks;
mod layer;
mod permit;
mod registry;
mod service;
mod state;
mod stats;
mod sync;
mod window;

pub use breaker::fleet::FleetLink;
pub use breaker::{
    BreakerSnapshot, CircuitBreaker, METRIC_CALLS, METRIC_STATE, METRIC_TRANSITIONS,
};
pub use config::{
    BreakerBuilder, BreakerConfig, DEFAULT_CONSECUTIVE_FAILURES, DEFAULT_FAILURE_RATIO,
    DEFAULT_HALF_OPEN_CALLS, DEFAULT_MAX_OPEN_FOR, DEFAULT_MAX_WAIT_IN_HALF_OPEN,
    DEFAULT_MINIMUM_CALLS, DEFAULT_OPEN_BACKOFF, DEFAULT_OPEN_FOR, DEFAULT_OPEN_JITTER,
    DEFAULT_SLOW_CALL_RATIO, DEFAULT_TIME_BUCKETS, DEFAULT_WINDOW_SIZE, MAX_HALF_OPEN_CALLS,
    MAX_TIME_BUCKETS, MAX_WINDOW_SIZE, Window,
};
pub use event::{BreakerEvent, TransitionReason};
pub use fleet::{BreakerStore, FleetChange};
pub use layer::BreakerLayer;
pub use registry::{BreakerRegistry, BreakerRegistryBuilder};
pub use service::BreakerService;
pub use state::BreakerState;
pub use stats::BreakerStats;

//! Load shedding for async calls and tower services: stay fast under overload.
//!
//! A [`LoadShedder`] admits the calls a service can serve in time and sheds the rest at
//! once with [`Rejection::Shed`](hardy_core::Rejection::Shed), so that admitted calls
//! keep their latency and the service keeps its goodput when offered more than it can
//! take:
//!
//! - **Adaptive concurrency limit** ([`LimitConfig`]): fixed, AIMD, or a gradient of
//!   latency against the minimum latency (in the style of Netflix's concurrency-limits
//!   and Envoy's adaptive concurrency), with bounds, smoothing and a periodic re-probe
//!   of the minimum latency.
//! - **Priorities** ([`Priority`]): lower priorities have lower thresholds, so under
//!   overload they are shed first and the top tier keeps a reserved share.
//! - **Per-client fairness** ([`FairnessConfig`]): once the limit is busy, no client
//!   takes more than its fair share.
//! - **Queue-delay shedding** ([`QueueConfig`]): a CoDel wait queue, highest priority
//!   first, that sheds once a standing queue keeps calls waiting past the target.
//! - **Probabilistic shedding**: a random share changeable at run time, and the SRE
//!   book's client-side adaptive throttling ([`ThrottleConfig`]).
//!
//! An admission below the limit is one compare-and-swap, its release one atomic
//! subtraction.
//!
//! # Direct call
//!
//! ```
//! use hardy_load_shed::{CallInfo, LoadShedder};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let api = LoadShedder::builder("api").priorities(3).build()?;
//! let answer = api
//!     .call_as(CallInfo::new().priority(2).client(&"ana"), || async {
//!         Ok::<_, std::io::Error>(42)
//!     })
//!     .await?;
//! assert_eq!(answer, 42);
//! # Ok(())
//! # }
//! ```
//!
//! # Tower layer
//!
//! ```
//! use std::time::Duration;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
//! use hardy_load_shed::{GradientConfig, LoadShedder};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let shedder = LoadShedder::builder("search")
//!     .gradient(GradientConfig { max_limit: 500, ..GradientConfig::default() })
//!     .queue(64, Duration::from_millis(5), Duration::from_millis(100))
//!     .build()?;
//! let mut search = ServiceBuilder::new()
//!     .layer(shedder.layer())
//!     .service_fn(|query: String| async move { Ok::<_, BoxError>(query.len()) });
//! assert_eq!(search.ready().await?.call("basil".into()).await?, 5);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics and events
//!
//! [`METRIC_CALLS`] (admitted, shed), [`METRIC_SHED`] (by reason and priority), the
//! [`METRIC_LIMIT`], [`METRIC_IN_FLIGHT`] and [`METRIC_MIN_RTT`] gauges and the
//! [`METRIC_RTT`] histogram, registered when the shedder is built. A listener receives
//! every [`LoadShedEvent`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`LoadShedConfig`] and its parts |

mod admit;
mod config;
mod event;
mod extract;
pub mod future;
mod layer;
mod limit;
mod permit;
mod rng;
mod sampler;
mod service;
mod shedder;
mod stages;
mod state;
mod sync;
mod wait;

pub use config::{
    AimdConfig, DEFAULT_RESERVE, DEFAULT_WINDOW, FixedConfig, GradientConfig, LimitConfig,
    LoadShedBuilder, LoadShedConfig, MAX_LIMIT, MAX_PRIORITIES, MAX_WAITING,
};
pub use event::LoadShedEvent;
pub use extract::{CallInfo, ClientOf, NoClient, Priority, PriorityOf, SamePriority};
pub use layer::LoadShedLayer;
pub use permit::LoadShedPermit;
pub use service::LoadShedService;
pub use shedder::{
    LoadShedStats, LoadShedder, METRIC_CALLS, METRIC_IN_FLIGHT, METRIC_LIMIT, METRIC_MIN_RTT,
    METRIC_RTT, METRIC_SHED, ShedCounts,
};
pub use stages::{FairnessConfig, QueueConfig, ThrottleConfig};

//! State a fleet shares through Redis: rate limits enforced across every instance,
//! with Redis itself guarded by Hardy's own timeout and breaker.
//!
//! A service that runs as N instances behind a load balancer enforces every limit kept
//! in the process N times over. With this crate, the instances keep the limit's state
//! in Redis:
//!
//! - **Fleet-wide rate limits**: a [`Redis`] handle is the
//!   [`RateStore`](hardy_rate_limit::RateStore) of `hardy-rate-limit`'s limiters
//!   ([`RateLimitBuilder::build_shared`](hardy_rate_limit::RateLimitBuilder::build_shared)):
//!   the same GCRA, config, layer and rejections as a limiter kept in the process,
//!   decided atomically by one Lua script on the server's clock (`EVALSHA`, `EVAL`
//!   when Redis does not know it), one round trip per decision, idle keys expiring by
//!   themselves. Optional leases take several turns per round trip.
//! - **Redis guarded like any dependency**: every call is bounded by a Hardy timeout
//!   (5 ms by default) and guarded by a Hardy breaker. While Redis is down or stalled,
//!   each shared limiter degrades per its own setting (its share of the rate, allow
//!   all, refuse all), and returns to Redis by itself when Redis answers again; no
//!   caller waits longer than the timeout.
//! - **Redis Cluster**: keys are hash-tagged, so what one script touches lives in one
//!   slot; keyed limits spread over the cluster by key.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use hardy_rate_limit::{Degrade, KeyedRateLimiter};
//! use hardy_redis::Redis;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = Redis::builder("fleet").url("redis://127.0.0.1:6379").build()?;
//! // 10 requests a second per client, across the whole fleet of 4 instances.
//! let per_client = KeyedRateLimiter::builder("per-client")
//!     .per(10, Duration::from_secs(1))
//!     .fleet_size(4)
//!     .degrade(Degrade::Local) // while Redis is away: 10 / 4 per instance
//!     .build_keyed_shared::<String>(Arc::new(redis))?;
//! per_client.acquire_key(&"client-42".to_owned()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//!
//! [`METRIC_CALLS`] counts calls to Redis by outcome; the guard's breaker and timeout
//! report as those patterns do, under the handle's name. Shared limiters add
//! `hardy_rate_limit_degraded` and `hardy_rate_limit_store_requests_total`.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`RedisConfig`] |

mod breaker;
mod config;
mod connection;
mod error;
mod fleet;
mod handle;
mod last_good;
mod rate;
mod script;

pub use crate::config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_POLL_INTERVAL, DEFAULT_PROBE_LEASE,
    DEFAULT_TIMEOUT, DEFAULT_URL, RedisBuilder, RedisConfig,
};
pub use crate::error::Error;
pub use crate::handle::{METRIC_CALLS, Redis};

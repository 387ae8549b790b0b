//! State a fleet shares through Redis: rate limits enforced across every instance,
//! breakers whose trips open the whole fleet, a shared level of last known good values,
//! with Redis itself guarded by Hardy's own timeout and breaker.
//!
//! A service that runs as N instances behind a load balancer enforces every limit kept
//! in the process N times over, and each instance discovers an outage by itself. With
//! this crate, the instances keep that state in Redis:
//!
//! - **Fleet-wide rate limits**: a [`Redis`] handle is the
//!   [`RateStore`](hardy_rate_limit::RateStore) of `hardy-rate-limit`'s limiters
//!   ([`RateLimitBuilder::build_shared`](hardy_rate_limit::RateLimitBuilder::build_shared)):
//!   the same GCRA, config, layer and rejections as a limiter kept in the process,
//!   decided atomically by one Lua script on the server's clock (`EVALSHA`, `EVAL`
//!   when Redis does not know it), one round trip per decision, idle keys expiring by
//!   themselves. Optional leases take several turns per round trip.
//! - **Shared breaker state**: a [`Redis`] handle is the
//!   [`BreakerStore`](hardy_breaker::BreakerStore) of breakers built with
//!   [`BreakerBuilder::build_shared`](hardy_breaker::BreakerBuilder::build_shared): a trip
//!   on one instance opens the breaker with that name on every instance (the open state
//!   with its expiry, pushed by pub/sub, polled as the fallback), and the whole fleet
//!   sends at most `half_open_calls` probes, from slots leased with an expiry. Calls
//!   are still counted in each instance; only transitions travel.
//! - **A shared level of last known good values**: a [`Redis`] handle is the
//!   [`SharedLevel`](hardy_fallback::SharedLevel) of last-known-good stores built with
//!   `build_shared`: a fresh instance answers a failed call with what another one saw.
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
pub use crate::handle::{METRIC_CALLS, Redis, RedisStats};

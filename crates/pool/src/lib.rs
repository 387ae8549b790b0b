//! An async object pool with the lifecycle of HikariCP and none of the deadlocks.
//!
//! A [`Pool`] holds objects made by a [`Manager`] — database connections, sessions,
//! device handles — and hands them out as [`Pooled`] guards:
//!
//! - **Sizing**: `max_size`, `min_idle` kept ready by a background task, and
//!   `max_overflow` extra objects for bursts, closed on return.
//! - **Timeouts**: acquire ([`Rejection::PoolTimeout`](hardy_core::Rejection::PoolTimeout)
//!   carrying the manager's last creation error, not a bare timeout), create, recycle.
//! - **Lifecycle**: idle timeout, max lifetime with per-object jitter (never while in
//!   use), recycle on reuse, validation after idle and keepalives, leak detection.
//! - **Fair and cancellation-safe**: FIFO waiters; a cancelled waiter never loses an
//!   object handed to it, a cancelled create never leaks its place, a panic while
//!   holding an object closes it.
//! - [`Pool::stats`], [`Pool::close`], metrics and events.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardy_pool::{Manager, Pool};
//!
//! struct Connections;
//!
//! impl Manager for Connections {
//!     type Object = String;
//!     type Error = std::io::Error;
//!
//!     async fn create(&self) -> Result<String, std::io::Error> {
//!         Ok("connection".to_string())
//!     }
//!
//!     async fn is_valid(&self, connection: &mut String) -> Result<bool, std::io::Error> {
//!         Ok(!connection.is_empty())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::builder("db", Connections)
//!     .max_size(4)
//!     .acquire_timeout(Duration::from_secs(2))
//!     .build()?;
//! let connection = pool.get().await?;
//! assert_eq!(connection.as_str(), "connection");
//! assert_eq!(pool.stats().in_use, 1);
//! drop(connection);
//! assert_eq!(pool.stats().idle, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`PoolConfig`] |

mod config;
mod event;
mod maintenance;
mod manager;
mod pool;
mod pooled;
mod sync;

pub use config::{
    DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_CREATE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LIFETIME_JITTER,
    DEFAULT_MAINTENANCE_EVERY, DEFAULT_MAX_LIFETIME, DEFAULT_MAX_SIZE, DEFAULT_RECYCLE_TIMEOUT,
    DEFAULT_VALIDATE_AFTER_IDLE, PoolBuilder, PoolConfig,
};
pub use event::{DestroyReason, PoolEvent};
pub use manager::Manager;
pub use pool::{
    METRIC_CREATED, METRIC_DESTROYED, METRIC_IDLE, METRIC_SIZE, METRIC_TIMEOUTS, METRIC_WAITING,
    Pool, PoolClosed, PoolStats,
};
pub use pooled::Pooled;

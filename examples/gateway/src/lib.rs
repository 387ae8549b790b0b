//! An HTTP gateway built from Hardy, in front of a deliberately unreliable backend.
//!
//! [`backend`] is the backend (fixed capacity, failing and slow sometimes, started on a
//! loopback port); [`edge`] is the gateway: an axum app whose routes are protected by a
//! stack read from a policy file — a rate limit per client, adaptive load shedding
//! with priorities, a breaker for the backend, retries within a budget, per-attempt
//! timeouts under the client's deadline, the last good reading for plant reads — with
//! `/health` and `/metrics` beside them.

pub mod backend;
pub mod edge;

pub use backend::{Backend, BackendConfig};
pub use edge::{Gateway, GatewayConfig, Handles};

/// The policies the gateway starts with when not given a file.
pub const POLICIES: &str = include_str!("../policies.toml");

/// A serving task, aborted when dropped.
#[derive(Debug)]
pub(crate) struct Serving(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

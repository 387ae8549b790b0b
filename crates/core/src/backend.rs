//! [`Backend`]: where a handle keeps its state.

use std::fmt;

/// Where a rate limiter or a circuit breaker keeps its state: in the process, or in
/// Redis, shared by every instance of a fleet (with `hardy-redis`).
///
/// A config's `backend` says where its handle's state is meant to live; building a
/// handle whose backend is [`Redis`](Backend::Redis) takes a store (`build_shared`),
/// which a policy file's `[redis]` section provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Backend {
    /// In the process: each instance enforces its own limit, trips its own breaker.
    #[default]
    Local,
    /// In Redis: one limit for the fleet, one breaker state for the fleet.
    Redis,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Local => "local",
            Backend::Redis => "redis",
        })
    }
}

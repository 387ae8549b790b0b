//! The plant-care controller, built only from Hardy: every sensor read goes through
//! fallback (backup probe, then the last good reading) → retry → breaker → bulkhead →
//! timeout; every watering through a per-plant rate limit → breaker → a one-pump-at-a-
//! time bulkhead → timeout, never retried. Probes that drift are measured from how
//! their pots dry and corrected ([`drift`]), backups are matched to their probes and
//! waterings must raise the reading ([`checks`]). The binary `plant-care` runs it
//! simulated (`simulate`, on paused time) or in real time (`run`, [`daemon`]), serving
//! a page at `/`, `/health`, `/metrics` and `/plants` ([`server`], [`serve`]).

pub mod chart;
pub mod checks;
pub mod config;
pub mod controller;
pub mod daemon;
pub mod drift;
mod error;
pub mod hardware;
pub mod history;
mod hush;
mod liveness;
pub mod policies;
pub mod pumps_off;
pub mod serve;
pub mod server;
pub mod simulate;

pub use error::Error;

//! The plant-care controller, built only from Hardy: every sensor read goes through
//! fallback (backup probe, then the last good reading) → retry → breaker → bulkhead →
//! timeout; every watering through a per-plant rate limit → breaker → a one-pump-at-a-
//! time bulkhead → timeout, never retried. The binary `plant-care` runs it simulated
//! (`simulate`, on paused time) or in real time (`run`), serving `/health`, `/metrics`
//! and `/plants`.

pub mod chart;
pub mod checks;
pub mod config;
pub mod controller;
pub mod daemon;
pub mod drift;
pub mod hardware;
pub mod history;
pub mod pumps_off;
pub mod serve;
pub mod server;
pub mod simulate;

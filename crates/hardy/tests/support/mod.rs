//! `Pipeline` decides exactly as the retry, breaker, rate limit, bulkhead and timeout
//! layers stacked in its order
//! (`.hardy_retry(&r).hardy_breaker(&b).hardy_rate_limit(&l).hardy_bulkhead(&k)
//! .hardy_timeout(&t)`).
//!
//! Most scenarios run twice, on twin handles built from one setup: once through the
//! stacked layers and once through a pipeline. Each run asserts what the scenario must
//! show; then the two runs are compared: every event the handles emitted, in order, the
//! breaker's snapshot, the bulkhead's stats, the retry budget's balance, the time until
//! the rate limit admits a call at once, and every call that reached the dependency
//! (which service instance made it, and whether that instance was made ready).
//!
//! A request may carry its caller's [`Deadline`]: the stack's retry and timeout layers
//! and the pipeline's layer all read it with the same `deadline_from` extractor.
//!
//! This module is the harness shared by the `pipeline_*` test files; each uses only
//! part of it.

// Shared by several test crates, each using only some of it.
#![allow(dead_code)]

mod check;
mod dependency;
mod guards;
mod scenarios;

// Each test file uses only some of these.
#[allow(unused_imports)]
pub(crate) use {check::*, dependency::*, guards::*, scenarios::*};

use std::time::Duration;

/// The timeout's limit.
pub(crate) const LIMIT: Duration = Duration::from_secs(1);
/// How long the breaker stays open.
pub(crate) const OPEN_FOR: Duration = Duration::from_secs(5);

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

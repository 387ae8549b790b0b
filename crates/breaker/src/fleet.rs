//! [`BreakerStore`]: where a breaker shared by a fleet publishes its transitions and
//! gets its half-open probes; [`FleetLink`](crate::FleetLink), how the store moves the
//! breaker on the fleet's word.
//!
//! Call counting stays in each instance; only transitions travel. A trip here is sent
//! to the store, which opens the breakers with the same name on the other instances;
//! when this breaker half-opens, it admits only the probes the store grants it, so the
//! whole fleet sends at most `half_open_calls` probes; a decision of the probes (open
//! again, or closed) is sent in turn.

use std::fmt;
use std::time::Duration;

use hardy_core::Name;

use crate::BreakerState;

/// Where the transitions of a breaker shared by a fleet go, and where its half-open
/// probes come from: a store every instance reaches (Redis, with `hardy-redis`).
///
/// A breaker built on a store ([`BreakerBuilder::build_shared`]) calls
/// [`changed`](Self::changed) on every transition it makes by itself (not on those the
/// fleet or a person made), under its own lock: the store must only take note and do
/// its work elsewhere (a task of its own). The store moves the breaker on the fleet's
/// word through the [`FleetLink`](crate::FleetLink) it is given at build.
///
/// While the store cannot be reached, it should grant every probe asked for, so that
/// the breaker keeps working on its own.
///
/// [`BreakerBuilder::build_shared`]: crate::BreakerBuilder::build_shared
pub trait BreakerStore: fmt::Debug + Send + Sync + 'static {
    /// Starts following the fleet for the breaker `link` leads to. Called once, when
    /// the breaker is built.
    fn attach(&self, link: crate::FleetLink);

    /// The breaker moved by itself: tripped open, half-opened (and now waits for
    /// probes from [`FleetLink::grant_probes`](crate::FleetLink::grant_probes)), or decided by its probes.
    fn changed(&self, change: FleetChange);
}

/// A transition of a shared breaker, for its store.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FleetChange {
    /// The breaker's name.
    pub name: Name,
    /// The state it entered: `Open`, `HalfOpen` or `Closed`.
    pub to: BreakerState,
    /// How long it stays open, when it opened.
    pub open_for: Option<Duration>,
    /// The generation of the new state: probes are granted for it.
    pub generation: u32,
    /// Probes the breaker admits in half-open, at most: what it asks the fleet for.
    pub half_open_calls: u32,
}

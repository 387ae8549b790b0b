//! [`BreakerStore`]: where a breaker shared by a fleet publishes its transitions and
//! gets its half-open probes; [`FleetLink`], how the store moves the breaker on the
//! fleet's word.
//!
//! Call counting stays in each instance; only transitions travel. A trip here is sent
//! to the store, which opens the breakers with the same name on the other instances;
//! when this breaker half-opens, it admits only the probes the store grants it, so the
//! whole fleet sends at most `half_open_calls` probes; a decision of the probes (open
//! again, or closed) is sent in turn.

use std::fmt;
use std::time::Duration;

use hardy_core::Name;

use crate::sync::{AtomicU32, Ordering};
use crate::{BreakerState, CircuitBreaker};

/// Where the transitions of a breaker shared by a fleet go, and where its half-open
/// probes come from: a store every instance reaches (Redis, with `hardy-redis`).
///
/// A breaker built on a store ([`BreakerBuilder::build_shared`]) calls
/// [`changed`](Self::changed) on every transition it makes by itself (not on those the
/// fleet or a person made), under its own lock: the store must only take note and do
/// its work elsewhere (a task of its own). The store moves the breaker on the fleet's
/// word through the [`FleetLink`] it is given at build.
///
/// While the store cannot be reached, it should grant every probe asked for, so that
/// the breaker keeps working on its own.
///
/// [`BreakerBuilder::build_shared`]: crate::BreakerBuilder::build_shared
pub trait BreakerStore: fmt::Debug + Send + Sync + 'static {
    /// Starts following the fleet for the breaker `link` leads to. Called once, when
    /// the breaker is built.
    fn attach(&self, link: FleetLink);

    /// The breaker moved by itself: tripped open, half-opened (and now waits for
    /// probes from [`FleetLink::grant_probes`]), or decided by its probes.
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

/// What a shared breaker keeps for its store: the store, and the probes the fleet
/// granted in the current half-open state.
pub(crate) struct Fleet {
    pub(crate) store: std::sync::Arc<dyn BreakerStore>,
    pub(crate) probes: AtomicU32,
}

impl Fleet {
    pub(crate) fn new(store: std::sync::Arc<dyn BreakerStore>) -> Self {
        Fleet {
            store,
            probes: AtomicU32::new(0),
        }
    }
}

/// How a [`BreakerStore`] moves a shared breaker on the fleet's word. Holds the
/// breaker weakly: once every handle of the breaker is dropped, the link is dead and
/// the store stops following the fleet for it.
#[cfg(not(hardy_loom))]
#[derive(Clone)]
pub struct FleetLink {
    breaker: std::sync::Weak<crate::breaker::Shared>,
}

#[cfg(not(hardy_loom))]
impl FleetLink {
    pub(crate) fn new(breaker: &CircuitBreaker) -> Self {
        FleetLink {
            breaker: crate::sync::Arc::downgrade(&breaker.shared),
        }
    }

    /// The breaker, while any handle of it lives.
    #[must_use]
    pub fn breaker(&self) -> Option<CircuitBreaker> {
        self.breaker
            .upgrade()
            .map(|shared| CircuitBreaker { shared })
    }

    /// Whether the breaker still lives.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.breaker.strong_count() > 0
    }

    /// Another instance opened the breaker, which stays open `remaining` more: a
    /// closed or half-open breaker opens for that long, an open one stays open at
    /// least that long. A breaker forced open, disabled or in metrics-only mode is
    /// left as it is.
    pub fn open(&self, remaining: Duration) {
        if let Some(breaker) = self.breaker() {
            breaker.fleet_open(remaining);
        }
    }

    /// Another instance's probes succeeded: an open or half-open breaker closes.
    pub fn close(&self) {
        if let Some(breaker) = self.breaker() {
            breaker.fleet_close();
        }
    }

    /// Grants `probes` half-open probes to the breaker, if it is still half-open in
    /// `generation`.
    pub fn grant_probes(&self, generation: u32, probes: u32) {
        if let Some(breaker) = self.breaker() {
            breaker.grant_probes(generation, probes);
        }
    }

    /// The generation of the breaker's half-open state, if it is half-open and has no
    /// probe granted: it waits for the fleet's.
    #[must_use]
    pub fn awaiting_probes(&self) -> Option<u32> {
        let breaker = self.breaker()?;
        let word = breaker.word();
        let fleet = breaker.shared.fleet.as_ref()?;
        (word.state() == BreakerState::HalfOpen && fleet.probes.load(Ordering::Acquire) == 0)
            .then(|| word.generation())
    }
}

#[cfg(not(hardy_loom))]
impl fmt::Debug for FleetLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let breaker = self.breaker();
        f.debug_struct("FleetLink")
            .field("breaker", &breaker.as_ref().map(CircuitBreaker::name))
            .finish()
    }
}

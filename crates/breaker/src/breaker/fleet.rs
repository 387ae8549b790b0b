//! How a shared breaker moves on the fleet's word, and tells its store what it did.

use super::*;
use crate::FleetChange;

/// How a [`BreakerStore`] moves a shared breaker on the fleet's word. Holds the
/// breaker weakly: once every handle of the breaker is dropped, the link is dead and
/// the store stops following the fleet for it.
///
/// (Under the loom models, whose reference counts cannot be weak, a link leads nowhere.)
#[derive(Clone)]
pub struct FleetLink {
    #[cfg(not(hardy_loom))]
    breaker: std::sync::Weak<Shared>,
}

impl FleetLink {
    #[cfg(not(hardy_loom))]
    pub(crate) fn new(breaker: &CircuitBreaker) -> Self {
        FleetLink {
            breaker: Arc::downgrade(&breaker.shared),
        }
    }

    /// The breaker, while any handle of it lives.
    #[must_use]
    pub fn breaker(&self) -> Option<CircuitBreaker> {
        #[cfg(not(hardy_loom))]
        return self
            .breaker
            .upgrade()
            .map(|shared| CircuitBreaker { shared });
        #[cfg(hardy_loom)]
        None
    }

    /// Whether the breaker still lives.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.breaker().is_some()
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

impl fmt::Debug for FleetLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let breaker = self.breaker();
        f.debug_struct("FleetLink")
            .field("breaker", &breaker.as_ref().map(CircuitBreaker::name))
            .finish()
    }
}

impl CircuitBreaker {
    /// A breaker shared by a fleet through `store`, which starts following the fleet.
    #[cfg(not(hardy_loom))]
    pub(crate) fn shared_from_parts(
        name: Name,
        config: BreakerConfig,
        listener: Listener<BreakerEvent>,
        store: std::sync::Arc<dyn BreakerStore>,
    ) -> Self {
        let breaker =
            CircuitBreaker::from_parts(name, config, listener, Some(Fleet::new(store.clone())));
        store.attach(FleetLink::new(&breaker));
        breaker
    }

    /// Half-open probes this breaker may admit now: the config's, or for a shared
    /// breaker those the fleet granted.
    #[inline]
    pub(crate) fn probe_limit(&self) -> u32 {
        let shared = &*self.shared;
        match &shared.fleet {
            None => shared.config.half_open_calls,
            Some(fleet) => fleet.probes.load(Ordering::Acquire),
        }
    }

    pub(crate) fn fleet_open(&self, remaining: Duration) {
        let mut control = self.shared.control.lock();
        let word = self.word();
        match word.state() {
            BreakerState::Closed | BreakerState::HalfOpen => self.transition(
                &mut control,
                word,
                BreakerState::Open,
                TransitionReason::Fleet,
                Some(remaining),
            ),
            BreakerState::Open => self.stay_open_for(remaining),
            BreakerState::ForcedOpen | BreakerState::Disabled | BreakerState::MetricsOnly => {}
        }
    }

    pub(crate) fn fleet_close(&self) {
        let mut control = self.shared.control.lock();
        let word = self.word();
        if matches!(word.state(), BreakerState::Open | BreakerState::HalfOpen) {
            control.failed_attempts = 0;
            self.transition(
                &mut control,
                word,
                BreakerState::Closed,
                TransitionReason::Fleet,
                None,
            );
        }
    }

    pub(crate) fn grant_probes(&self, generation: u32, probes: u32) {
        let _control = self.shared.control.lock();
        let word = self.word();
        if let Some(fleet) = &self.shared.fleet
            && word.state() == BreakerState::HalfOpen
            && word.generation() == generation
        {
            fleet.probes.store(
                probes.min(self.shared.config.half_open_calls),
                Ordering::Release,
            );
        }
    }

    /// Tells the store of a shared breaker about a transition it made by itself.
    pub(crate) fn tell_fleet(
        &self,
        to: BreakerState,
        reason: TransitionReason,
        open_for: Option<Duration>,
        generation: u32,
    ) {
        let shared = &*self.shared;
        let Some(fleet) = &shared.fleet else {
            return;
        };
        if matches!(reason, TransitionReason::Fleet | TransitionReason::Manual) {
            return;
        }
        fleet.store.changed(FleetChange {
            name: shared.name.clone(),
            to,
            open_for,
            generation,
            half_open_calls: shared.config.half_open_calls,
        });
    }
}

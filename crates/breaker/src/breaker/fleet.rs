//! How a shared breaker moves on the fleet's word, and tells its store what it did.

use super::*;
use crate::FleetChange;

impl CircuitBreaker {
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

    #[cfg(not(hardy_loom))]
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

    #[cfg(not(hardy_loom))]
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

    #[cfg(not(hardy_loom))]
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

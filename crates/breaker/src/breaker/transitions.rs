//! How a [`CircuitBreaker`] admits and records calls and moves between states: the
//! slow paths of admission, the window and failure-run counting, trips, probes and
//! transitions.

use super::*;

impl CircuitBreaker {
    /// [`try_acquire`](Self::try_acquire) in every state but closed: out of line, so
    /// that the closed test stays one branch rather than a jump table over the states.
    #[inline(never)]
    pub(super) fn try_acquire_slow(&self) -> Result<Pass, Rejection> {
        loop {
            let word = self.word();
            match word.state() {
                BreakerState::Closed | BreakerState::Disabled | BreakerState::MetricsOnly => {
                    return Ok(Pass::new(word.generation(), false));
                }
                BreakerState::Open => {
                    let remaining = self.open_remaining();
                    if !remaining.is_zero() {
                        return Err(self.reject(BreakerState::Open, Some(remaining)));
                    }
                    let mut control = self.shared.control.lock();
                    if self.word() == word {
                        self.transition(
                            &mut control,
                            word,
                            BreakerState::HalfOpen,
                            TransitionReason::OpenTimeElapsed,
                            None,
                        );
                    }
                }
                BreakerState::HalfOpen => {
                    if word.probes() < self.probe_limit() {
                        let next = word.with_probes(word.probes() + 1);
                        if self
                            .shared
                            .word
                            .compare_exchange(word.0, next.0, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                        {
                            return Ok(Pass::new(word.generation(), true));
                        }
                        continue;
                    }
                    if let Some(wait) = self.shared.config.max_wait_in_half_open {
                        let since = self.shared.half_open_since.load(Ordering::Acquire);
                        if nanos(self.since_epoch()).saturating_sub(since) >= nanos(wait) {
                            let mut control = self.shared.control.lock();
                            if self.word() == word {
                                control.failed_attempts = control.failed_attempts.saturating_add(1);
                                self.transition(
                                    &mut control,
                                    word,
                                    BreakerState::Open,
                                    TransitionReason::ProbesTimedOut,
                                    None,
                                );
                            }
                            continue;
                        }
                    }
                    return Err(self.reject(BreakerState::HalfOpen, None));
                }
                BreakerState::ForcedOpen => return Err(self.reject(BreakerState::ForcedOpen, None)),
            }
        }
    }

    #[cold]
    fn reject(&self, state: BreakerState, retry_after: Option<Duration>) -> Rejection {
        let shared = &*self.shared;
        shared.metrics.rejected.increment(1);
        Counts::add(&shared.tally.rejected);
        shared.listener.emit_with(|| BreakerEvent::Rejected {
            name: shared.name.clone(),
            state,
            retry_after,
        });
        Rejection::CircuitOpen {
            name: shared.name.clone(),
            retry_after,
        }
    }

    /// A probe left without a result (cancelled, panicked, or ignored): free its slot.
    #[cold]
    #[inline(never)]
    pub(crate) fn release_probe(&self, generation: u32) {
        let _ = self
            .shared
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |raw| {
                let word = Word(raw);
                (word.state() == BreakerState::HalfOpen
                    && word.generation() == generation
                    && word.probes() > 0)
                    .then(|| word.with_probes(word.probes() - 1).0)
            });
    }

    /// Records a finished call.
    #[inline(always)]
    pub(crate) fn record(&self, admission: Pass, started: u64, outcome: Outcome) {
        #[cfg(feature = "tracing")]
        tracing::trace!(
            target: crate::event::TARGET,
            name = %self.shared.name,
            outcome = ?outcome,
            "call recorded"
        );
        if let Outcome::Success = outcome
            && !admission.probe()
            && started == NOT_TIMED
        {
            self.record_success(admission);
        } else {
            self.record_outcome(admission, started, outcome);
        }
    }

    /// Records an untimed success that is not a probe, the common case: what
    /// [`record_outcome`](Self::record_outcome) does for it, without the tests that
    /// cannot apply (slow, retry-after, probe, trip).
    #[inline(always)]
    fn record_success(&self, admission: Pass) {
        const SUCCESS: Mark = Mark {
            failure: false,
            slow: false,
        };
        let shared = &*self.shared;
        shared.metrics.success.increment(1);
        shared.tally.successes.add(1);
        if let Ring::Count(count) = &shared.window {
            // The count window's generation answers for the state word's: it is cleared
            // for every new cycle but half-open, whose probes are not recorded here, and
            // a call of an earlier cycle finds its run emptied and the counter moved on.
            let Some(slot) = count.take(thread_index(), admission.generation()) else {
                return;
            };
            count.record_in_slot(slot, SUCCESS);
        } else {
            if self.word().generation() != admission.generation() {
                return;
            }
            self.record_in_window(admission, SUCCESS);
        }
        self.end_failure_run();
    }

    /// Puts a finished call's mark in the window: in the count window, at the current
    /// thread's next position, unless the window has moved on to a new cycle since the
    /// caller checked the generation.
    #[inline]
    fn record_in_window(&self, admission: Pass, mark: Mark) {
        match &self.shared.window {
            Ring::Count(count) => {
                if let Some(slot) = count.take(thread_index(), admission.generation()) {
                    count.record_in_slot(slot, mark);
                }
            }
            Ring::Time(time) => time.record(self.since_epoch(), mark),
            Ring::Off => {}
        }
    }

    /// A success ends the run of consecutive failures (written only if there was one).
    #[inline]
    fn end_failure_run(&self) {
        let consecutive = &self.shared.consecutive;
        if consecutive.load(Ordering::Relaxed) != 0 {
            consecutive.store(0, Ordering::Relaxed);
        }
    }

    /// Records a finished call admitted in `admission`'s generation.
    #[inline(never)]
    fn record_outcome(&self, admission: Pass, started: u64, outcome: Outcome) {
        let (generation, probe) = (admission.generation(), admission.probe());
        let shared = &*self.shared;
        let (failure, retry) = match outcome {
            Outcome::Success => (false, None),
            Outcome::Failure(retry) => (true, Some(retry)),
            Outcome::Ignore(_) => {
                shared.metrics.ignored.increment(1);
                Counts::add(&shared.tally.ignored);
                if probe {
                    self.release_probe(generation);
                }
                return;
            }
        };
        if failure {
            shared.metrics.failure.increment(1);
            Counts::add(&shared.tally.failures);
        } else {
            shared.metrics.success.increment(1);
            shared.tally.successes.add(1);
        }
        let word = self.word();
        if word.generation() != generation {
            // The breaker moved on since this call was admitted: its result says
            // nothing about the new cycle.
            return;
        }
        let slow = match shared.config.slow_call_threshold {
            Some(threshold) if started != NOT_TIMED => {
                nanos(self.since_epoch()).saturating_sub(started) >= nanos(threshold)
            }
            _ => false,
        };
        if slow {
            Counts::add(&shared.tally.slow_calls);
        }
        let mark = Mark { failure, slow };
        if let (true, Some(Retryability::RetryAfter(wait))) =
            (shared.config.honor_retry_after, retry)
            && word.state() != BreakerState::Disabled
            && word.state() != BreakerState::MetricsOnly
        {
            let mut control = shared.control.lock();
            if self.word().generation() == generation {
                self.transition(
                    &mut control,
                    self.word(),
                    BreakerState::Open,
                    TransitionReason::RetryAfter { wait },
                    Some(wait),
                );
            }
            return;
        }
        if probe {
            self.record_probe(generation, outcome, mark);
            return;
        }
        self.record_in_window(admission, mark);
        if failure {
            let in_a_row = shared
                .consecutive
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            let threshold = shared.config.consecutive_failures;
            if threshold != 0 && in_a_row >= threshold {
                self.trip(
                    generation,
                    TransitionReason::ConsecutiveFailures { count: in_a_row },
                );
                return;
            }
        } else {
            self.end_failure_run();
        }
        if failure || slow {
            let totals = self.totals(generation, self.since_epoch());
            // `minimum_calls` is at least 1, so the window is never empty here.
            if totals.calls >= shared.config.minimum_calls {
                let failures = ratio(totals.failures, totals.calls);
                let slow_calls = ratio(totals.slow, totals.calls);
                if failure && failures >= shared.config.failure_ratio {
                    self.trip(
                        generation,
                        TransitionReason::FailureRatio { ratio: failures },
                    );
                } else if slow && slow_calls >= shared.config.slow_call_ratio {
                    self.trip(
                        generation,
                        TransitionReason::SlowCallRatio { ratio: slow_calls },
                    );
                }
            }
        }
    }

    /// A rule tripped in generation `generation`: open (or report, in metrics-only mode).
    #[cold]
    fn trip(&self, generation: u32, reason: TransitionReason) {
        let shared = &*self.shared;
        let mut control = shared.control.lock();
        let word = self.word();
        if word.generation() != generation {
            return;
        }
        match word.state() {
            BreakerState::Closed => {
                self.transition(&mut control, word, BreakerState::Open, reason, None)
            }
            BreakerState::MetricsOnly => {
                self.clear_window(generation);
                shared
                    .listener
                    .emit_with(|| BreakerEvent::ThresholdExceeded {
                        name: shared.name.clone(),
                        reason,
                    });
            }
            _ => {}
        }
    }

    #[cold]
    fn record_probe(&self, generation: u32, outcome: Outcome, mark: Mark) {
        let shared = &*self.shared;
        let mut control = shared.control.lock();
        let word = self.word();
        if word.generation() != generation || word.state() != BreakerState::HalfOpen {
            return;
        }
        shared.listener.emit_with(|| BreakerEvent::ProbeResult {
            name: shared.name.clone(),
            outcome,
        });
        if mark.failure {
            control.probe_failures += 1;
        } else {
            control.probe_successes += 1;
        }
        if mark.slow {
            control.probe_slow += 1;
        }
        let probes = shared.config.half_open_calls;
        let failures = ratio(control.probe_failures, probes);
        // Slow probes are only counted with a threshold set, and `slow_call_ratio` is
        // greater than zero, so no threshold never trips this.
        let slow = ratio(control.probe_slow, probes);
        if failures >= shared.config.failure_ratio || slow >= shared.config.slow_call_ratio {
            control.failed_attempts = control.failed_attempts.saturating_add(1);
            self.transition(
                &mut control,
                word,
                BreakerState::Open,
                TransitionReason::ProbesFailed,
                None,
            );
        } else if control.probe_failures + control.probe_successes >= probes {
            control.failed_attempts = 0;
            self.transition(
                &mut control,
                word,
                BreakerState::Closed,
                TransitionReason::ProbesSucceeded,
                None,
            );
        }
    }

    /// Empties the window for the calls of `generation`.
    fn clear_window(&self, generation: u32) {
        let shared = &*self.shared;
        match &shared.window {
            Ring::Count(count) => count.clear(generation),
            Ring::Time(time) => time.clear(),
            Ring::Off => {}
        }
        shared.consecutive.store(0, Ordering::Relaxed);
    }

    /// How long to stay open this time: `open_for` grown by the backoff per failed
    /// half-open attempt, capped, then spread by the jitter.
    fn open_duration(&self, control: &mut Control) -> Duration {
        let config = &self.shared.config;
        let grown = config.open_for.as_secs_f64()
            * config.open_backoff.powf(f64::from(control.failed_attempts));
        let capped = grown.min(config.max_open_for.as_secs_f64());
        let spread = if config.open_jitter > 0.0 {
            let factor = control
                .rng
                .random_range(1.0 - config.open_jitter..=1.0 + config.open_jitter);
            (capped * factor).min(config.max_open_for.as_secs_f64())
        } else {
            capped
        };
        Duration::try_from_secs_f64(spread).unwrap_or(config.max_open_for)
    }

    /// Moves from `from` to `to`, under the control lock.
    pub(super) fn transition(
        &self,
        control: &mut Control,
        from: Word,
        to: BreakerState,
        reason: TransitionReason,
        open_for: Option<Duration>,
    ) {
        let shared = &*self.shared;
        let now = nanos(self.since_epoch());
        let mut opened_for = None;
        match to {
            BreakerState::Open => {
                let open_for = open_for.unwrap_or_else(|| self.open_duration(control));
                shared
                    .open_until
                    .store(now.saturating_add(nanos(open_for)), Ordering::Release);
                opened_for = Some(open_for);
            }
            BreakerState::HalfOpen => {
                control.probe_successes = 0;
                control.probe_failures = 0;
                control.probe_slow = 0;
                shared.half_open_since.store(now, Ordering::Release);
                if let Some(fleet) = &shared.fleet {
                    // Before the new word: no probe passes until the fleet grants it.
                    fleet.probes.store(0, Ordering::Release);
                }
            }
            _ => {}
        }
        let next = from.next(to);
        if to != BreakerState::HalfOpen {
            // Before the new word: a call of the old cycle that passed its generation
            // test takes no position in the new window.
            self.clear_window(next.generation());
        }
        shared.word.store(next.0, Ordering::Release);
        shared.metrics.state.set(to.code() as f64);
        shared.metrics.transitions[to.code() as usize].increment(1);
        shared.tally.entered(to);
        shared.listener.emit_with(|| BreakerEvent::StateChanged {
            name: shared.name.clone(),
            from: from.state(),
            to,
            reason,
        });
        self.tell_fleet(to, reason, opened_for, next.generation());
    }
}

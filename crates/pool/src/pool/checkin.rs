//! Giving an object back: to the first waiter, to an idle shard, or closed.

use super::*;

impl<M: Manager> Shared<M> {
    /// Grants `grant` to the first waiter still waiting: `Err(waker)` if it was
    /// granted, `Ok(grant)` back if nobody waits.
    #[allow(clippy::type_complexity)]
    pub(super) fn grant(
        &self,
        state: &mut State<M::Object>,
        grant: Grant<M::Object>,
    ) -> Result<Grant<M::Object>, Option<Waker>> {
        while let Some(waiter) = state.waiters.pop_front() {
            let mut waiting = waiter.state.lock();
            if let WaitState::Waiting(waker) = &mut *waiting {
                let waker = waker.take();
                *waiting = WaitState::Granted(grant);
                self.set_waiting(state.waiters.len());
                self.metrics.waiting.set(state.waiters.len() as f64);
                return Err(waker);
            }
            // A waiter that already left: skip it.
        }
        self.set_waiting(0);
        Ok(grant)
    }

    /// Returns an object: to the first waiter, else to the `home` idle shard.
    #[inline]
    pub(crate) fn give_back(&self, idle: Idle<M::Object>, home: usize) {
        // The common case, with no pool-wide lock: nobody waits, the pool is open,
        // within its size, and the object within its lifetime.
        if self.waiting.load(Ordering::SeqCst) == 0
            && !self.closed.load(Ordering::Acquire)
            && self.live.load(Ordering::Acquire) <= self.config.max_size
            && idle.meta.expires > self.seen.load(Ordering::Acquire)
        {
            let (was_empty, closed) = {
                let mut shard = self.shards[home].lock();
                let was_empty = shard.is_empty();
                shard.push_back(idle);
                (was_empty, self.closed.load(Ordering::Acquire))
            };
            if closed {
                // `close` drained the shards before or after this push: close what it
                // may have missed (it stores `closed` before draining each shard).
                let missed: Vec<_> = self.shards[home].lock().drain(..).collect();
                if !missed.is_empty() {
                    let mut state = self.state.lock();
                    state.size -= missed.len();
                    self.live.store(state.size, Ordering::Release);
                }
                for idle in missed {
                    self.destroy(idle.object, DestroyReason::Closed, false);
                }
                return;
            }
            // A caller may have started waiting meanwhile, having found no object. It
            // counts itself with a read-modify-write of `waiting`, then reads the
            // shards' length hints ([`Shared::take_idle_queued`]). A return that makes
            // a shard non-empty stores the hint (at unlock, above), then makes a
            // read-modify-write of the same count: of the two, the later one sees the
            // earlier, so the waiter finds the object or this return finds the waiter.
            // A shard that held objects already showed a length above zero.
            let someone_waits = if was_empty {
                self.waiting.fetch_add(0, Ordering::AcqRel) > 0
            } else {
                self.waiting.load(Ordering::Acquire) > 0
            };
            if someone_waits {
                self.serve_waiters(home);
            }
            return;
        }
        let outcome = {
            let mut state = self.state.lock();
            if self.closed.load(Ordering::Acquire) {
                state.size -= 1;
                self.live.store(state.size, Ordering::Release);
                Err((idle, DestroyReason::Closed))
            } else {
                match self.grant(&mut state, Grant::Object(idle)) {
                    Err(waker) => Ok(waker),
                    Ok(Grant::Object(idle)) => {
                        if idle.meta.expires <= self.seen.load(Ordering::Acquire) {
                            state.size -= 1;
                            self.live.store(state.size, Ordering::Release);
                            Err((idle, DestroyReason::Expired))
                        } else if state.size > self.config.max_size {
                            state.size -= 1;
                            self.live.store(state.size, Ordering::Release);
                            Err((idle, DestroyReason::Overflow))
                        } else {
                            self.shards[home].lock().push_back(idle);
                            Ok(None)
                        }
                    }
                    Ok(Grant::Create) => Ok(None),
                }
            }
        };
        match outcome {
            Ok(Some(waker)) => waker.wake(),
            Ok(None) => {}
            Err((idle, reason)) => self.destroy(idle.object, reason, false),
        }
    }

    /// Hands idle objects in the shards to waiters, first come first served.
    pub(super) fn serve_waiters(&self, home: usize) {
        let mut wakers = Vec::new();
        let mut expired = Vec::new();
        {
            let mut state = self.state.lock();
            while !state.waiters.is_empty() {
                let Some(idle) = self.pop_idle(home, Look::Every, &mut expired) else {
                    break;
                };
                match self.grant(&mut state, Grant::Object(idle)) {
                    Err(waker) => wakers.extend(waker),
                    Ok(Grant::Object(idle)) => {
                        self.shards[home].lock().push_back(idle);
                        break;
                    }
                    Ok(Grant::Create) => break,
                }
            }
        }
        for waker in wakers {
            waker.wake();
        }
        for idle in expired {
            self.destroy(idle.object, DestroyReason::Expired, true);
        }
    }

    /// The return of a checked-out object (from a [`Pooled`] being dropped).
    pub(crate) fn returned(&self, object: M::Object, meta: Meta, home: usize) {
        if self.config.leak_threshold.is_some() {
            self.state.lock().held.remove(&meta.id);
        }
        if std::thread::panicking() {
            self.destroy(object, DestroyReason::Panicked, true);
            return;
        }
        self.give_back(Idle { object, meta }, home);
    }

    /// A checked-out object taken out of the pool for good.
    pub(crate) fn detached(&self, meta: Meta) {
        {
            let mut state = self.state.lock();
            state.held.remove(&meta.id);
            state.destroyed += 1;
        }
        self.metrics.destroyed[5].increment(1);
        self.listener.emit_with(|| PoolEvent::Destroyed {
            name: self.name.clone(),
            reason: DestroyReason::Taken,
        });
        self.release_place();
    }

    /// Closes `object`; gives its place back when `release` (else the caller did).
    pub(crate) fn destroy(&self, object: M::Object, reason: DestroyReason, release: bool) {
        self.manager.destroy(object);
        self.state.lock().destroyed += 1;
        let index = REASONS.iter().position(|r| *r == reason).unwrap_or(0);
        self.metrics.destroyed[index].increment(1);
        self.listener.emit_with(|| PoolEvent::Destroyed {
            name: self.name.clone(),
            reason,
        });
        if release {
            self.release_place();
        } else {
            self.refresh_gauges();
        }
    }

    pub(super) fn timed_out(&self, start: Instant, now: Instant) -> Rejection {
        let waited = now.saturating_duration_since(start);
        let last_error = {
            let mut state = self.state.lock();
            state.timeouts += 1;
            state.last_error.clone()
        };
        self.metrics.timeouts.increment(1);
        self.listener.emit_with(|| PoolEvent::Timeout {
            name: self.name.clone(),
            waited,
        });
        Rejection::PoolTimeout {
            name: self.name.clone(),
            waited,
            last_error,
        }
    }

    pub(super) fn closed_error(&self) -> Rejection {
        Rejection::PoolTimeout {
            name: self.name.clone(),
            waited: Duration::ZERO,
            last_error: Some(Arc::new(PoolClosed)),
        }
    }
}

//! Taking an object out: an idle one, a new one, or one handed over after a wait;
//! checks before handing it out.

use super::*;

impl<M: Manager> Pool<M> {
    /// [`get`](Self::get) past its first look at the idle objects (`looked` if it made
    /// one): waits, makes objects, and looks again after an object failed its checks.
    pub(super) async fn get_slowly(&self, looked: bool) -> Result<Pooled<M>, Rejection> {
        let shared = &*self.shared;
        // The clock is read only when needed: not for an idle object handed out at once.
        let mut start: Option<Instant> = None;
        let mut began = || *start.get_or_insert_with(|| shared.now());
        let acquire_timeout = shared.config.acquire_timeout;
        let mut looked = looked;
        loop {
            let home = self.lane.shard;
            let step = shared.checkout(home, looked, &mut || began() + acquire_timeout)?;
            looked = false;
            let (idle, fresh) = match step {
                Step::Idle(idle) => (idle, false),
                Step::Create => {
                    let deadline = began() + acquire_timeout;
                    match self.create(deadline).await {
                        Some(idle) => (idle, true),
                        None => {
                            let now = shared.now();
                            if now >= deadline {
                                return Err(shared.timed_out(began(), now));
                            }
                            continue;
                        }
                    }
                }
                Step::Wait(waiter, rearm) => {
                    let deadline = waiter.deadline;
                    // The guard first: if arming the reaper panics (no runtime), the
                    // waiter leaves the queue as it unwinds.
                    let queued = Queued {
                        shared,
                        waiter,
                        home,
                    };
                    self.arm_reaper(rearm);
                    // An object may have come back to a shard just before this caller
                    // was counted as waiting: look once more (leaving the queue passes
                    // on anything granted meanwhile).
                    if let Some(idle) = shared.take_idle_queued(home) {
                        drop(queued);
                        (idle, false)
                    } else {
                        match self.wait(&queued).await {
                            Some(Grant::Object(idle)) => (idle, false),
                            // A place was freed for this caller: make an object in it.
                            Some(Grant::Create) => match self.create(deadline).await {
                                Some(idle) => (idle, true),
                                None => continue,
                            },
                            None => {
                                let now = shared.now();
                                if shared.closed.load(Ordering::Acquire) {
                                    return Err(shared.closed_error());
                                }
                                return Err(shared.timed_out(began(), now));
                            }
                        }
                    }
                }
            };
            if let Some(pooled) = self.ready(idle, fresh).await {
                return Ok(pooled);
            }
            let now = shared.now();
            if now >= began() + acquire_timeout {
                return Err(shared.timed_out(began(), now));
            }
        }
    }

    /// Makes an object in a place already reserved; `None` when making it failed.
    pub(super) async fn create(&self, deadline: Instant) -> Option<Idle<M::Object>> {
        let shared = &*self.shared;
        let mut reserved = Reserved {
            shared,
            armed: true,
        };
        let now = Instant::now();
        let limit = shared
            .config
            .create_timeout
            .min(deadline.saturating_duration_since(now));
        let made = tokio::time::timeout(limit, shared.manager.create()).await;
        match made {
            Ok(Ok(object)) => {
                reserved.armed = false;
                Some(shared.made(object, Instant::now()))
            }
            Ok(Err(error)) => {
                shared.create_failed(Arc::new(error));
                drop(reserved);
                // Do not hammer a failing backend: a short pause before trying again.
                let pause = Duration::from_millis(50)
                    .min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
                None
            }
            Err(_) => {
                shared.create_failed(Arc::new(CreateTimedOut(limit)));
                None
            }
        }
    }

    /// Makes an idle object ready to hand out: recycled if it was used, validated if it
    /// sat idle longer than `validate_after_idle`; `None` (and the object closed) when
    /// either fails. A `fresh` object was just made and needs neither.
    pub(super) async fn ready(&self, idle: Idle<M::Object>, fresh: bool) -> Option<Pooled<M>> {
        let shared = &*self.shared;
        // Held while the object is checked: if the check fails, panics or is cancelled,
        // the object is closed and its place given back.
        let mut checking = Checking {
            shared,
            idle: Some(idle),
        };
        let limit = shared.config.recycle_timeout;
        let dirty = checking.idle.as_ref().is_some_and(|idle| idle.meta.used());
        if !fresh && dirty {
            let object = &mut checking.idle.as_mut()?.object;
            let recycled = bounded(limit, shared.manager.recycle(object)).await;
            if !matches!(recycled, Some(Ok(()))) {
                return None;
            }
        }
        // The clock is read only when validation or leak detection needs it.
        let mut checked_at = None;
        if shared.needs_clock() {
            let now = shared.now();
            let stamp = shared.stamp(now);
            let last_checkout = checking.idle.as_ref()?.meta.last_checkout;
            if !fresh
                && shared
                    .config
                    .validate_after_idle
                    .is_some_and(|after| stamp.saturating_sub(last_checkout) >= nanos(after))
            {
                let object = &mut checking.idle.as_mut()?.object;
                let valid = bounded(limit, shared.manager.is_valid(object)).await;
                if !matches!(valid, Some(Ok(true))) {
                    return None;
                }
                checking.idle.as_mut()?.meta.last_validated = stamp;
            }
            checked_at = Some((now, stamp));
        }
        let mut idle = checking.idle.take()?;
        if let Some((now, stamp)) = checked_at {
            idle.meta.last_checkout = stamp;
            if shared.config.leak_threshold.is_some() {
                shared.state.lock().held.insert(idle.meta.id, (now, false));
            }
        }
        Some(self.hand_out(idle))
    }

    /// Hands a checked object out.
    #[inline]
    pub(super) fn hand_out(&self, mut idle: Idle<M::Object>) -> Pooled<M> {
        idle.meta.checkouts = idle.meta.checkouts.saturating_add(1);
        idle.meta.idle_seen = NEVER;
        Pooled::new(self.lane.clone(), idle)
    }

    /// A snapshot of the pool now (size, idle, in use, waiting) and its running totals
    /// since it was built (objects created and destroyed, creations that failed, gets
    /// that timed out), without a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// Closes the pool: idle objects close now, objects in use when returned; waiters
    /// and later `get`s are refused.
    pub fn close(&self) {
        let shared = &*self.shared;
        let (idle, waiters) = {
            let mut state = shared.state.lock();
            shared.closed.store(true, Ordering::SeqCst);
            let mut idle = Vec::new();
            for shard in shared.shards.iter() {
                idle.extend(shard.lock().drain(..));
            }
            state.size -= idle.len();
            shared.live.store(state.size, Ordering::Release);
            let waiters: Vec<_> = state.waiters.drain(..).collect();
            shared.set_waiting(0);
            (idle, waiters)
        };
        for waiter in waiters {
            let mut waiter = waiter.state.lock();
            if let WaitState::Waiting(waker) = std::mem::replace(&mut *waiter, WaitState::Closed)
                && let Some(waker) = waker
            {
                waker.wake();
            }
        }
        for idle in idle {
            shared.destroy(idle.object, DestroyReason::Closed, false);
        }
        shared.refresh_gauges();
    }

    /// Runs one maintenance pass now: closes idle and expired objects, validates idle
    /// objects due for a keepalive, reports suspected leaks, and makes objects up to
    /// `min_idle`.
    pub async fn maintain(&self) {
        crate::maintenance::pass(&self.shared).await;
    }
}

impl<M: Manager> Shared<M> {
    /// Reads the clock, and remembers what it said for the lifetime checks.
    pub(crate) fn now(&self) -> Instant {
        let now = Instant::now();
        self.seen.fetch_max(self.stamp(now), Ordering::AcqRel);
        now
    }

    /// `at` as nanoseconds since the pool's epoch.
    pub(super) fn stamp(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.epoch))
    }

    /// Pops an idle object, its home shard first; expired ones it meets go to
    /// `expired`, for the caller to close once it holds no lock.
    #[inline]
    pub(super) fn pop_idle(
        &self,
        home: usize,
        look: Look,
        expired: &mut Vec<Idle<M::Object>>,
    ) -> Option<Idle<M::Object>> {
        let seen = self.seen.load(Ordering::Acquire);
        for i in 0..SHARDS {
            // SHARDS is a power of two: a mask, not a division, on the fast path.
            let shard = &self.shards[(home + i) & (SHARDS - 1)];
            if look == Look::Hopeful && shard.looks_empty() {
                continue;
            }
            let mut idle = shard.lock();
            while let Some(object) = idle.pop_back() {
                if object.meta.expires <= seen {
                    expired.push(object);
                } else {
                    return Some(object);
                }
            }
        }
        None
    }

    /// Pops an idle object, closing the expired ones it meets. Takes no pool-wide lock,
    /// and must not be called holding one.
    #[inline]
    pub(crate) fn take_idle(&self, home: usize, look: Look) -> Option<Idle<M::Object>> {
        let mut expired = Vec::new();
        let found = self.pop_idle(home, look, &mut expired);
        for idle in expired {
            self.destroy(idle.object, DestroyReason::Expired, true);
        }
        found
    }

    /// The look of a caller just counted as waiting, for an object returned before it
    /// was counted. Returns that make a shard non-empty and the count of waiters meet
    /// on read-modify-writes of `waiting` (see [`give_back`](Self::give_back)), so
    /// shards whose length hint is zero can be skipped.
    #[inline]
    pub(crate) fn take_idle_queued(&self, home: usize) -> Option<Idle<M::Object>> {
        self.take_idle(home, Look::Hopeful)
    }

    /// Sets the count of waiters. Always a read-modify-write, never a plain store:
    /// the count is where returns and new waiters meet (see
    /// [`give_back`](Self::give_back)), and only a chain of read-modify-writes carries
    /// what a return did to every later waiter.
    #[inline]
    pub(crate) fn set_waiting(&self, waiters: usize) {
        self.waiting.swap(waiters, Ordering::AcqRel);
    }

    /// Whether a checkout reads the clock: for validation after idling, or to time
    /// objects held for leak detection.
    #[inline]
    pub(super) fn needs_clock(&self) -> bool {
        self.config.validate_after_idle.is_some() || self.config.leak_threshold.is_some()
    }

    /// An idle object if nobody waits and one is there; takes no pool-wide lock.
    #[inline]
    pub(super) fn checkout_idle(&self, home: usize) -> Option<Idle<M::Object>> {
        if self.waiting.load(Ordering::SeqCst) == 0 && !self.closed.load(Ordering::Acquire) {
            self.take_idle(home, Look::Hopeful)
        } else {
            None
        }
    }

    /// An idle object, a place to make one, or a place in the queue. `looked`: the
    /// caller has just looked for an idle object and found none, so this does not look
    /// again before deciding. A waiter gives up at `deadline()`, read only if it waits.
    #[inline]
    pub(super) fn checkout(
        &self,
        home: usize,
        looked: bool,
        deadline: &mut dyn FnMut() -> Instant,
    ) -> Result<Step<M::Object>, Rejection> {
        if !looked && let Some(idle) = self.checkout_idle(home) {
            return Ok(Step::Idle(idle));
        }
        let mut state = self.state.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        if !looked && state.waiters.is_empty() {
            drop(state);
            if let Some(idle) = self.take_idle(home, Look::Hopeful) {
                return Ok(Step::Idle(idle));
            }
            state = self.state.lock();
            if self.closed.load(Ordering::Acquire) {
                return Err(self.closed_error());
            }
        }
        if state.size < self.config.max_size + self.config.max_overflow {
            state.size += 1;
            self.live.store(state.size, Ordering::Release);
            return Ok(Step::Create);
        }
        let deadline = deadline();
        let waiter = Arc::new(Waiter {
            state: Mutex::new(WaitState::Waiting(None)),
            deadline,
        });
        state.waiters.push_back(waiter.clone());
        self.set_waiting(state.waiters.len());
        self.metrics.waiting.set(state.waiters.len() as f64);
        let rearm = state.armed.is_none_or(|armed| deadline < armed);
        if rearm {
            state.armed = Some(deadline);
        }
        Ok(Step::Wait(waiter, rearm))
    }

    pub(crate) fn made(&self, object: M::Object, now: Instant) -> Idle<M::Object> {
        let stamp = self.stamp(now);
        let expires = self.config.max_lifetime.map_or(NEVER, |lifetime| {
            let jitter = self.config.lifetime_jitter;
            let cut = if jitter > 0.0 {
                self.rng.lock().random_range(0.0..=jitter)
            } else {
                0.0
            };
            stamp.saturating_add(nanos(lifetime.mul_f64(1.0 - cut)))
        });
        {
            let mut state = self.state.lock();
            state.created += 1;
            self.metrics.size.set(state.size as f64);
        }
        self.metrics.created.increment(1);
        self.listener.emit_with(|| PoolEvent::Created {
            name: self.name.clone(),
        });
        Idle {
            object,
            meta: Meta {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                expires,
                last_checkout: stamp,
                idle_seen: NEVER,
                last_validated: stamp,
                checkouts: 0,
            },
        }
    }

    pub(crate) fn create_failed(&self, error: SharedError) {
        self.state.lock().create_failures += 1;
        self.listener.emit_with(|| PoolEvent::CreateFailed {
            name: self.name.clone(),
            error: error.to_string(),
        });
        self.state.lock().last_error = Some(error);
    }

    /// Gives a place back: to the first waiter (to make an object), or to the pool.
    pub(crate) fn release_place(&self) {
        let waker = {
            let mut state = self.state.lock();
            let waker = if self.closed.load(Ordering::Acquire) {
                state.size -= 1;
                None
            } else {
                match self.grant(&mut state, Grant::Create) {
                    Err(waker) => waker,
                    Ok(_) => {
                        state.size -= 1;
                        None
                    }
                }
            };
            self.live.store(state.size, Ordering::Release);
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.refresh_gauges();
    }
}

//! Status, gauges and the maintenance pass: expired and idle objects swept, leaks
//! reported, the minimum of idle objects kept.

use super::*;

impl<M: Manager> Shared<M> {
    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.state.lock();
        let idle = self.idle_count();
        PoolStats {
            name: self.name.clone(),
            size: state.size,
            idle,
            in_use: state.size.saturating_sub(idle),
            waiting: state.waiters.len(),
            created: state.created,
            destroyed: state.destroyed,
            timeouts: state.timeouts,
            create_failures: state.create_failures,
            max_size: self.config.max_size,
            max_overflow: self.config.max_overflow,
            closed: self.closed.load(Ordering::Acquire),
        }
    }

    pub(super) fn idle_count(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }

    pub(crate) fn refresh_gauges(&self) {
        let state = self.state.lock();
        self.metrics.size.set(state.size as f64);
        self.metrics.idle.set(self.idle_count() as f64);
        self.metrics.waiting.set(state.waiters.len() as f64);
    }

    // ---- maintenance helpers ----

    /// Takes out the idle objects to close or to validate now, stamps the others.
    pub(crate) fn sweep(&self, now: Instant) -> Sweep<M::Object> {
        let stamp = self.stamp(now);
        self.seen.fetch_max(stamp, Ordering::AcqRel);
        let mut state = self.state.lock();
        let mut sweep = Sweep {
            expired: Vec::new(),
            idle: Vec::new(),
            keepalive: Vec::new(),
            leaks: Vec::new(),
            to_create: 0,
        };
        let mut idle_count = self.idle_count();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let mut kept = VecDeque::with_capacity(shard.len());
            // Oldest returned first: they are the front of each shard.
            while let Some(mut idle) = shard.pop_front() {
                if idle.meta.idle_seen == NEVER {
                    idle.meta.idle_seen = stamp;
                }
                let seen = idle.meta.idle_seen;
                if idle.meta.expires <= stamp {
                    idle_count -= 1;
                    sweep.expired.push(idle);
                } else if self
                    .config
                    .idle_timeout
                    .is_some_and(|timeout| stamp.saturating_sub(seen) >= nanos(timeout))
                    && idle_count > self.config.min_idle
                {
                    idle_count -= 1;
                    sweep.idle.push(idle);
                } else if self.config.keepalive.is_some_and(|every| {
                    stamp.saturating_sub(idle.meta.last_validated) >= nanos(every)
                }) {
                    idle.meta.last_validated = stamp;
                    sweep.keepalive.push(idle);
                } else {
                    kept.push_back(idle);
                }
            }
            *shard = kept;
        }
        state.size -= sweep.expired.len() + sweep.idle.len();
        if let Some(threshold) = self.config.leak_threshold {
            for (id, (since, reported)) in &mut state.held {
                let held = now.saturating_duration_since(*since);
                if held >= threshold && !*reported {
                    *reported = true;
                    sweep.leaks.push((*id, held));
                }
            }
        }
        let idle_after = self.idle_count() + sweep.keepalive.len();
        let room = (self.config.max_size).saturating_sub(state.size);
        // Places are reserved one at a time as objects are made (`reserve_spare`), so
        // a pass cut short leaks none.
        sweep.to_create = if self.closed.load(Ordering::Acquire) {
            0
        } else {
            self.config.min_idle.saturating_sub(idle_after).min(room)
        };
        sweep
    }

    pub(crate) fn leak(&self, id: u64, held: Duration) {
        self.listener.emit_with(|| PoolEvent::LeakSuspected {
            name: self.name.clone(),
            object: id,
            held,
        });
    }
}

/// What a maintenance pass took out of the idle queue.
pub(crate) struct Sweep<T> {
    pub(crate) expired: Vec<Idle<T>>,
    pub(crate) idle: Vec<Idle<T>>,
    pub(crate) keepalive: Vec<Idle<T>>,
    pub(crate) leaks: Vec<(u64, Duration)>,
    pub(crate) to_create: usize,
}

impl<M: Manager> Shared<M> {
    /// Whether the pool is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Reserves a place for an object the maintenance task makes, if the pool is open
    /// and below `max_size`.
    pub(crate) fn reserve_spare(&self) -> bool {
        let mut state = self.state.lock();
        if self.closed.load(Ordering::Acquire) || state.size >= self.config.max_size {
            return false;
        }
        state.size += 1;
        self.live.store(state.size, Ordering::Release);
        true
    }

    /// Makes an object in a place reserved by [`reserve_spare`](Self::reserve_spare).
    pub(crate) async fn create_for_min_idle(&self) {
        let reserved = Reserved {
            shared: self,
            armed: true,
        };
        let now = Instant::now();
        let made = tokio::time::timeout(self.config.create_timeout, self.manager.create()).await;
        match made {
            Ok(Ok(object)) => {
                let mut reserved = reserved;
                reserved.armed = false;
                let idle = self.made(object, now);
                let home = (idle.meta.id as usize) % self.shards.len();
                self.give_back(idle, home);
            }
            Ok(Err(error)) => {
                self.create_failed(Arc::new(error));
                drop(reserved);
            }
            Err(_) => {
                self.create_failed(Arc::new(CreateTimedOut(self.config.create_timeout)));
                drop(reserved);
            }
        }
    }
}

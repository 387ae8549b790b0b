//! Helpers shared by the pool's test files: a manager of numbered objects whose
//! behaviour each test steers, a base config, and a pool built from both.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy_pool::{Manager, Pool, PoolConfig};
use tokio::time::sleep;

pub(crate) const SEC: Duration = Duration::from_secs(1);

/// A manager of numbered objects whose behaviour tests steer.
#[derive(Clone, Default)]
pub(crate) struct Counter {
    pub(crate) made: Arc<AtomicU64>,
    pub(crate) fail_creates: Arc<AtomicU32>,
    pub(crate) create_takes: Arc<Mutex<Duration>>,
    pub(crate) recycled: Arc<AtomicU32>,
    pub(crate) recycle_takes: Arc<Mutex<Duration>>,
    pub(crate) fail_recycles: Arc<AtomicU32>,
    pub(crate) validated: Arc<AtomicU32>,
    pub(crate) invalid: Arc<AtomicU32>,
    pub(crate) destroyed: Arc<AtomicU32>,
}

/// Takes one from a count of failures still to come; whether one was due.
fn due(failures: &AtomicU32) -> bool {
    failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Sleeps as long as `takes` says (not at all for zero).
async fn take_time(takes: &Mutex<Duration>) {
    let takes = *takes.lock().expect("takes");
    if !takes.is_zero() {
        sleep(takes).await;
    }
}

impl Manager for Counter {
    type Object = u64;
    type Error = std::io::Error;

    async fn create(&self) -> Result<u64, std::io::Error> {
        take_time(&self.create_takes).await;
        if due(&self.fail_creates) {
            return Err(std::io::Error::other("database is starting"));
        }
        Ok(self.made.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn recycle(&self, _: &mut u64) -> Result<(), std::io::Error> {
        self.recycled.fetch_add(1, Ordering::SeqCst);
        take_time(&self.recycle_takes).await;
        if due(&self.fail_recycles) {
            return Err(std::io::Error::other("session broken"));
        }
        Ok(())
    }

    async fn is_valid(&self, _: &mut u64) -> Result<bool, std::io::Error> {
        self.validated.fetch_add(1, Ordering::SeqCst);
        Ok(!due(&self.invalid))
    }

    fn destroy(&self, _: u64) {
        self.destroyed.fetch_add(1, Ordering::SeqCst);
    }
}

pub(crate) fn config(max_size: usize) -> PoolConfig {
    PoolConfig {
        max_size,
        acquire_timeout: 5 * SEC,
        idle_timeout: None,
        max_lifetime: None,
        maintenance_every: SEC,
        ..PoolConfig::default()
    }
}

pub(crate) fn pool(manager: &Counter, config: PoolConfig) -> Pool<Counter> {
    Pool::builder("db", manager.clone())
        .config(config)
        .build()
        .expect("valid pool")
}

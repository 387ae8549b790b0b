//! The background task: idle timeouts, lifetimes, keepalives, leaks and `min_idle`.

use tokio::time::Instant;

use crate::pool::{Checking, SHARDS as SHARDS_HINT, Shared, WeakShared, bounded};
use crate::{DestroyReason, Manager};

/// Runs a pass every `maintenance_every` while the pool lives.
pub(crate) fn spawn<M: Manager>(pool: WeakShared<M>) {
    let Some(every) = pool.upgrade().map(|shared| shared.config.maintenance_every) else {
        return;
    };
    tokio::spawn(async move {
        // The first pass at once, to fill `min_idle`.
        loop {
            let Some(shared) = pool.upgrade() else {
                return;
            };
            if shared.is_closed() {
                return;
            }
            // Each pass on its own task: a manager that panics ends that pass (its
            // guards give back what it held), not the maintenance.
            let _ = tokio::spawn(async move { pass(&shared).await }).await;
            tokio::time::sleep(every).await;
        }
    });
}

/// One pass of maintenance.
pub(crate) async fn pass<M: Manager>(shared: &Shared<M>) {
    let now = Instant::now();
    let sweep = shared.sweep(now);
    for idle in sweep.expired {
        shared.destroy(idle.object, DestroyReason::Expired, false);
    }
    for idle in sweep.idle {
        shared.destroy(idle.object, DestroyReason::Idle, false);
    }
    for idle in sweep.keepalive {
        // Closed (its place given back) if the check fails, panics or is cancelled.
        let mut checking = Checking {
            shared,
            idle: Some(idle),
        };
        let Some(object) = checking.idle.as_mut().map(|idle| &mut idle.object) else {
            continue;
        };
        let valid = bounded(
            shared.config.recycle_timeout,
            shared.manager.is_valid(object),
        )
        .await;
        if matches!(valid, Some(Ok(true)))
            && let Some(idle) = checking.idle.take()
        {
            let home = (idle.meta.id as usize) % SHARDS_HINT;
            shared.give_back(idle, home);
        }
    }
    for (id, held) in sweep.leaks {
        shared.leak(id, held);
    }
    for _ in 0..sweep.to_create {
        if !shared.reserve_spare() {
            break;
        }
        shared.create_for_min_idle().await;
    }
    shared.refresh_gauges();
}

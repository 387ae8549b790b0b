//! The background task: idle timeouts, lifetimes, keepalives, leaks and `min_idle`.

use tokio::time::Instant;

use crate::pool::{SHARDS as SHARDS_HINT, Shared, WeakShared, bounded};
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
            pass(&shared).await;
            drop(shared);
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
    for mut idle in sweep.keepalive {
        let valid = bounded(
            shared.config.recycle_timeout,
            shared.manager.is_valid(&mut idle.object),
        )
        .await;
        if matches!(valid, Some(Ok(true))) {
            let home = (idle.meta.id as usize) % SHARDS_HINT;
            shared.give_back(idle, home);
        } else {
            shared.destroy(idle.object, DestroyReason::Invalid, true);
        }
    }
    for (id, held) in sweep.leaks {
        shared.leak(id, held);
    }
    for _ in 0..sweep.to_create {
        shared.create_for_min_idle().await;
    }
    shared.refresh_gauges();
}

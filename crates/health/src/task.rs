//! [`HealthTask`]: the background checker.

use tokio::sync::watch;
use tokio::task::JoinSet;

/// The background checker of a [`HealthRegistry`](crate::HealthRegistry); made by
/// [`HealthRegistry::start`](crate::HealthRegistry::start). Dropping it stops the
/// checks at once (a run under way is dropped); [`stop`](HealthTask::stop) lets the
/// runs under way finish first.
#[derive(Debug)]
#[must_use = "dropping the task stops the background checks"]
pub struct HealthTask {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl HealthTask {
    pub(crate) fn new(stop: watch::Sender<bool>, tasks: JoinSet<()>) -> Self {
        HealthTask { stop, tasks }
    }

    /// Stops checking: no new run starts, and the runs under way finish (each within
    /// its check's timeout) before this returns.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the task, which stops every check at once.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

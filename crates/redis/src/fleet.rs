//! [`Fleet`]: what a [`Redis`](crate::Redis) handle keeps for the breakers shared
//! through it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use hardy_breaker::{FleetChange, FleetLink};
use tokio::sync::mpsc;

/// What a handle keeps for the breakers shared through it.
pub(crate) struct Fleet {
    /// Every shared breaker built on the handle, by name.
    links: Mutex<HashMap<String, FleetLink>>,
    pub(crate) changes: mpsc::UnboundedSender<FleetChange>,
    /// Taken by the follower task when it starts.
    pub(crate) receiver: Mutex<Option<mpsc::UnboundedReceiver<FleetChange>>>,
}

impl Fleet {
    pub(crate) fn new() -> Self {
        let (changes, receiver) = mpsc::unbounded_channel();
        Fleet {
            links: Mutex::new(HashMap::new()),
            changes,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    pub(crate) fn links(&self) -> std::sync::MutexGuard<'_, HashMap<String, FleetLink>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

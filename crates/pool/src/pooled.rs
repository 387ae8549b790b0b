//! [`Pooled`]: a checked-out object.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::Manager;
use crate::pool::{Idle, Lane, Meta};

/// An object checked out of a [`Pool`](crate::Pool): derefs to it, and returns it to
/// the pool when dropped (closed instead if the holder panics, or if it was an overflow
/// object). [`take`](Pooled::take) detaches it for good.
#[must_use = "dropping it returns the object to the pool at once"]
pub struct Pooled<M: Manager> {
    object: Option<M::Object>,
    meta: Meta,
    lane: Arc<Lane<M>>,
}

impl<M: Manager> Pooled<M> {
    pub(crate) fn new(lane: Arc<Lane<M>>, idle: Idle<M::Object>) -> Self {
        Pooled {
            object: Some(idle.object),
            meta: idle.meta,
            lane,
        }
    }

    /// The object's id in its pool (as in leak reports).
    #[must_use]
    pub fn id(this: &Self) -> u64 {
        this.meta.id
    }

    /// Takes the object out of the pool for good: the pool forgets it and may make
    /// another in its place.
    #[must_use]
    pub fn take(mut this: Self) -> M::Object {
        let object = this
            .object
            .take()
            .expect("a pooled object is there until it is returned or taken");
        this.lane.shared.detached(this.meta);
        object
    }
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Object;

    fn deref(&self) -> &M::Object {
        self.object
            .as_ref()
            .expect("a pooled object is there until it is returned or taken")
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Object {
        self.object
            .as_mut()
            .expect("a pooled object is there until it is returned or taken")
    }
}

impl<M: Manager> Drop for Pooled<M> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            self.lane
                .shared
                .returned(object, self.meta, self.lane.shard);
        }
    }
}

impl<M: Manager> fmt::Debug for Pooled<M>
where
    M::Object: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("pool", &self.lane.shared.name)
            .field("id", &self.meta.id)
            .field("object", &self.object)
            .finish()
    }
}

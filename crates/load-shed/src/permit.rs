//! The slots a call holds: [`LoadShedPermit`] (public) and the services' and direct
//! calls' `CallPermit`, which measures the call as it frees its slot.

use std::fmt;

use hardy_core::admission::Hold;
use hardy_core::{Classify, Outcome};

use crate::LoadShedder;
use crate::state::Shared;
use crate::sync::Arc;

/// A held slot of a [`LoadShedder`]: the call it admits may run. Report how the call
/// went with [`success`](Self::success), [`failure`](Self::failure) or
/// [`record`](Self::record), which feeds an adaptive limit; dropping it unreported frees
/// the slot without a measurement (as for a cancelled call).
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct LoadShedPermit(CallPermit<Arc<Shared>>);

impl LoadShedPermit {
    #[inline(always)]
    pub(crate) fn new(shared: Arc<Shared>, client: u64) -> Self {
        LoadShedPermit(CallPermit::new(shared, client))
    }

    /// The call succeeded: frees the slot and measures the call.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// The call failed (a drop, for AIMD): frees the slot and measures the call.
    pub fn failure(self) {
        self.record(Outcome::RETRYABLE_FAILURE);
    }

    /// Frees the slot, measuring the call as `outcome` (an ignored outcome is not
    /// measured).
    pub fn record(mut self, outcome: Outcome) {
        self.0.finish(Some(outcome));
    }

    /// The same slot, held through `owner`: a service's own reference to the shedder, or
    /// a direct call's borrow.
    #[inline]
    pub(crate) fn into_call<O: Owner>(mut self, owner: O) -> CallPermit<O> {
        let slot = &mut self.0;
        // Let go of this permit's reference without freeing the slot.
        slot.owner = None;
        CallPermit {
            owner: Some(owner),
            start: slot.start,
            client: slot.client,
        }
    }
}

/// What keeps a shedder alive while a slot is held: a permit's reference to its
/// state, a service's own `Arc` of the shedder (so that services on different threads
/// do not contend on one reference count), or a direct call's borrow.
pub(crate) trait Owner {
    fn shared(&self) -> &Shared;
}

impl Owner for Arc<Shared> {
    #[inline(always)]
    fn shared(&self) -> &Shared {
        self
    }
}

impl Owner for std::sync::Arc<LoadShedder> {
    #[inline(always)]
    fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Owner for &LoadShedder {
    #[inline(always)]
    fn shared(&self) -> &Shared {
        &self.shared
    }
}

/// A held slot, kept alive by `O`; dropping it unreported frees the slot without a
/// measurement.
pub(crate) struct CallPermit<O: Owner = std::sync::Arc<LoadShedder>> {
    /// Taken when the slot is freed.
    owner: Option<O>,
    start: u64,
    /// The client's hash; zero: none.
    client: u64,
}

impl<O: Owner> CallPermit<O> {
    /// The permit of a slot just taken for `client` (zero: none).
    #[inline(always)]
    pub(crate) fn new(owner: O, client: u64) -> Self {
        let start = owner.shared().admitted();
        CallPermit {
            owner: Some(owner),
            start,
            client,
        }
    }

    /// Frees the slot, reporting a result as classified by `classifier`; the permit is
    /// spent.
    #[inline(always)]
    pub(crate) fn complete<C, T, E>(&mut self, classifier: &C, result: &Result<T, E>)
    where
        C: Classify<T, E>,
    {
        self.finish(Some(classifier.classify(result)));
    }

    #[inline(always)]
    fn finish(&mut self, outcome: Option<Outcome>) {
        if let Some(owner) = self.owner.take() {
            owner.shared().complete(self.start, self.client, outcome);
        }
    }
}

impl<O: Owner> Drop for CallPermit<O> {
    #[inline]
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl fmt::Debug for LoadShedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedPermit")
            .field("shedder", &self.0.owner.as_ref().map(|shared| &shared.name))
            .finish_non_exhaustive()
    }
}

/// A service call's slot with the classifier that judges its result: the slot is freed
/// and the call measured as soon as it ends.
pub(crate) struct Measured<C> {
    pub(crate) permit: CallPermit,
    pub(crate) classifier: C,
}

impl<C, T, E> Hold<Result<T, E>> for Measured<C>
where
    C: Classify<T, E>,
{
    #[inline(always)]
    fn finish(&mut self, output: &Result<T, E>) {
        self.permit.complete(&self.classifier, output);
    }

    #[inline(always)]
    fn is_finished(&self) -> bool {
        self.permit.owner.is_none()
    }
}

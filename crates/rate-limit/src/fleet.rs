//! The decision of a limiter shared through a [`RateStore`](crate::RateStore): from a
//! leased turn, from the store in one round trip, or, while the store fails, per the
//! limiter's [`Degrade`] setting.

use hardy_core::Rejection;
use hardy_core::admission::Admission;

use crate::limit::{Decision, wait_for};
use crate::limiter::{Core, OwnsCore};
use crate::store::{Degrade, Plan, Shared, Taken};
use crate::wait::Turn;

impl Core {
    /// The admission of a call on a shared limiter, for `key` (`None`: the limiter's
    /// one rate). `here` decides in the process, at this instance's share of the rate,
    /// should the store fail.
    #[cold]
    pub(crate) fn shared_admission<O, H>(&self, owner: O, key: Option<String>, here: H) -> Decision
    where
        O: OwnsCore,
        H: FnOnce(&O) -> Decision + Send + 'static,
    {
        let shared = self.shared();
        match shared.plan(key.as_deref().unwrap_or(""), self.now()) {
            Plan::Leased => {
                self.admitted_now();
                Admission::Now(())
            }
            plan => Admission::Later(Turn::deciding(Box::pin(decide(owner, key, plan, here)))),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        self.shared
            .as_ref()
            .expect("only a shared limiter asks a store")
    }
}

/// Decides a call on a shared limiter per `plan`: counted once, whichever way it goes.
async fn decide<O, H>(owner: O, key: Option<String>, plan: Plan, here: H) -> Result<(), Rejection>
where
    O: OwnsCore,
    H: FnOnce(&O) -> Decision,
{
    let core = owner.core();
    let shared = core.shared();
    let stock = key.as_deref().unwrap_or("").to_owned();
    let mut plan = plan;
    let (want, refill) = loop {
        match plan {
            Plan::Leased => {
                core.admitted_now();
                return Ok(());
            }
            Plan::Ask { want, refill } => break (want, refill),
            Plan::AfterRefill {
                mut receiver,
                round,
            } => {
                // Another call is fetching a lease for this key: its turns, if any are
                // left once it comes, save this call a round trip.
                let came = match receiver.wait_for(Option::is_some).await {
                    Ok(came) => *came == Some(true),
                    Err(_) => false,
                };
                if !came {
                    // The store has just failed that call: decide without it.
                    shared.gave_up_waiting(&stock);
                    return degrade(core, &owner, here).await;
                }
                plan = shared.after_refill(&stock, core.now(), round);
            }
        }
    };
    let taken = shared.take(shared.request(&core.name, key, want)).await;
    let taken = match taken {
        Ok(taken) => taken,
        Err(error) => {
            if shared.failed() {
                core.store_failed(&error, shared.degrade);
            }
            drop(refill);
            return degrade(core, &owner, here).await;
        }
    };
    if shared.succeeded() {
        core.store_recovered();
    }
    match taken {
        Taken::Now { granted } => {
            shared.restock(&stock, granted.saturating_sub(1), core.now());
            if let Some(refill) = refill {
                refill.finish(true);
            }
            core.admitted_now();
            Ok(())
        }
        Taken::After(wait) => {
            if let Some(refill) = refill {
                refill.finish(true);
            }
            core.counts_wait(wait);
            tokio::time::sleep(wait).await;
            Ok(())
        }
        Taken::Refused(retry_after) => {
            if let Some(refill) = refill {
                refill.finish(true);
            }
            Err(core.refuse(retry_after))
        }
    }
}

/// Decides a call while the store fails, per the limiter's [`Degrade`] setting.
async fn degrade<O, H>(core: &Core, owner: &O, here: H) -> Result<(), Rejection>
where
    H: FnOnce(&O) -> Decision,
{
    match core.shared().degrade {
        Degrade::Local => wait_for(here(owner)).await,
        Degrade::Allow => {
            core.admitted_now();
            Ok(())
        }
        Degrade::Refuse => Err(core.refuse(core.config.period / core.config.limit)),
    }
}

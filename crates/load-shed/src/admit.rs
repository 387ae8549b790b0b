//! How a load shedder decides each call, in the order its stages apply: probabilistic
//! shedding, fair shares, the limit of the call's priority, then the queue.

use std::time::Duration;

use hardy_core::ShedReason;
use hardy_core::admission::Admission;

use crate::extract::CallInfo;
use crate::permit::LoadShedPermit;
use crate::state::{Queued, Shared};
use crate::sync::{Arc, Ordering};
use crate::wait::Waiting;

/// What [`admit`] decided: a permit now, a wait in the queue, or shed.
pub(crate) type ShedAdmission = Admission<LoadShedPermit, Box<Waiting>>;

/// Admits or sheds a call with `info`, queueing it if the shedder has a queue.
#[inline(always)]
pub(crate) fn admit(shared: &Arc<Shared>, info: CallInfo) -> ShedAdmission {
    admit_with(shared, info, true)
}

/// The fast path alone: whether a slot was taken because no probabilistic stage or
/// fair share applies and the call is below its threshold; `false` means "take the
/// full path". The caller makes the slot's permit
/// (`CallPermit::new` with no client).
#[inline(always)]
pub(crate) fn admit_fast(shared: &Shared, info: &CallInfo) -> bool {
    if shared.probabilistic.load(Ordering::Relaxed)
        || (info.client_id() != 0 && shared.fair.is_some())
    {
        return false;
    }
    let level = shared.level(info.get_priority());
    shared.gate.try_admit(level)
}

#[inline(always)]
pub(crate) fn admit_with(shared: &Arc<Shared>, info: CallInfo, may_wait: bool) -> ShedAdmission {
    let level = shared.level(info.get_priority());
    let client = info.client_id();
    if shared.probabilistic.load(Ordering::Relaxed)
        && !(level == 0 && shared.gate.levels() > 1)
        && shared.draw_shed()
    {
        return Admission::Refused(shared.shed(ShedReason::Probabilistic, level));
    }
    let client = match &shared.fair {
        Some(fair) if client != 0 => {
            if !fair.enter(client, shared.gate.in_flight(), shared.limit()) {
                return Admission::Refused(shared.shed(ShedReason::Fairness, level));
            }
            client
        }
        _ => 0,
    };
    if shared.gate.try_admit(level) {
        return Admission::Now(LoadShedPermit::new(Arc::clone(shared), client));
    }
    admit_slowly(shared, level, client, may_wait)
}

#[cold]
fn admit_slowly(shared: &Arc<Shared>, level: u8, client: u64, may_wait: bool) -> ShedAdmission {
    if may_wait {
        match shared.enqueue(level, shared.now()) {
            Queued::Admitted => {
                return Admission::Now(LoadShedPermit::new(Arc::clone(shared), client));
            }
            Queued::Waiting(waiter, wait) => {
                return Admission::Later(Box::new(Waiting::new(
                    Arc::clone(shared),
                    waiter,
                    Duration::from_nanos(wait),
                    level,
                    client,
                )));
            }
            Queued::Full => {}
        }
    }
    shared.leave(client);
    let reason = if shared.gate.in_flight() < shared.limit() && level > 0 {
        ShedReason::Priority
    } else {
        ShedReason::Overload
    };
    Admission::Refused(shared.shed(reason, level))
}

//! What a [`LoadShedder`](crate::LoadShedder)'s handles and calls share: the admission
//! gate, the limit's sampler, the shedding stages, counts and metrics.

use std::time::Duration;

use hardy_core::admission::{Enqueued, Gate, Waiter};
use hardy_core::{Listener, Name, Outcome, Rejection, ShedReason};
use metrics::{Counter, Gauge, Histogram};
use tokio::time::Instant;

use crate::LoadShedEvent;
use crate::extract::Priority;
use crate::limit::{Step, nanos};
use crate::sampler::{Closed, Sampler};
use crate::stages::{Fair, Throttle};
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering};
use crate::{
    METRIC_CALLS, METRIC_IN_FLIGHT, METRIC_LIMIT, METRIC_MIN_RTT, METRIC_RTT, METRIC_SHED,
};

pub(crate) const REASONS: [ShedReason; 6] = [
    ShedReason::Overload,
    ShedReason::Priority,
    ShedReason::Fairness,
    ShedReason::QueueDelay,
    ShedReason::Probabilistic,
    ShedReason::NotReady,
];

pub(crate) fn reason_index(reason: ShedReason) -> usize {
    REASONS
        .iter()
        .position(|known| *known == reason)
        .unwrap_or(0)
}

/// The threshold of each priority under `limit`: the limit for priority 0, and
/// `1 − reserve` of the one above for each next level, at least one call.
pub(crate) fn thresholds(limit: u32, reserve: f64, levels: u8) -> impl Iterator<Item = u32> {
    (0..levels).map(move |level| {
        let share = (1.0 - reserve).powi(i32::from(level));
        ((f64::from(limit) * share).floor() as u32).max(1)
    })
}

/// The wait queue's settings: most waiters, and the CoDel target and interval
/// (nanoseconds): a call waits up to the interval, or the target while the queue stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub(crate) max_waiting: u32,
    pub(crate) target: u64,
    pub(crate) interval: u64,
}

/// What [`Shared::enqueue`] did.
pub(crate) enum Queued {
    /// A slot was free after all: taken.
    Admitted,
    /// Queued: wait on the waiter for at most this long (nanoseconds).
    Waiting(Arc<Waiter>, u64),
    /// No queue, or a full one.
    Full,
}

pub(crate) struct Shared {
    pub(crate) name: Name,
    pub(crate) gate: Gate,
    /// Each level's share of the one above is `1 − reserve`.
    pub(crate) reserve: f64,
    pub(crate) queue: Option<QueueLimits>,
    pub(crate) epoch: Instant,
    pub(crate) bounds: (u32, u32),
    pub(crate) sampler: Option<Sampler>,
    pub(crate) fair: Option<Fair>,
    pub(crate) throttle: Option<Throttle>,
    /// Whether a probabilistic stage is on (`shed_rate` above zero, or throttling).
    pub(crate) probabilistic: AtomicBool,
    pub(crate) shed_rate: AtomicU64,
    pub(crate) rng: crate::rng::Rng,
    pub(crate) shed: [AtomicU64; REASONS.len()],
    pub(crate) listener: Listener<LoadShedEvent>,
    pub(crate) metrics: Metrics,
}

pub(crate) struct Metrics {
    pub(crate) admitted: Counter,
    pub(crate) shed_total: Counter,
    pub(crate) shed: Vec<[Counter; REASONS.len()]>,
    pub(crate) limit: Gauge,
    pub(crate) in_flight: Gauge,
    pub(crate) rtt: Histogram,
    pub(crate) min_rtt: Gauge,
}

impl Metrics {
    pub(crate) fn register(name: &Name, levels: u8) -> Self {
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls through a load shedder, by outcome"
        );
        metrics::describe_counter!(
            METRIC_SHED,
            metrics::Unit::Count,
            "Calls shed, by reason and priority"
        );
        metrics::describe_gauge!(METRIC_LIMIT, "A load shedder's concurrency limit");
        metrics::describe_gauge!(METRIC_IN_FLIGHT, "Calls running through a load shedder");
        metrics::describe_histogram!(
            METRIC_RTT,
            metrics::Unit::Seconds,
            "Mean latency of each window of calls through a load shedder"
        );
        metrics::describe_gauge!(
            METRIC_MIN_RTT,
            metrics::Unit::Seconds,
            "Minimum latency measured by a gradient load shedder"
        );
        let label = name.to_string();
        let shed = (0..levels)
            .map(|level| {
                REASONS.map(|reason| {
                    metrics::counter!(
                        METRIC_SHED,
                        "name" => label.clone(),
                        "reason" => reason.as_str(),
                        "priority" => level.to_string(),
                    )
                })
            })
            .collect();
        Metrics {
            shed_total: metrics::counter!(METRIC_CALLS, "name" => label.clone(), "outcome" => "shed"),
            admitted: metrics::counter!(METRIC_CALLS, "name" => label.clone(), "outcome" => "admitted"),
            shed,
            limit: metrics::gauge!(METRIC_LIMIT, "name" => label.clone()),
            in_flight: metrics::gauge!(METRIC_IN_FLIGHT, "name" => label.clone()),
            rtt: metrics::histogram!(METRIC_RTT, "name" => label.clone()),
            min_rtt: metrics::gauge!(METRIC_MIN_RTT, "name" => label),
        }
    }
}

impl Shared {
    /// The level a call of `priority` is admitted at: its own, or the last level for a
    /// priority beyond it.
    #[inline(always)]
    pub(crate) fn level(&self, priority: Priority) -> u8 {
        priority.level().min(self.gate.levels() - 1)
    }

    /// The limit now: priority 0's threshold.
    pub(crate) fn limit(&self) -> u32 {
        self.gate.threshold(0)
    }

    /// Sets the limit (and every threshold from it), then grants waiters that now fit.
    pub(crate) fn set_limit(&self, limit: u32, now: impl FnOnce() -> u64) {
        self.gate
            .set_thresholds(thresholds(limit, self.reserve, self.gate.levels()), now);
    }

    /// Joins the queue at `level`, if there is one, at `now`.
    pub(crate) fn enqueue(&self, level: u8, now: u64) -> Queued {
        let Some(limits) = &self.queue else {
            return Queued::Full;
        };
        match self.gate.enqueue(level, limits.max_waiting, now) {
            Enqueued::Admitted => Queued::Admitted,
            Enqueued::Waiting { waiter, standing } => {
                let wait = if standing {
                    limits.target
                } else {
                    limits.interval
                };
                Queued::Waiting(waiter, wait)
            }
            Enqueued::Full => Queued::Full,
        }
    }

    /// Nanoseconds since the shedder was built, on Tokio's clock.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    /// Counts a call of `client` (zero: none) out of the fair shares.
    #[inline]
    pub(crate) fn leave(&self, client: u64) {
        if client != 0
            && let Some(fair) = &self.fair
        {
            fair.leave(client);
        }
    }

    pub(crate) fn draw_shed(&self) -> bool {
        let rate = f64::from_bits(self.shed_rate.load(Ordering::Relaxed));
        if rate > 0.0 && self.rng.next_unit() < rate {
            return true;
        }
        match &self.throttle {
            Some(throttle) => throttle.request(self.now(), self.rng.next_unit()),
            None => false,
        }
    }

    /// Counts, reports and builds the rejection of a call shed at `level`.
    #[cold]
    pub(crate) fn shed(&self, reason: ShedReason, level: u8) -> Rejection {
        self.shed[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
        self.metrics.shed_total.increment(1);
        self.metrics.shed[usize::from(level)][reason_index(reason)].increment(1);
        self.listener.emit_with(|| LoadShedEvent::Shed {
            name: self.name.clone(),
            reason,
            priority: Priority(level),
            in_flight: self.gate.in_flight(),
            limit: self.limit(),
        });
        let retry_after = match reason {
            ShedReason::Probabilistic => None,
            _ => self
                .sampler
                .as_ref()
                .and_then(Sampler::rtt)
                .map(Duration::from_nanos),
        };
        Rejection::Shed {
            name: self.name.clone(),
            reason,
            retry_after,
        }
    }

    /// A call was admitted: counts it and, with an adaptive limit, reads its start.
    #[inline(always)]
    pub(crate) fn admitted(&self) -> u64 {
        self.metrics.admitted.increment(1);
        self.metrics.in_flight.increment(1.0);
        if self.sampler.is_some() {
            self.now()
        } else {
            0
        }
    }

    /// A call admitted at `start` ended with `outcome` (none: cancelled or panicked).
    #[inline(always)]
    pub(crate) fn complete(&self, start: u64, client: u64, outcome: Option<Outcome>) {
        self.metrics.in_flight.decrement(1.0);
        if client != 0 || self.sampler.is_some() || self.throttle.is_some() {
            return self.complete_measured(start, client, outcome);
        }
        self.gate.release(|| self.now());
    }

    /// [`complete`](Self::complete) with fair shares, throttling or an adaptive limit.
    #[inline(never)]
    fn complete_measured(&self, start: u64, client: u64, outcome: Option<Outcome>) {
        self.leave(client);
        let Some(outcome) = outcome else {
            self.gate.release(|| self.now());
            return;
        };
        let now = if self.sampler.is_some() || self.throttle.is_some() {
            self.now()
        } else {
            0
        };
        if let Some(throttle) = &self.throttle
            && !outcome.is_failure()
        {
            throttle.accept(now);
        }
        let in_flight = self.gate.release(|| now);
        if let Some(sampler) = &self.sampler
            && !outcome.is_ignored()
            && let Some(closed) = sampler.record(start, now, in_flight, outcome.is_failure())
        {
            self.window_closed(closed, now);
        }
    }

    #[cold]
    fn window_closed(&self, closed: Closed, now: u64) {
        self.metrics.rtt.record(closed.rtt / 1e9);
        match closed.step {
            Step::ProbeStarted => self.listener.emit_with(|| LoadShedEvent::ProbeStarted {
                name: self.name.clone(),
            }),
            Step::ProbeFinished(min_rtt) => {
                self.metrics.min_rtt.set(min_rtt / 1e9);
                self.listener.emit_with(|| LoadShedEvent::ProbeFinished {
                    name: self.name.clone(),
                    min_rtt: Duration::from_nanos(min_rtt as u64),
                });
            }
            Step::Unchanged | Step::Updated => {}
        }
        let rtt = Some(Duration::from_nanos(closed.rtt as u64));
        self.publish_at(closed.limit, rtt, now);
    }

    pub(crate) fn publish(&self, limit: u32, rtt: Option<Duration>) {
        let now = self.now();
        self.publish_at(limit, rtt, now);
    }

    fn publish_at(&self, limit: u32, rtt: Option<Duration>, now: u64) {
        let from = self.limit();
        if from == limit {
            return;
        }
        self.set_limit(limit, || now);
        self.metrics.limit.set(f64::from(limit));
        self.listener.emit_with(|| LoadShedEvent::LimitChanged {
            name: self.name.clone(),
            from,
            to: limit,
            rtt,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_step_down_by_the_reserve() {
        assert_eq!(
            thresholds(100, 0.2, 4).collect::<Vec<_>>(),
            [100, 80, 64, 51]
        );
        assert_eq!(thresholds(2, 0.5, 3).collect::<Vec<_>>(), [2, 1, 1]);
        assert_eq!(thresholds(7, 0.0, 2).collect::<Vec<_>>(), [7, 7]);
    }
}

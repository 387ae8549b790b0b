//! What a fallback's handles and calls share: the answer, the classifier, counters
//! per cause and the listener.

use std::sync::atomic::{AtomicU64, Ordering};

use hardy_core::{Listener, Name, Outcome};
use metrics::Counter;

use crate::{ByCauseCounts, Cause, FallbackEvent};

/// When a result calls for a fallback: a classified failure, or an error the
/// classifier ignores (a rejection, for the default classifier).
pub(crate) fn cause_of(outcome: Outcome, is_err: bool) -> Option<Cause> {
    match outcome {
        Outcome::Success => None,
        Outcome::Failure(_) => Some(Cause::Failure),
        Outcome::Ignore(_) => is_err.then_some(Cause::Refused),
    }
}

/// Counters per cause: the metrics, and the totals kept in the process.
#[derive(Debug)]
pub(crate) struct ByCause {
    failure: Counter,
    refused: Counter,
    totals: [AtomicU64; 2],
}

impl ByCause {
    pub(crate) fn register(
        metric: &'static str,
        name: &Name,
        extra: &[(&'static str, &'static str)],
    ) -> Self {
        let counter = |cause: &'static str| {
            let mut labels = vec![("name", name.to_string()), ("cause", cause.to_string())];
            labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
            metrics::counter!(metric, &labels)
        };
        ByCause {
            failure: counter("failure"),
            refused: counter("refused"),
            totals: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Counts one for `cause`.
    pub(crate) fn add(&self, cause: Cause) {
        let (counter, total) = match cause {
            Cause::Failure => (&self.failure, &self.totals[0]),
            Cause::Refused => (&self.refused, &self.totals[1]),
        };
        counter.increment(1);
        total.fetch_add(1, Ordering::Relaxed);
    }

    /// The totals so far.
    pub(crate) fn counts(&self) -> ByCauseCounts {
        ByCauseCounts {
            failure: self.totals[0].load(Ordering::Relaxed),
            refused: self.totals[1].load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct Shared<A, C> {
    pub(crate) name: Name,
    pub(crate) action: A,
    pub(crate) classifier: C,
    pub(crate) listener: Listener<FallbackEvent>,
    pub(crate) used: ByCause,
}

impl<A, C> Shared<A, C> {
    /// Counts and reports a fallback used for `cause`.
    pub(crate) fn used(&self, cause: Cause) {
        self.used.add(cause);
        self.listener.emit_with(|| FallbackEvent::Used {
            name: self.name.clone(),
            cause,
        });
    }
}

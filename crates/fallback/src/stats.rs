//! [`FallbackStats`] and [`LastKnownGoodStats`]: what a fallback has answered since it
//! was built.

use hardy_core::Name;

use crate::Cause;

/// Counts by [`Cause`]: failures of the call, or refusals by a layer below.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByCauseCounts {
    /// For calls that failed.
    pub failure: u64,
    /// For calls refused by a layer below (a `Rejection`).
    pub refused: u64,
}

impl ByCauseCounts {
    /// Both causes together.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.failure + self.refused
    }

    /// The count for one cause.
    #[must_use]
    pub fn get(&self, cause: Cause) -> u64 {
        match cause {
            Cause::Failure => self.failure,
            Cause::Refused => self.refused,
        }
    }
}

/// Running totals of a [`Fallback`](crate::Fallback) since it was built, kept in the
/// process whether or not a `metrics` recorder is installed; made by
/// [`Fallback::stats`](crate::Fallback::stats). Each total only grows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FallbackStats {
    /// The fallback's name.
    pub name: Name,
    /// Calls the fallback answered, by cause.
    pub used: ByCauseCounts,
}

/// Running totals of a [`LastKnownGood`](crate::LastKnownGood) since it was built,
/// kept in the process whether or not a `metrics` recorder is installed; made by
/// [`LastKnownGood::stats`](crate::LastKnownGood::stats). Each total only grows, but
/// `entries`, which is the count now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastKnownGoodStats {
    /// The store's name.
    pub name: Name,
    /// Calls answered with a stored value fresh enough, by cause.
    pub served_stale: ByCauseCounts,
    /// Calls that found no value fresh enough, by cause.
    pub none_fresh: ByCauseCounts,
    /// Values stored now.
    pub entries: usize,
}

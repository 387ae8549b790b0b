//! [`Judge`]: turns a check's runs into its status, with the thresholds.

use crate::Status;

/// A check's status and its runs in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Judge {
    pub(crate) status: Status,
    pub(crate) failures: u32,
    pub(crate) successes: u32,
}

impl Default for Judge {
    fn default() -> Self {
        Judge {
            status: Status::Unknown,
            failures: 0,
            successes: 0,
        }
    }
}

impl Judge {
    /// Takes the result of one run: `failure_threshold` failures in a row make the
    /// check unhealthy; a serving result (healthy or degraded) is taken at once by a
    /// serving check, and after `success_threshold` in a row by an unhealthy or unknown
    /// one. Returns the status before.
    pub(crate) fn take(
        &mut self,
        found: Status,
        failure_threshold: u32,
        success_threshold: u32,
    ) -> Status {
        let before = self.status;
        if found.is_serving() {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if before.is_serving() || self.successes >= success_threshold {
                self.status = found;
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.failures >= failure_threshold {
                self.status = Status::Unhealthy;
            }
        }
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn failures_must_come_in_a_row() {
        let mut judge = Judge::default();
        judge.take(Status::Healthy, 3, 1);
        assert_eq!(judge.status, Status::Healthy);
        judge.take(Status::Unhealthy, 3, 1);
        judge.take(Status::Unhealthy, 3, 1);
        assert_eq!(judge.status, Status::Healthy, "two failures: still healthy");
        judge.take(Status::Healthy, 3, 1);
        judge.take(Status::Unhealthy, 3, 1);
        judge.take(Status::Unhealthy, 3, 1);
        assert_eq!(judge.status, Status::Healthy, "the run was broken");
        judge.take(Status::Unhealthy, 3, 1);
        assert_eq!(judge.status, Status::Unhealthy);
    }

    #[test]
    fn recovery_takes_successes_in_a_row() {
        let mut judge = Judge {
            status: Status::Unhealthy,
            failures: 3,
            successes: 0,
        };
        judge.take(Status::Healthy, 3, 2);
        assert_eq!(judge.status, Status::Unhealthy);
        judge.take(Status::Degraded, 3, 2);
        assert_eq!(judge.status, Status::Degraded, "degraded counts as serving");
        judge.take(Status::Healthy, 3, 2);
        assert_eq!(
            judge.status,
            Status::Healthy,
            "a serving check follows at once"
        );
    }

    #[test]
    fn unknown_until_judged() {
        let mut judge = Judge::default();
        judge.take(Status::Unhealthy, 2, 1);
        assert_eq!(judge.status, Status::Unknown);
        judge.take(Status::Unhealthy, 2, 1);
        assert_eq!(judge.status, Status::Unhealthy);
    }

    fn status() -> impl Strategy<Value = Status> {
        prop_oneof![
            Just(Status::Healthy),
            Just(Status::Degraded),
            Just(Status::Unhealthy)
        ]
    }

    proptest! {
        /// The status is unhealthy exactly when the last `failure_threshold` runs
        /// failed, or when it was and not enough successes have come since; it is never
        /// serving right after a failure run of the threshold's length.
        #[test]
        fn the_status_follows_the_thresholds(
            failure_threshold in 1u32..5,
            success_threshold in 1u32..5,
            runs in proptest::collection::vec(status(), 1..60),
        ) {
            let mut judge = Judge::default();
            for (i, found) in runs.iter().enumerate() {
                judge.take(*found, failure_threshold, success_threshold);
                let tail_failures = runs[..=i].iter().rev().take_while(|s| !s.is_serving()).count() as u32;
                let tail_successes = runs[..=i].iter().rev().take_while(|s| s.is_serving()).count() as u32;
                prop_assert_eq!(judge.failures, tail_failures);
                prop_assert_eq!(judge.successes, tail_successes);
                if tail_failures >= failure_threshold {
                    prop_assert_eq!(judge.status, Status::Unhealthy);
                }
                if judge.status.is_serving() {
                    prop_assert!(tail_failures < failure_threshold);
                }
                if found.is_serving() && judge.status.is_serving() {
                    prop_assert_eq!(judge.status, *found, "a serving check shows the last result");
                }
                if !judge.status.is_serving() && found.is_serving() {
                    prop_assert!(tail_successes < success_threshold);
                }
            }
        }
    }
}

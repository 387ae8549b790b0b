//! [`Deadline`]: a caller's overall time budget, and how a service finds it.

use std::time::Duration;

use tokio::time::Instant;

/// Thirty years: how far "never" is when a duration is too long to add to the clock.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A point in time by which the caller needs an answer: an outer budget that caps every
/// timeout beneath it.
///
/// A timeout given a deadline fires at whichever comes first, its own limit or the
/// deadline; a call whose deadline has already passed is refused at once, without
/// running. A deadline is attached explicitly ([`Timeout::call_until`]) or carried by
/// the request and found by an [`ExtractDeadline`] (a closure, or
/// [`FromExtensions`] for `http::Request`s with the `http` feature).
///
/// Deadlines use `tokio::time::Instant`, so they follow paused test time.
///
/// [`Timeout::call_until`]: crate::Timeout::call_until
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_timeout::Deadline;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let deadline = Deadline::after(Duration::from_secs(10));
/// tokio::time::advance(Duration::from_secs(4)).await;
/// assert_eq!(deadline.remaining(), Duration::from_secs(6));
/// assert_eq!(deadline.cap(Duration::from_secs(30)), Duration::from_secs(6));
/// assert_eq!(deadline.cap(Duration::from_secs(1)), Duration::from_secs(1));
/// assert!(!deadline.is_expired());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline at `instant`.
    #[must_use]
    pub fn at(instant: Instant) -> Self {
        Deadline { at: instant }
    }

    /// A deadline `budget` from now. A budget too large to add to the clock gives a
    /// deadline thirty years away.
    ///
    /// # Panics
    ///
    /// Panics if called from outside a Tokio runtime while Tokio's `test-util` clock is
    /// paused, as `tokio::time::Instant::now` does.
    #[must_use]
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Deadline {
            at: now
                .checked_add(budget)
                .or_else(|| now.checked_add(FAR_FUTURE))
                .unwrap_or(now),
        }
    }

    /// The instant of the deadline.
    #[must_use]
    pub fn instant(self) -> Instant {
        self.at
    }

    /// The time left until the deadline; zero once it has passed.
    #[must_use]
    pub fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has been reached.
    #[must_use]
    pub fn is_expired(self) -> bool {
        Instant::now() >= self.at
    }

    /// The smaller of `timeout` and the time left: the limit a call may have under this
    /// deadline.
    #[must_use]
    pub fn cap(self, timeout: Duration) -> Duration {
        timeout.min(self.remaining())
    }

    /// The earlier of two deadlines.
    #[must_use]
    pub fn earliest(self, other: Deadline) -> Deadline {
        self.min(other)
    }
}

impl From<Instant> for Deadline {
    fn from(instant: Instant) -> Self {
        Deadline::at(instant)
    }
}

/// Finds the caller's [`Deadline`] in a request, for a [`TimeoutService`].
///
/// Implemented by [`NoDeadline`] (the default: requests carry none), by closures
/// `Fn(&Req) -> Option<Deadline>`, and, with the `http` feature, by [`FromExtensions`].
///
/// [`TimeoutService`]: crate::TimeoutService
///
/// # Examples
///
/// ```
/// use hardy_timeout::{Deadline, ExtractDeadline};
///
/// struct Read {
///     sensor: u8,
///     deadline: Option<Deadline>,
/// }
///
/// let from_field = |read: &Read| read.deadline;
/// assert!(from_field.deadline(&Read { sensor: 1, deadline: None }).is_none());
/// ```
pub trait ExtractDeadline<Req> {
    /// The deadline `request` carries, if any.
    fn deadline(&self, request: &Req) -> Option<Deadline>;
}

/// Requests carry no deadline: the [`ExtractDeadline`] a [`TimeoutLayer`] starts with.
/// It costs nothing.
///
/// [`TimeoutLayer`]: crate::TimeoutLayer
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoDeadline;

impl<Req> ExtractDeadline<Req> for NoDeadline {
    #[inline]
    fn deadline(&self, _: &Req) -> Option<Deadline> {
        None
    }
}

impl<Req, F> ExtractDeadline<Req> for F
where
    F: Fn(&Req) -> Option<Deadline>,
{
    #[inline]
    fn deadline(&self, request: &Req) -> Option<Deadline> {
        self(request)
    }
}

/// Reads the [`Deadline`] an `http::Request` carries in its extensions.
///
/// Insert the deadline where the request is made, or in an outer middleware:
/// `request.extensions_mut().insert(Deadline::after(budget))`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_timeout::{Deadline, ExtractDeadline, FromExtensions};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut request = http::Request::new(());
/// assert!(FromExtensions.deadline(&request).is_none());
/// let deadline = Deadline::after(Duration::from_millis(800));
/// request.extensions_mut().insert(deadline);
/// assert_eq!(FromExtensions.deadline(&request), Some(deadline));
/// # }
/// ```
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FromExtensions;

#[cfg(feature = "http")]
impl<B> ExtractDeadline<http::Request<B>> for FromExtensions {
    #[inline]
    fn deadline(&self, request: &http::Request<B>) -> Option<Deadline> {
        request.extensions().get::<Deadline>().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_down_to_zero_and_stays_there() {
        let deadline = Deadline::after(Duration::from_secs(2));
        assert_eq!(deadline.remaining(), Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(deadline.is_expired());
        assert_eq!(deadline.remaining(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert_eq!(deadline.cap(Duration::from_secs(5)), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_budget_does_not_overflow() {
        let deadline = Deadline::after(Duration::MAX);
        assert!(deadline.remaining() >= FAR_FUTURE - Duration::from_secs(1));
        assert!(!deadline.is_expired());
    }

    #[tokio::test(start_paused = true)]
    async fn earliest_picks_the_nearer() {
        let near = Deadline::after(Duration::from_secs(1));
        let far = Deadline::after(Duration::from_secs(9));
        assert_eq!(near.earliest(far), near);
        assert_eq!(far.earliest(near), near);
    }
}

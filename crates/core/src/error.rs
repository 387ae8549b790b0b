//! [`Error`]: the inner error or a rejection; [`AsRejection`]: find the rejection inside.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt;

use crate::Rejection;

/// The error of a direct Hardy call: the operation's own error, or a [`Rejection`] from
/// the Hardy handle that ran it.
///
/// `Error<E>` is `From<Rejection>`, so it can also be the error type of a tower service
/// inside a Hardy stack. It is transparent: its `Display` and
/// [`source`](std::error::Error::source) are those of the error it holds.
///
/// # Examples
///
/// ```
/// use hardy_core::{Error, Name, Rejection};
///
/// let refused: Error<std::io::Error> = Rejection::RetryBudgetExhausted {
///     name: Name::from("db"),
/// }
/// .into();
/// assert!(refused.is_rejected());
/// assert_eq!(refused.to_string(), "retry budget \"db\" exhausted");
///
/// let failed: Error<&str> = Error::Inner("sensor unplugged");
/// assert_eq!(failed.into_inner(), Some("sensor unplugged"));
/// ```
#[derive(Debug, Clone)]
pub enum Error<E> {
    /// The operation ran and failed with its own error.
    Inner(E),
    /// A Hardy handle refused the call or gave up on it.
    Rejected(Rejection),
}

impl<E> Error<E> {
    /// Whether a Hardy handle refused the call.
    #[must_use]
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// Whether the operation itself failed.
    #[must_use]
    pub fn is_inner(&self) -> bool {
        matches!(self, Error::Inner(_))
    }

    /// The rejection, if a Hardy handle refused the call.
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            Error::Inner(_) => None,
        }
    }

    /// The operation's own error, if it ran and failed.
    #[must_use]
    pub fn inner(&self) -> Option<&E> {
        match self {
            Error::Inner(error) => Some(error),
            Error::Rejected(_) => None,
        }
    }

    /// Takes the operation's own error, if it ran and failed.
    #[must_use]
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(error) => Some(error),
            Error::Rejected(_) => None,
        }
    }

    /// Takes the rejection, if a Hardy handle refused the call.
    #[must_use]
    pub fn into_rejection(self) -> Option<Rejection> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            Error::Inner(_) => None,
        }
    }

    /// Maps the operation's own error, keeping a rejection as it is.
    pub fn map_inner<F, E2>(self, f: F) -> Error<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            Error::Inner(error) => Error::Inner(f(error)),
            Error::Rejected(rejection) => Error::Rejected(rejection),
        }
    }

    /// Converts into any error type that can hold both the operation's error and a
    /// rejection, such as `tower::BoxError` or a user's own error enum.
    pub fn into_error<T>(self) -> T
    where
        T: From<E> + From<Rejection>,
    {
        match self {
            Error::Inner(error) => T::from(error),
            Error::Rejected(rejection) => T::from(rejection),
        }
    }
}

impl<E> Error<Error<E>> {
    /// Flattens the error of nested direct calls (`breaker.call(|| timeout.call(..))`)
    /// into one level.
    ///
    /// ```
    /// use hardy_core::{Error, Name, Rejection};
    ///
    /// let nested: Error<Error<&str>> = Error::Inner(Error::Inner("boom"));
    /// assert_eq!(nested.flatten().into_inner(), Some("boom"));
    /// ```
    #[must_use]
    pub fn flatten(self) -> Error<E> {
        match self {
            Error::Inner(inner) => inner,
            Error::Rejected(rejection) => Error::Rejected(rejection),
        }
    }
}

impl<E> From<Rejection> for Error<E> {
    fn from(rejection: Rejection) -> Self {
        Error::Rejected(rejection)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Inner(error) => fmt::Display::fmt(error, f),
            Error::Rejected(rejection) => fmt::Display::fmt(rejection, f),
        }
    }
}

impl<E: StdError + 'static> StdError for Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Inner(error) => error.source(),
            Error::Rejected(rejection) => rejection.source(),
        }
    }
}

/// Finds a [`Rejection`] inside an error, so that a layer can tell "an inner Hardy layer
/// refused" from "the service failed" without knowing the error type.
///
/// Implemented for [`Rejection`], [`Error<E>`], `tower::BoxError`
/// (`Box<dyn Error + Send + Sync>`, whose source chain is searched), `std::io::Error`
/// (whose wrapped error is searched) and a few plain types that never hold one. For
/// your own error type, implement it: the provided method answers `None`, so an error
/// that cannot hold a rejection needs only `impl AsRejection for MyError {}`.
///
/// # Examples
///
/// ```
/// use hardy_core::{AsRejection, Name, Rejection};
///
/// #[derive(Debug)]
/// enum SensorError {
///     Unplugged,
///     Refused(Rejection),
/// }
///
/// impl From<Rejection> for SensorError {
///     fn from(rejection: Rejection) -> Self {
///         SensorError::Refused(rejection)
///     }
/// }
///
/// impl AsRejection for SensorError {
///     fn as_rejection(&self) -> Option<&Rejection> {
///         match self {
///             SensorError::Refused(rejection) => Some(rejection),
///             SensorError::Unplugged => None,
///         }
///     }
/// }
///
/// let boxed: Box<dyn std::error::Error + Send + Sync> =
///     Box::new(Rejection::RetryBudgetExhausted { name: Name::from("r") });
/// assert!(boxed.as_rejection().is_some());
/// assert!(SensorError::Unplugged.as_rejection().is_none());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say whether it holds a Hardy `Rejection`",
    label = "`{Self}` does not implement `AsRejection`",
    note = "implement it, empty when the error never holds a rejection: `impl hardy_core::AsRejection for {Self} {{}}`",
    note = "or use an error type that finds one inside: `hardy_core::Error<E>`, `tower::BoxError`, `std::io::Error`"
)]
pub trait AsRejection {
    /// The rejection inside this error, if there is one.
    fn as_rejection(&self) -> Option<&Rejection> {
        None
    }
}

impl AsRejection for Rejection {
    #[inline]
    fn as_rejection(&self) -> Option<&Rejection> {
        Some(self)
    }
}

impl<E> AsRejection for Error<E>
where
    E: AsRejection,
{
    #[inline]
    fn as_rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            Error::Inner(error) => error.as_rejection(),
        }
    }
}

impl AsRejection for Box<dyn StdError + Send + Sync> {
    #[inline]
    fn as_rejection(&self) -> Option<&Rejection> {
        find_rejection(&**self)
    }
}

impl AsRejection for Box<dyn StdError + Send> {
    #[inline]
    fn as_rejection(&self) -> Option<&Rejection> {
        find_rejection(&**self)
    }
}

impl AsRejection for Box<dyn StdError> {
    #[inline]
    fn as_rejection(&self) -> Option<&Rejection> {
        find_rejection(&**self)
    }
}

impl AsRejection for std::sync::Arc<dyn StdError + Send + Sync> {
    #[inline]
    fn as_rejection(&self) -> Option<&Rejection> {
        find_rejection(&**self)
    }
}

impl AsRejection for std::io::Error {
    fn as_rejection(&self) -> Option<&Rejection> {
        self.get_ref().and_then(|inner| find_rejection(inner))
    }
}

impl<T: AsRejection + ?Sized> AsRejection for &T {
    #[inline]
    fn as_rejection(&self) -> Option<&Rejection> {
        (**self).as_rejection()
    }
}

impl AsRejection for Infallible {}
impl AsRejection for () {}
impl AsRejection for String {}
impl AsRejection for str {}
impl AsRejection for std::fmt::Error {}

/// Searches an error and its [`source`](std::error::Error::source) chain for a
/// [`Rejection`], looking inside any `std::io::Error` on the way.
///
/// ```
/// use hardy_core::{find_rejection, Name, Rejection};
///
/// let io = std::io::Error::other(Rejection::RetryBudgetExhausted { name: Name::from("r") });
/// assert!(find_rejection(&io).is_some_and(Rejection::is_retry_budget_exhausted));
/// assert!(find_rejection(&std::io::Error::other("disk full")).is_none());
/// ```
#[must_use]
pub fn find_rejection<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Rejection> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(rejection) = error.downcast_ref::<Rejection>() {
            return Some(rejection);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(rejection) = io.get_ref().and_then(|inner| find_rejection(inner))
        {
            return Some(rejection);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Name;

    fn budget() -> Rejection {
        Rejection::RetryBudgetExhausted {
            name: Name::from("r"),
        }
    }

    #[derive(Debug)]
    struct Wrapper(Box<dyn StdError + Send + Sync>);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn finds_a_rejection_down_the_source_chain() {
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(Wrapper(Box::new(budget())));
        assert!(
            boxed
                .as_rejection()
                .is_some_and(Rejection::is_retry_budget_exhausted)
        );
    }

    #[test]
    fn finds_a_rejection_inside_io_error_in_a_chain() {
        let io: std::io::Error = budget().into();
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(Wrapper(Box::new(io)));
        assert!(boxed.as_rejection().is_some());
    }

    #[test]
    fn plain_errors_hold_no_rejection() {
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(std::io::Error::other("x"));
        assert!(boxed.as_rejection().is_none());
        assert!(String::from("x").as_rejection().is_none());
    }

    #[test]
    fn nested_error_finds_the_inner_rejection() {
        let nested: Error<Error<String>> = Error::Inner(Error::Rejected(budget()));
        assert!(nested.as_rejection().is_some());
        assert!(nested.flatten().is_rejected());
    }

    #[test]
    fn error_is_transparent() {
        let io = std::io::Error::other(Wrapper(Box::new(budget())));
        let error: Error<std::io::Error> = Error::Inner(io);
        assert_eq!(error.to_string(), "wrapped");
        let rejected: Error<std::io::Error> = budget().into();
        assert_eq!(rejected.to_string(), "retry budget \"r\" exhausted");
        assert!(rejected.source().is_none());
    }

    #[test]
    fn into_error_builds_a_box_error() {
        let error: Error<std::io::Error> = budget().into();
        let boxed: Box<dyn StdError + Send + Sync> = error.into_error();
        assert!(boxed.as_rejection().is_some());
        let inner: Error<std::io::Error> = Error::Inner(std::io::Error::other("x"));
        let boxed: Box<dyn StdError + Send + Sync> = inner.into_error();
        assert!(boxed.as_rejection().is_none());
    }

    #[test]
    fn map_inner_keeps_rejections() {
        let error: Error<i32> = budget().into();
        assert!(error.map_inner(|n| n + 1).is_rejected());
        assert_eq!(
            Error::<i32>::Inner(1).map_inner(|n| n + 1).into_inner(),
            Some(2)
        );
    }
}

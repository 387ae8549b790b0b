//! What a layer injects besides latency and rejections: errors from an error maker and
//! wrong answers from a corrupter.

/// Makes the error an injected error fault returns.
///
/// Any `Fn() -> E` closure is one; [`NoError`] makes none, so outcomes drawn as errors
/// pass the call through.
pub trait MakeError<E> {
    /// The error to inject, or `None` to let the call through.
    fn make_error(&self) -> Option<E>;
}

impl<F, E> MakeError<E> for F
where
    F: Fn() -> E,
{
    fn make_error(&self) -> Option<E> {
        Some(self())
    }
}

/// No error maker: outcomes drawn as errors pass the call through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoError;

impl<E> MakeError<E> for NoError {
    fn make_error(&self) -> Option<E> {
        None
    }
}

/// Turns a right answer into a wrong one that still looks right: a stuck sensor value,
/// an empty list, a stale version.
///
/// Any `Fn(T) -> T` closure is one; [`NoCorrupt`] corrupts nothing, so outcomes drawn
/// as corruptions pass the call through.
pub trait Corrupt<T> {
    /// Whether this corrupter changes anything (only then is a corruption counted).
    fn is_armed(&self) -> bool {
        true
    }

    /// The wrong answer for `response`.
    fn corrupt(&self, response: T) -> T;
}

impl<F, T> Corrupt<T> for F
where
    F: Fn(T) -> T,
{
    fn corrupt(&self, response: T) -> T {
        self(response)
    }
}

/// No corrupter: outcomes drawn as corruptions pass the call through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoCorrupt;

impl<T> Corrupt<T> for NoCorrupt {
    fn is_armed(&self) -> bool {
        false
    }

    fn corrupt(&self, response: T) -> T {
        response
    }
}

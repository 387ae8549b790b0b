//! [`Error`]: why a call to Redis failed.

use std::fmt;

use hardy_core::{AsRejection, Rejection};

/// Why a call to Redis failed: Redis said so or could not be reached, Hardy's guard
/// refused the call (the timeout expired, or the guard breaker is open), or Redis
/// answered something this crate cannot read.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Redis answered with an error, or the connection failed.
    Redis(redis::RedisError),
    /// The guard refused: [`Rejection::Timeout`] past the Redis timeout, or
    /// [`Rejection::CircuitOpen`] while the guard breaker is open.
    Rejected(Rejection),
    /// Redis answered, but not what this crate expects (another program's key under
    /// Hardy's prefix, say).
    Reply(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Redis(error) => write!(f, "redis: {error}"),
            Error::Rejected(rejection) => write!(f, "redis call refused: {rejection}"),
            Error::Reply(reply) => write!(f, "unexpected reply from redis: {reply}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(error) => Some(error),
            Error::Rejected(rejection) => Some(rejection),
            Error::Reply(_) => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(error: redis::RedisError) -> Self {
        Error::Redis(error)
    }
}

impl From<hardy_core::Error<redis::RedisError>> for Error {
    fn from(error: hardy_core::Error<redis::RedisError>) -> Self {
        match error {
            hardy_core::Error::Inner(error) => Error::Redis(error),
            hardy_core::Error::Rejected(rejection) => Error::Rejected(rejection),
        }
    }
}

impl From<hardy_core::Error<Error>> for Error {
    fn from(error: hardy_core::Error<Error>) -> Self {
        match error {
            hardy_core::Error::Inner(error) => error,
            hardy_core::Error::Rejected(rejection) => Error::Rejected(rejection),
        }
    }
}

impl AsRejection for Error {
    fn as_rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            Error::Redis(_) | Error::Reply(_) => None,
        }
    }
}

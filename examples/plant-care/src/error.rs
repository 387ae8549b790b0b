//! [`Error`]: why a command of the controller did not finish.

use std::fmt;
use std::path::PathBuf;

use tower::BoxError;

use crate::config::ConfigErrors;

/// Why a simulation, a chart or the daemon did not finish.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The config does not validate.
    Config(ConfigErrors),
    /// A file or a directory could not be made, read or written.
    File {
        /// Which.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The Tokio runtime could not start.
    Runtime(std::io::Error),
    /// The hardware or the controller's stacks could not be built.
    Build(BoxError),
    /// The simulation was given a config whose backend is not `sim`.
    NotSimulated,
    /// A simulation too long for its round (`days` of rounds every `read_every`).
    TooManyRounds {
        /// The days asked for.
        days: u32,
        /// The time of a round.
        read_every: std::time::Duration,
    },
    /// A chart could not be drawn.
    Chart {
        /// What the drawing library said.
        reason: String,
    },
    /// The care loop panicked (with its message) or ended while the daemon ran.
    CareLoopEnded {
        /// The panic's message, if it panicked.
        panic: Option<String>,
    },
    /// The HTTP server stopped while the daemon ran.
    ServerStopped {
        /// Its error, if it ended with one.
        source: Option<std::io::Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(errors) => errors.fmt(f),
            Error::File { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Runtime(error) => write!(f, "cannot start the runtime: {error}"),
            Error::Build(error) => error.fmt(f),
            Error::NotSimulated => f.write_str("the simulation needs the sim backend"),
            Error::TooManyRounds { days, read_every } => {
                write!(f, "{days} days of rounds every {read_every:?}: too many")
            }
            Error::Chart { reason } => write!(f, "drawing the chart: {reason}"),
            Error::CareLoopEnded {
                panic: Some(message),
            } => {
                write!(f, "the care loop panicked: {message}")
            }
            Error::CareLoopEnded { panic: None } => f.write_str("the care loop ended"),
            Error::ServerStopped {
                source: Some(error),
            } => write!(f, "the server stopped: {error}"),
            Error::ServerStopped { source: None } => f.write_str("the server stopped"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(errors) => Some(errors),
            Error::File { source, .. }
            | Error::Runtime(source)
            | Error::ServerStopped {
                source: Some(source),
            } => Some(source),
            Error::Build(error) => Some(&**error),
            _ => None,
        }
    }
}

impl From<ConfigErrors> for Error {
    fn from(errors: ConfigErrors) -> Self {
        Error::Config(errors)
    }
}

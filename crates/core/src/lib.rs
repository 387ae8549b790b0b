//! The shared vocabulary of the Hardy resilience crates.
//!
//! Every Hardy pattern (timeout, retry, circuit breaker, bulkhead, rate limit, load
//! shedding, pool, fallback) speaks the types defined here:
//!
//! - [`Rejection`]: a layer refused or abandoned a call, with the context a caller needs
//!   (who refused, when to retry, how full it was).
//! - [`Error<E>`]: the error of a direct call: the operation's own error or a rejection.
//!   Tower services instead keep their inner service's error type, which must be
//!   `From<Rejection>`, so a stack of layers has one flat error type.
//! - [`AsRejection`]: finds a rejection inside an error (`Error<E>`, `tower::BoxError`,
//!   `io::Error`, your own type), so layers can tell a refusal from a failure.
//! - [`Outcome`] and [`Classify`]: what a result counts as (success, failure, ignored)
//!   and whether it is worth retrying; [`DefaultClassifier`] is the documented default.
//! - [`ConfigError`] and [`Validate`]: configuration errors that name the component,
//!   instance, field, value and rule.
//! - [`Name`]: the cheap, shared name that labels a handle's metrics and events.
//! - [`Listener`]: an optional event callback.
//!
//! This crate has no runtime dependency. The machinery the pattern crates share (the
//! admission gate, per-thread references, counts kept per thread) is hidden from these
//! docs: it is not a promised API.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardy_core::{Classify, DefaultClassifier, Error, Name, Outcome, Rejection, Retryability};
//!
//! fn describe(result: &Result<u32, Error<std::io::Error>>) -> String {
//!     match result {
//!         Ok(value) => format!("read {value}"),
//!         Err(Error::Rejected(rejection)) => match rejection.retry_after() {
//!             Some(after) => format!("refused by {}, try in {after:?}", rejection.name()),
//!             None => format!("refused: {rejection}"),
//!         },
//!         Err(Error::Inner(error)) => format!("failed: {error}"),
//!     }
//! }
//!
//! let open: Result<u32, Error<std::io::Error>> = Err(Rejection::CircuitOpen {
//!     name: Name::from("soil-1"),
//!     retry_after: Some(Duration::from_secs(30)),
//! }
//! .into());
//! assert_eq!(describe(&open), "refused by soil-1, try in 30s");
//! assert_eq!(
//!     DefaultClassifier.classify(&open),
//!     Outcome::Ignore(Retryability::RetryAfter(Duration::from_secs(30))),
//! );
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `serde` | no | `Serialize`/`Deserialize` for [`Name`], and the [`duration`] module for human-readable durations (`"30s"`) in configs |

#[doc(hidden)]
pub mod admission;
mod backend;
mod classify;
mod config;
#[cfg(feature = "serde")]
pub mod duration;
mod error;
#[doc(hidden)]
pub mod future;
mod listener;
mod local;
mod name;
mod policy;
mod readable;
mod rejection;
#[doc(hidden)]
pub mod rng;
mod spare;
#[doc(hidden)]
pub mod sync;

pub use backend::Backend;
pub use classify::{Classify, DefaultClassifier, Outcome, Retryability};
pub use config::{ConfigError, Validate};
pub use error::{AsRejection, Error, find_rejection};
pub use listener::{Listener, Traced};
#[doc(hidden)]
pub use local::{LocalArc, thread_index};
pub use name::Name;
pub use policy::{PolicyError, PolicyErrors};
pub use readable::Readable;
pub use rejection::{Rejection, RejectionKind, SharedError, ShedReason};
#[doc(hidden)]
pub use spare::{SpareService, Spared};

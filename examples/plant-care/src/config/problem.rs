//! What can be wrong with a config: [`Problem`], and [`ConfigErrors`] listing them all.

use std::fmt;

use hardy::core::ConfigError;
use hardy::{PolicyError, PolicyErrors};

/// One thing wrong with a config, naming the setting and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A setting at the top of the config or in `[server]`.
    Setting {
        /// Its path: `read_every`, `server.listen`.
        path: &'static str,
        /// Its value, as read.
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The list of plants as a whole.
    Plants {
        /// What is wrong with it.
        reason: String,
    },
    /// One of a plant's settings.
    Plant {
        /// The plant's id.
        id: String,
        /// The setting: `dose_ml`, `channel`.
        field: &'static str,
        /// Its value, if the problem is about one.
        value: Option<String>,
        /// The rule it breaks.
        reason: String,
    },
    /// A setting of a plant's pump (`[plants.pump]`), as the pump itself checks it.
    Pump(ConfigError),
    /// A setting of the `[policies]` section; its path is under `policies.`.
    Policy(PolicyError),
}

impl Problem {
    /// A problem with a plant's `field`, about no one value.
    pub(crate) fn plant(id: &str, field: &'static str, reason: impl Into<String>) -> Self {
        Problem::Plant {
            id: id.to_string(),
            field,
            value: None,
            reason: reason.into(),
        }
    }

    /// A problem with a plant's `field` holding `value`.
    pub(crate) fn plant_value(
        id: &str,
        field: &'static str,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Problem::Plant {
            id: id.to_string(),
            field,
            value: Some(value.to_string()),
            reason: reason.into(),
        }
    }

    /// A problem with the top-level or server setting at `path`, holding `value` (as
    /// the message shows it).
    pub(crate) fn setting(path: &'static str, value: String, reason: impl Into<String>) -> Self {
        Problem::Setting {
            path,
            value,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Setting {
                path,
                value,
                reason,
            } => write!(f, "{path} = {value}: {reason}"),
            Problem::Plants { reason } => write!(f, "plants: {reason}"),
            Problem::Plant {
                id,
                field,
                value: Some(value),
                reason,
            } => write!(f, "plant {id:?}: {field} = {value}: {reason}"),
            Problem::Plant {
                id,
                field,
                value: None,
                reason,
            } => write!(f, "plant {id:?}: {field} {reason}"),
            Problem::Pump(error) => error.fmt(f),
            Problem::Policy(error) => write!(f, "policies.{error}"),
        }
    }
}

impl std::error::Error for Problem {}

/// Every problem found in a config: checking lists them all, not only the first.
///
/// Its `Display` gives one problem a line, in the order of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    problems: Vec<Problem>,
}

impl ConfigErrors {
    /// The problems in `problems`; `None` if there are none.
    pub(crate) fn new(problems: Vec<Problem>) -> Option<Self> {
        (!problems.is_empty()).then_some(ConfigErrors { problems })
    }

    /// The problems, in the order of the file.
    #[must_use]
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Each problem as a line of text, in the order of the file.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.problems.iter().map(ToString::to_string).collect()
    }
}

impl From<Problem> for ConfigErrors {
    fn from(problem: Problem) -> Self {
        ConfigErrors {
            problems: vec![problem],
        }
    }
}

impl From<PolicyErrors> for ConfigErrors {
    /// Each problem of the policy document as a [`Problem::Policy`].
    fn from(errors: PolicyErrors) -> Self {
        ConfigErrors {
            problems: errors
                .problems()
                .iter()
                .cloned()
                .map(Problem::Policy)
                .collect(),
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            problem.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

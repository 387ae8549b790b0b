//! [`PolicyError`] and [`PolicyErrors`]: the problems found in a policy document.

use std::fmt;

/// One problem in a policy document, at its dotted path.
///
/// # Examples
///
/// ```
/// use hardy_core::{ConfigError, PolicyError};
///
/// let error = ConfigError::new("breaker", "aws_ec2", "failure_ratio", 1.5, "must be within 0..=1");
/// let problem = PolicyError::from_config("breaker.aws_ec2", &error);
/// assert_eq!(problem.path(), "breaker.aws_ec2.failure_ratio");
/// assert_eq!(problem.to_string(), "breaker.aws_ec2.failure_ratio = 1.5: must be within 0..=1");
///
/// let unknown = PolicyError::new("retry.ec2.max_attempt", "unknown setting");
/// assert_eq!(unknown.to_string(), "retry.ec2.max_attempt: unknown setting");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    path: String,
    value: Option<String>,
    reason: String,
}

impl PolicyError {
    /// A problem at `path` (`"breaker.aws_ec2"`), broken `reason`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        PolicyError {
            path: path.into(),
            value: None,
            reason: reason.into(),
        }
    }

    /// A problem at `path` with the offending `value` (as written in the document).
    pub fn with_value(
        path: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        PolicyError {
            path: path.into(),
            value: Some(value.into()),
            reason: reason.into(),
        }
    }

    /// The problem a [`ConfigError`](crate::ConfigError) describes, for the policy at
    /// `at` (its field is appended to the path).
    #[must_use]
    pub fn from_config(at: &str, error: &crate::ConfigError) -> Self {
        PolicyError::with_value(
            format!("{at}.{}", error.field()),
            error.value(),
            error.reason(),
        )
    }

    /// Where the problem is: a dotted path such as `breaker.aws_ec2.failure_ratio`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The offending value, if the problem is about one.
    #[must_use]
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What is wrong.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{} = {}: {}", self.path, value, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found in a policy document: loading reports them all at once.
///
/// Its `Display` lists one problem a line, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors {
    problems: Vec<PolicyError>,
}

impl PolicyErrors {
    /// The problems listed in `problems`; `None` if there are none.
    #[must_use]
    pub fn new(problems: Vec<PolicyError>) -> Option<Self> {
        (!problems.is_empty()).then_some(PolicyErrors { problems })
    }

    /// The problems, in document order.
    #[must_use]
    pub fn problems(&self) -> &[PolicyError] {
        &self.problems
    }

    /// How many problems there are (at least one).
    #[must_use]
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Always `false`: a `PolicyErrors` holds at least one problem.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl From<PolicyError> for PolicyErrors {
    fn from(problem: PolicyError) -> Self {
        PolicyErrors {
            problems: vec![problem],
        }
    }
}

impl IntoIterator for PolicyErrors {
    type Item = PolicyError;
    type IntoIter = std::vec::IntoIter<PolicyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_listed_one_a_line() {
        let errors = PolicyErrors::new(vec![
            PolicyError::with_value("a.b", "1", "too big"),
            PolicyError::new("c", "unknown section"),
        ])
        .expect("two problems");
        assert_eq!(errors.to_string(), "a.b = 1: too big\nc: unknown section");
        assert_eq!(errors.len(), 2);
        assert!(!errors.is_empty());
        assert!(PolicyErrors::new(Vec::new()).is_none());
    }
}

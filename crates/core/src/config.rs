//! [`ConfigError`] and [`Validate`]: configuration errors that name what is wrong.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::Name;

/// A setting was out of range: names the component, the instance, the field, the bad
/// value and the rule it broke.
///
/// Every Hardy config is validated when it is built; nothing is clamped or silently
/// corrected.
///
/// # Examples
///
/// ```
/// use hardy_core::ConfigError;
///
/// let error = ConfigError::new("breaker", "soil-1", "failure_ratio", 1.5, "must be within 0..=1");
/// assert_eq!(error.to_string(), "breaker \"soil-1\": failure_ratio = 1.5: must be within 0..=1");
/// assert_eq!(error.field(), "failure_ratio");
/// assert_eq!(error.path(), "breaker.soil-1.failure_ratio");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    component: &'static str,
    instance: Name,
    field: Cow<'static, str>,
    value: String,
    reason: Cow<'static, str>,
}

impl ConfigError {
    /// Creates an error: `component` is the pattern (`"breaker"`), `instance` the handle's
    /// name, `field` the setting, `value` the rejected value (formatted with `Debug`) and
    /// `reason` the rule it broke (`"must be within 0..=1"`).
    pub fn new(
        component: &'static str,
        instance: impl Into<Name>,
        field: impl Into<Cow<'static, str>>,
        value: impl fmt::Debug,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            component,
            instance: instance.into(),
            field: field.into(),
            value: format!("{value:?}"),
            reason: reason.into(),
        }
    }

    /// The pattern the setting belongs to: `"breaker"`, `"timeout"`, …
    #[must_use]
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// The name of the handle being configured.
    #[must_use]
    pub fn instance(&self) -> &Name {
        &self.instance
    }

    /// The setting that was rejected.
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rejected value, as formatted by `Debug`.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The rule the value broke.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The setting's dotted path, as in a policy file: `component.instance.field`.
    #[must_use]
    pub fn path(&self) -> String {
        format!("{}.{}.{}", self.component, self.instance, self.field)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{}\": {} = {}: {}",
            self.component, self.instance, self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// Checks settings of one handle and builds a [`ConfigError`] for the first bad one.
///
/// The pattern crates share these rules so every config reports the same way.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_core::Validate;
///
/// let check = Validate::new("breaker", "soil-1");
/// assert!(check.ratio("failure_ratio", 0.5).is_ok());
/// let error = check.ratio("failure_ratio", 1.5).unwrap_err();
/// assert_eq!(error.to_string(), "breaker \"soil-1\": failure_ratio = 1.5: must be within 0..=1");
/// assert!(check.non_zero_duration("open_for", Duration::ZERO).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Validate<'a> {
    component: &'static str,
    instance: &'a str,
}

impl<'a> Validate<'a> {
    /// Checks settings of `instance`, a handle of `component`.
    #[must_use]
    pub fn new(component: &'static str, instance: &'a str) -> Self {
        Validate {
            component,
            instance,
        }
    }

    /// An error for `field` = `value`, broken `reason`.
    pub fn error(
        &self,
        field: impl Into<Cow<'static, str>>,
        value: impl fmt::Debug,
        reason: impl Into<Cow<'static, str>>,
    ) -> ConfigError {
        ConfigError::new(self.component, self.instance, field, value, reason)
    }

    /// `value` must be longer than zero.
    pub fn non_zero_duration(
        &self,
        field: impl Into<Cow<'static, str>>,
        value: Duration,
    ) -> Result<(), ConfigError> {
        if value.is_zero() {
            return Err(self.error(field, value, "must be greater than zero"));
        }
        Ok(())
    }

    /// `value` must not be zero.
    pub fn non_zero<T>(
        &self,
        field: impl Into<Cow<'static, str>>,
        value: T,
    ) -> Result<(), ConfigError>
    where
        T: PartialEq + Default + fmt::Debug,
    {
        if value == T::default() {
            return Err(self.error(field, value, "must be greater than zero"));
        }
        Ok(())
    }

    /// `value` must be a finite number within `0..=1`.
    pub fn ratio(
        &self,
        field: impl Into<Cow<'static, str>>,
        value: f64,
    ) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&value) {
            return Err(self.error(field, value, "must be within 0..=1"));
        }
        Ok(())
    }

    /// `value` must be a finite number greater than zero.
    pub fn positive(
        &self,
        field: impl Into<Cow<'static, str>>,
        value: f64,
    ) -> Result<(), ConfigError> {
        if !(value.is_finite() && value > 0.0) {
            return Err(self.error(field, value, "must be a finite number greater than zero"));
        }
        Ok(())
    }

    /// `value` must lie within `range` (both ends included): for settings whose
    /// extremes cannot work, such as a duration so long that adding it to a clock
    /// reading overflows.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_core::Validate;
    ///
    /// let check = Validate::new("pump", "basil");
    /// let range = Duration::from_millis(10)..=Duration::from_secs(3600);
    /// assert!(check.within("max_run", Duration::from_secs(30), range.clone()).is_ok());
    /// let error = check.within("max_run", Duration::from_secs(7200), range).unwrap_err();
    /// assert_eq!(error.to_string(), "pump \"basil\": max_run = 7200s: must be within 10ms..=3600s");
    /// ```
    pub fn within<T>(
        &self,
        field: impl Into<Cow<'static, str>>,
        value: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<(), ConfigError>
    where
        T: PartialOrd + fmt::Debug,
    {
        if !range.contains(&value) {
            return Err(self.error(
                field,
                value,
                format!("must be within {:?}..={:?}", range.start(), range.end()),
            ));
        }
        Ok(())
    }

    /// `value` must be at least `min`, another setting named `min_field`.
    pub fn at_least<T>(
        &self,
        field: impl Into<Cow<'static, str>>,
        value: T,
        min_field: &str,
        min: T,
    ) -> Result<(), ConfigError>
    where
        T: PartialOrd + fmt::Debug,
    {
        if value < min {
            return Err(self.error(
                field,
                value,
                format!("must be at least {min_field} ({min:?})"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn error_names_every_part() {
        let error = ConfigError::new(
            "timeout",
            "read",
            "timeout",
            Duration::ZERO,
            "must be greater than zero",
        );
        assert_eq!(error.component(), "timeout");
        assert_eq!(error.instance(), "read");
        assert_eq!(error.value(), "0ns");
        assert_eq!(error.reason(), "must be greater than zero");
        assert_eq!(
            error.to_string(),
            "timeout \"read\": timeout = 0ns: must be greater than zero"
        );
    }

    #[test]
    fn at_least_names_the_other_field() {
        let check = Validate::new("retry", "n");
        let error = check
            .at_least(
                "max_delay",
                Duration::from_millis(5),
                "base_delay",
                Duration::from_millis(10),
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "retry \"n\": max_delay = 5ms: must be at least base_delay (10ms)"
        );
        assert!(check.at_least("max", 3, "min", 3).is_ok());
    }

    #[test]
    fn non_zero_rejects_zero_only() {
        let check = Validate::new("bulkhead", "n");
        assert!(check.non_zero("max_concurrent", 0_usize).is_err());
        assert!(check.non_zero("max_concurrent", 1_usize).is_ok());
    }

    proptest! {
        #[test]
        fn ratio_accepts_exactly_the_unit_interval(value in proptest::num::f64::ANY) {
            let accepted = Validate::new("x", "n").ratio("r", value).is_ok();
            prop_assert_eq!(accepted, (0.0..=1.0).contains(&value));
        }

        #[test]
        fn positive_rejects_nan_infinite_and_non_positive(value in proptest::num::f64::ANY) {
            let accepted = Validate::new("x", "n").positive("p", value).is_ok();
            prop_assert_eq!(accepted, value.is_finite() && value > 0.0);
        }
    }
}

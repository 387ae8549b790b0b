//! [`OperationConfig`]: which policies guard one operation, and [`PolicyRef`]: a
//! policy named, or none.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::section::{PolicySection, stacked};

/// Which policies guard one operation: `[operations.ec2_run_instances]`.
///
/// For each pattern of the stack the policy is, in this order: the one this table
/// names (`breaker = "aws"`); else the entry named after the operation
/// (`[retry.ec2_run_instances]`); else, when `service` is set, the handle named after
/// the service, from its entry or the default (`[breaker.aws_ec2]`, shared by every
/// operation of the service); else a handle named after the operation from the
/// section's default; else none, and the pattern is left out of the operation's stack.
/// `false` leaves a pattern out whatever the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationConfig {
    /// The service the operation belongs to: its policies are shared by the service's
    /// operations.
    pub service: Option<String>,
    /// `false` leaves the per-attempt timeout out (limits live in `[timeout]`).
    pub timeout: bool,
    /// The policy named for each section of the stack (`breaker`, `retry`, `bulkhead`,
    /// `rate_limit`, `load_shed`, `chaos`), by section name.
    pub policies: BTreeMap<String, PolicyRef>,
}

impl OperationConfig {
    /// The policy this table names for the section whose settings are `C`.
    #[must_use]
    pub fn policy<C: PolicySection>(&self) -> Option<&PolicyRef> {
        self.policies.get(C::SECTION)
    }

    /// Names `policy` for the section whose settings are `C`.
    pub fn set_policy<C: PolicySection>(&mut self, policy: PolicyRef) {
        self.policies.insert(C::SECTION.to_string(), policy);
    }
}

impl Default for OperationConfig {
    /// No service, the timeout kept, every other pattern from the defaults.
    fn default() -> Self {
        OperationConfig {
            service: None,
            timeout: true,
            policies: BTreeMap::new(),
        }
    }
}

impl Serialize for OperationConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(service) = &self.service {
            map.serialize_entry("service", service)?;
        }
        if !self.timeout {
            map.serialize_entry("timeout", &false)?;
        }
        for (section, policy) in &self.policies {
            map.serialize_entry(section, policy)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for OperationConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OperationVisitor;
        impl<'de> Visitor<'de> for OperationVisitor {
            type Value = OperationConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of an operation's policies")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OperationConfig, A::Error> {
                let mut operation = OperationConfig::default();
                while let Some(OperationKey(key)) = map.next_key()? {
                    match key {
                        "service" => operation.service = Some(map.next_value()?),
                        "timeout" => operation.timeout = map.next_value()?,
                        section => {
                            let policy = map.next_value()?;
                            operation.policies.insert(section.to_string(), policy);
                        }
                    }
                }
                Ok(operation)
            }
        }
        deserializer.deserialize_map(OperationVisitor)
    }
}

/// A key of an operation's table, one of [`operation_fields`].
struct OperationKey(&'static str);

impl<'de> Deserialize<'de> for OperationKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = OperationKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key of an operation's table")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<OperationKey, E> {
                operation_fields()
                    .iter()
                    .find(|field| **field == key)
                    .map(|field| OperationKey(field))
                    .ok_or_else(|| E::unknown_field(key, operation_fields()))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The keys of an operation's table: `service`, `timeout`, then the stack's sections.
fn operation_fields() -> &'static [&'static str] {
    static FIELDS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        ["service", "timeout"]
            .into_iter()
            .chain(stacked().iter().copied())
            .collect()
    });
    &FIELDS
}

/// A pattern of an operation: a named policy, or `false` for none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyRef {
    /// The policy of this name (an entry of the pattern's section).
    Named(String),
    /// No policy: the pattern is left out.
    Off,
}

impl Serialize for PolicyRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PolicyRef::Named(name) => serializer.serialize_str(name),
            PolicyRef::Off => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for PolicyRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefVisitor;
        impl Visitor<'_> for RefVisitor {
            type Value = PolicyRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the name of a policy, or false")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<PolicyRef, E> {
                Ok(PolicyRef::Named(name.to_string()))
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<PolicyRef, E> {
                if on {
                    Err(E::custom(
                        "true names no policy: give a policy's name, or false for none",
                    ))
                } else {
                    Ok(PolicyRef::Off)
                }
            }
        }
        deserializer.deserialize_any(RefVisitor)
    }
}

//! [`PolicyDocument`]: the typed contents of a policy file, read from TOML or JSON with
//! every problem reported at once.

use std::collections::BTreeMap;

use hardy_core::{ConfigError, PolicyError, PolicyErrors};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use toml::{Table, Value};

use crate::breaker::BreakerConfig;
use crate::bulkhead::{BulkheadConfig, PartitionsConfig};
use crate::chaos::ChaosConfig;
use crate::fallback::LastKnownGoodConfig;
use crate::load_shed::LoadShedConfig;
use crate::pool::PoolConfig;
use crate::rate_limit::RateLimitConfig;
use crate::retry::RetryConfig;
use crate::timeout::OperationTimeoutsConfig;

/// The name of the entry whose settings every other entry of its section starts from.
pub const DEFAULT_POLICY: &str = "default";

/// Everything a policy file says, each named policy with its defaults filled in.
///
/// A section per pattern holds named policies (`[breaker.aws_ec2]`). The entry named
/// [`default`](DEFAULT_POLICY) is the template of its section: every other entry starts
/// from it and overrides it key by key (a key is replaced whole, so a `backoff` table
/// of a named entry replaces the default's). `[timeout]` is one table of limits by
/// operation; `[operations.<name>]` says which policies guard an operation.
///
/// Read one with [`Policies::from_toml`](crate::Policies::from_toml) or
/// [`Policies::from_json`](crate::Policies::from_json); [`PolicyDocument::from_toml`]
/// gives the document without building a registry.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct PolicyDocument {
    /// Per-attempt time limits: a default and a limit per operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<OperationTimeoutsConfig>,
    /// Circuit breakers by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub breaker: BTreeMap<String, BreakerConfig>,
    /// Retry policies by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub retry: BTreeMap<String, RetryConfig>,
    /// Bulkheads by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bulkhead: BTreeMap<String, BulkheadConfig>,
    /// Partitioned bulkheads by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub partitions: BTreeMap<String, PartitionsConfig>,
    /// Rate limits by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rate_limit: BTreeMap<String, RateLimitConfig>,
    /// Load shedders by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub load_shed: BTreeMap<String, LoadShedConfig>,
    /// Last-known-good stores (how stale a fallback answer may be) by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fallback: BTreeMap<String, LastKnownGoodConfig>,
    /// Object pools by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pool: BTreeMap<String, PoolConfig>,
    /// Fault injection by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub chaos: BTreeMap<String, ChaosConfig>,
    /// Which policies guard each operation.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, OperationConfig>,
}

/// Which policies guard one operation: `[operations.ec2_run_instances]`.
///
/// For each pattern the policy is, in this order: the one this table names; else the
/// entry named after the operation (`[retry.ec2_run_instances]`); else, when `service`
/// is set, the handle named after the service, from its entry or the default
/// (`[breaker.aws_ec2]`, shared by every operation of the service); else a handle named
/// after the operation from the section's default; else none, and the pattern is left
/// out of the operation's stack. `false` leaves a pattern out whatever the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OperationConfig {
    /// The service the operation belongs to: its policies are shared by the service's
    /// operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `false` leaves the per-attempt timeout out (limits live in `[timeout]`).
    #[serde(skip_serializing_if = "is_true")]
    pub timeout: bool,
    /// The circuit breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<PolicyRef>,
    /// The retry policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<PolicyRef>,
    /// The bulkhead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulkhead: Option<PolicyRef>,
    /// The rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<PolicyRef>,
    /// The load shedder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_shed: Option<PolicyRef>,
    /// The fault injection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chaos: Option<PolicyRef>,
}

impl Default for OperationConfig {
    /// No service, the timeout kept, every other pattern from the defaults.
    fn default() -> Self {
        OperationConfig {
            service: None,
            timeout: true,
            breaker: None,
            retry: None,
            bulkhead: None,
            rate_limit: None,
            load_shed: None,
            chaos: None,
        }
    }
}

fn is_true(value: &bool) -> bool {
    *value
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

/// A document inside a larger file (`[policies]` of an application's config): read as
/// [`from_toml`](PolicyDocument::from_toml) reads a whole file, its problems joined one
/// a line into the deserializer's error.
impl<'de> Deserialize<'de> for PolicyDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = Table::deserialize(deserializer)?;
        PolicyDocument::from_table(table).map_err(de::Error::custom)
    }
}

/// The sections a document may have, in the order problems are reported.
const SECTIONS: [&str; 11] = [
    "timeout",
    "breaker",
    "retry",
    "bulkhead",
    "partitions",
    "rate_limit",
    "load_shed",
    "fallback",
    "pool",
    "chaos",
    "operations",
];

impl PolicyDocument {
    /// Reads and checks a TOML document.
    ///
    /// # Errors
    ///
    /// Every problem found: syntax (with its line and column), unknown sections and
    /// keys, values of the wrong type, settings out of range, and operations naming
    /// policies that do not exist.
    pub fn from_toml(text: &str) -> Result<Self, PolicyErrors> {
        match text.parse::<Table>() {
            Ok(table) => Self::from_table(table),
            Err(error) => {
                let at = error.span().map_or_else(
                    || "document".to_string(),
                    |span| line_column(text, span.start),
                );
                Err(PolicyError::new(at, error.message().trim_end()).into())
            }
        }
    }

    /// Reads and checks a JSON document with the same shape as the TOML one.
    ///
    /// # Errors
    ///
    /// As [`from_toml`](Self::from_toml). A `null` is an unset key: the setting takes
    /// its default (what writing a document with `serde_json` gives for `None`).
    pub fn from_json(text: &str) -> Result<Self, PolicyErrors> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|error| {
            PolicyErrors::from(PolicyError::new(
                format!("line {}, column {}", error.line(), error.column()),
                error.to_string(),
            ))
        })?;
        let mut problems = Vec::new();
        let value = json_to_toml(json, "", &mut problems);
        let table = match value {
            Some(Value::Table(table)) => table,
            Some(_) => {
                problems.push(PolicyError::new(
                    "document",
                    "must be an object of sections",
                ));
                Table::new()
            }
            None => Table::new(),
        };
        match Self::from_table(table) {
            Ok(document) => collect(problems).map(|()| document),
            Err(errors) => {
                problems.extend(errors);
                collect(problems).map(|()| PolicyDocument::default())
            }
        }
    }

    /// Checks a document built in code, as loading would.
    ///
    /// # Errors
    ///
    /// Every setting out of range, and every operation naming a policy that does not
    /// exist.
    pub fn validate(&self) -> Result<(), PolicyErrors> {
        let mut problems = Vec::new();
        if let Some(timeout) = &self.timeout {
            check(&mut problems, "timeout", timeout.validate("timeout"));
        }
        validate_section(
            &mut problems,
            "breaker",
            &self.breaker,
            BreakerConfig::validate,
        );
        validate_section(&mut problems, "retry", &self.retry, RetryConfig::validate);
        validate_section(
            &mut problems,
            "bulkhead",
            &self.bulkhead,
            BulkheadConfig::validate,
        );
        validate_section(
            &mut problems,
            "partitions",
            &self.partitions,
            PartitionsConfig::validate,
        );
        validate_section(
            &mut problems,
            "rate_limit",
            &self.rate_limit,
            RateLimitConfig::validate,
        );
        validate_section(
            &mut problems,
            "load_shed",
            &self.load_shed,
            LoadShedConfig::validate,
        );
        validate_section(
            &mut problems,
            "fallback",
            &self.fallback,
            LastKnownGoodConfig::validate,
        );
        validate_section(&mut problems, "pool", &self.pool, PoolConfig::validate);
        validate_section(&mut problems, "chaos", &self.chaos, ChaosConfig::validate);
        self.check_references(&mut problems);
        collect(problems)
    }

    /// Writes the document as TOML, every default filled in; reading it back gives the
    /// same document.
    ///
    /// # Errors
    ///
    /// A value TOML cannot hold (a chaos seed above `i64::MAX`).
    pub fn to_toml(&self) -> Result<String, PolicyError> {
        toml::to_string(self).map_err(|error| PolicyError::new("document", error.to_string()))
    }

    fn from_table(table: Table) -> Result<Self, PolicyErrors> {
        let mut problems = Vec::new();
        let mut document = PolicyDocument::default();
        let mut table = table;
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                problems.push(PolicyError::new(
                    key.clone(),
                    format!("unknown section; expected one of {}", SECTIONS.join(", ")),
                ));
            }
        }
        if let Some(value) = table.remove("timeout") {
            document.timeout = read(&mut problems, "timeout", value);
        }
        document.breaker = section(
            &mut problems,
            "breaker",
            table.remove("breaker"),
            BreakerConfig::validate,
        );
        document.retry = section(
            &mut problems,
            "retry",
            table.remove("retry"),
            RetryConfig::validate,
        );
        document.bulkhead = section(
            &mut problems,
            "bulkhead",
            table.remove("bulkhead"),
            BulkheadConfig::validate,
        );
        document.partitions = section(
            &mut problems,
            "partitions",
            table.remove("partitions"),
            PartitionsConfig::validate,
        );
        document.rate_limit = section(
            &mut problems,
            "rate_limit",
            table.remove("rate_limit"),
            RateLimitConfig::validate,
        );
        document.load_shed = section(
            &mut problems,
            "load_shed",
            table.remove("load_shed"),
            LoadShedConfig::validate,
        );
        document.fallback = section(
            &mut problems,
            "fallback",
            table.remove("fallback"),
            LastKnownGoodConfig::validate,
        );
        document.pool = section(
            &mut problems,
            "pool",
            table.remove("pool"),
            PoolConfig::validate,
        );
        document.chaos = section(
            &mut problems,
            "chaos",
            table.remove("chaos"),
            ChaosConfig::validate,
        );
        if let Some(value) = table.remove("operations") {
            document.operations = operations(&mut problems, value);
        }
        // Range checks run on what parsed; a value that did not parse is reported once.
        let parsed = std::mem::take(&mut problems);
        let checked = document.validate().err();
        problems = parsed;
        problems.extend(checked.into_iter().flatten());
        collect(problems).map(|()| document)
    }

    fn check_references(&self, problems: &mut Vec<PolicyError>) {
        for (operation, config) in &self.operations {
            let refs: [Reference<'_>; 6] = [
                ("breaker", &config.breaker, &|name| {
                    self.breaker.contains_key(name)
                }),
                ("retry", &config.retry, &|name| {
                    self.retry.contains_key(name)
                }),
                ("bulkhead", &config.bulkhead, &|name| {
                    self.bulkhead.contains_key(name)
                }),
                ("rate_limit", &config.rate_limit, &|name| {
                    self.rate_limit.contains_key(name)
                }),
                ("load_shed", &config.load_shed, &|name| {
                    self.load_shed.contains_key(name)
                }),
                ("chaos", &config.chaos, &|name| {
                    self.chaos.contains_key(name)
                }),
            ];
            for (pattern, reference, exists) in refs {
                let Some(PolicyRef::Named(name)) = reference else {
                    continue;
                };
                let path = format!("operations.{operation}.{pattern}");
                if name == DEFAULT_POLICY {
                    problems.push(PolicyError::with_value(
                        path,
                        format!("{name:?}"),
                        format!(
                            "the default is a template, not a policy; leave {pattern} out to use it"
                        ),
                    ));
                } else if !exists(name) {
                    problems.push(PolicyError::with_value(
                        path,
                        format!("{name:?}"),
                        format!("no [{pattern}.{name}] policy"),
                    ));
                }
            }
        }
    }
}

/// One pattern an operation may name: the pattern, the name given, and whether a
/// policy of a name exists in its section.
type Reference<'a> = (&'a str, &'a Option<PolicyRef>, &'a dyn Fn(&str) -> bool);

/// `Ok` when nothing was found, else every problem.
fn collect(problems: Vec<PolicyError>) -> Result<(), PolicyErrors> {
    PolicyErrors::new(problems).map_or(Ok(()), Err)
}

fn line_column(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |rest| rest.chars().count())
        + 1;
    format!("line {line}, column {column}")
}

fn check(problems: &mut Vec<PolicyError>, at: &str, result: Result<(), ConfigError>) {
    if let Err(error) = result {
        problems.push(PolicyError::from_config(at, &error));
    }
}

fn validate_section<C>(
    problems: &mut Vec<PolicyError>,
    section: &str,
    entries: &BTreeMap<String, C>,
    validate: fn(&C, &str) -> Result<(), ConfigError>,
) {
    for (name, config) in entries {
        check(
            problems,
            &format!("{section}.{name}"),
            validate(config, name),
        );
    }
}

/// Deserializes `value`, reporting a failure at `at` plus the path inside the value.
fn read<C: DeserializeOwned>(problems: &mut Vec<PolicyError>, at: &str, value: Value) -> Option<C> {
    match serde_path_to_error::deserialize::<_, C>(value) {
        Ok(config) => Some(config),
        Err(error) => {
            let inner = error.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                at.to_string()
            } else {
                format!("{at}.{inner}")
            };
            problems.push(PolicyError::new(
                path,
                error.into_inner().message().trim_end(),
            ));
            None
        }
    }
}

/// Reads the named entries of a pattern's section, each over the section's default.
fn section<C: DeserializeOwned>(
    problems: &mut Vec<PolicyError>,
    section: &str,
    value: Option<Value>,
    validate: fn(&C, &str) -> Result<(), ConfigError>,
) -> BTreeMap<String, C> {
    let mut entries = BTreeMap::new();
    let Some(value) = value else {
        return entries;
    };
    let Value::Table(table) = value else {
        problems.push(PolicyError::new(
            section,
            format!("must be a table of named policies ([{section}.<name>])"),
        ));
        return entries;
    };
    // The default is read first; if it is broken, the other entries start from the
    // built-in defaults so its problem is reported once, not once per entry (its range
    // problems are reported with every other entry's, after reading).
    let mut template = Table::new();
    if let Some(default) = table.get(DEFAULT_POLICY) {
        let at = format!("{section}.{DEFAULT_POLICY}");
        if let Value::Table(default) = default {
            if let Some(config) = read::<C>(problems, &at, Value::Table(default.clone())) {
                if validate(&config, DEFAULT_POLICY).is_ok() {
                    template = default.clone();
                }
                entries.insert(DEFAULT_POLICY.to_string(), config);
            }
        } else {
            problems.push(PolicyError::new(at, "must be a table of settings"));
        }
    }
    for (name, value) in table {
        if name == DEFAULT_POLICY {
            continue;
        }
        let at = format!("{section}.{name}");
        let Value::Table(own) = value else {
            problems.push(PolicyError::new(at, "must be a table of settings"));
            continue;
        };
        let mut merged = template.clone();
        merged.extend(own);
        if let Some(config) = read::<C>(problems, &at, Value::Table(merged)) {
            entries.insert(name, config);
        }
    }
    entries
}

fn operations(problems: &mut Vec<PolicyError>, value: Value) -> BTreeMap<String, OperationConfig> {
    let mut operations = BTreeMap::new();
    let Value::Table(table) = value else {
        problems.push(PolicyError::new(
            "operations",
            "must be a table of operations ([operations.<name>])",
        ));
        return operations;
    };
    for (name, value) in table {
        let at = format!("operations.{name}");
        let Value::Table(own) = value else {
            problems.push(PolicyError::new(at, "must be a table of settings"));
            continue;
        };
        if let Some(config) = read::<OperationConfig>(problems, &at, Value::Table(own)) {
            operations.insert(name, config);
        }
    }
    operations
}

/// JSON to the TOML data model; a `null` is left out, as if the key were not there.
fn json_to_toml(
    json: serde_json::Value,
    at: &str,
    problems: &mut Vec<PolicyError>,
) -> Option<Value> {
    use serde_json::Value as Json;
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    Some(match json {
        // `null` is an unset key, as serde reads a missing `Option`.
        Json::Null => return None,
        Json::Bool(value) => Value::Boolean(value),
        Json::Number(number) => match number.as_i64() {
            Some(integer) => Value::Integer(integer),
            None if number.is_u64() => {
                problems.push(PolicyError::with_value(
                    at,
                    number.to_string(),
                    "too large: integers go up to 9223372036854775807",
                ));
                return None;
            }
            None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) => Value::String(text),
        Json::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| json_to_toml(item, &join(&i.to_string()), problems))
                .collect(),
        ),
        Json::Object(fields) => Value::Table(
            fields
                .into_iter()
                .filter_map(|(key, item)| {
                    let value = json_to_toml(item, &join(&key), problems)?;
                    Some((key, value))
                })
                .collect(),
        ),
    })
}

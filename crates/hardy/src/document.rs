//! [`PolicyDocument`]: the typed contents of a policy file, read from TOML or JSON (or
//! several laid over each other) with every problem reported at once.

use std::collections::BTreeMap;
use std::fmt;

use hardy_core::{PolicyError, PolicyErrors};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use toml::{Table, Value};

use crate::section::{Entries, Kind, PolicySection, SECTIONS, stacked};
use crate::timeout::OperationTimeoutsConfig;

/// The name of the entry whose settings every other entry of its section starts from.
pub const DEFAULT_POLICY: &str = "default";

/// Everything a policy file says, each named policy with its defaults filled in.
///
/// A section per pattern holds named policies (`[breaker.aws_ec2]`); the settings of
/// each pattern's entries are its [`PolicySection`] (`BreakerConfig` for `[breaker]`),
/// read with [`entries`](Self::entries). The entry named [`default`](DEFAULT_POLICY) is
/// the template of its section: every other entry starts from it and overrides it key
/// by key (a key is replaced whole, so a `backoff` table of a named entry replaces the
/// default's). `[timeout]` is one table of limits by operation; `[operations.<name>]`
/// says which policies guard an operation.
///
/// Read one with [`Policies::from_toml`](crate::Policies::from_toml) or
/// [`Policies::from_json`](crate::Policies::from_json); [`PolicyDocument::from_toml`]
/// gives the document without building a registry, and
/// [`from_toml_layers`](Self::from_toml_layers) lays documents over each other (an
/// application's built-in policies, then its users' file).
///
/// # Examples
///
/// ```
/// use hardy::PolicyDocument;
/// use hardy::breaker::BreakerConfig;
///
/// let built_in = "[breaker.default]\nconsecutive_failures = 5\nopen_for = \"30s\"\n";
/// let users = "[breaker.default]\nconsecutive_failures = 3\n";
/// let document = PolicyDocument::from_toml_layers([built_in, users])?;
/// let breaker = &document.entries::<BreakerConfig>()["default"];
/// assert_eq!(breaker.consecutive_failures, 3);
/// assert_eq!(breaker.open_for.as_secs(), 30, "kept from the layer below");
/// # Ok::<(), hardy::core::PolicyErrors>(())
/// ```
#[non_exhaustive]
pub struct PolicyDocument {
    /// Per-attempt time limits: a default and a limit per operation.
    pub timeout: Option<OperationTimeoutsConfig>,
    /// The named entries of each section of [`SECTIONS`], by section name.
    sections: BTreeMap<&'static str, Box<dyn Entries>>,
    /// Which policies guard each operation.
    pub operations: BTreeMap<String, OperationConfig>,
}

impl PolicyDocument {
    /// The entries of the section whose settings are `C`, by name.
    ///
    /// # Panics
    ///
    /// If `C` is not the settings of a section of policy documents.
    #[must_use]
    pub fn entries<C: PolicySection>(&self) -> &BTreeMap<String, C> {
        self.sections
            .get(C::SECTION)
            .and_then(|entries| entries.as_any().downcast_ref())
            .unwrap_or_else(|| panic!("no section of policy documents holds {}", C::SECTION))
    }

    /// The entries of the section whose settings are `C`, by name, to change.
    ///
    /// # Panics
    ///
    /// As [`entries`](Self::entries).
    pub fn entries_mut<C: PolicySection>(&mut self) -> &mut BTreeMap<String, C> {
        self.sections
            .get_mut(C::SECTION)
            .and_then(|entries| entries.as_any_mut().downcast_mut())
            .unwrap_or_else(|| panic!("no section of policy documents holds {}", C::SECTION))
    }

    /// Whether the section named `section` has an entry named `name`.
    pub(crate) fn has(&self, section: &str, name: &str) -> bool {
        self.sections
            .get(section)
            .is_some_and(|entries| entries.contains(name))
    }
}

impl Default for PolicyDocument {
    /// No timeouts, no entries, no operations.
    fn default() -> Self {
        PolicyDocument {
            timeout: None,
            sections: SECTIONS
                .iter()
                .map(|kind| (kind.section(), kind.empty()))
                .collect(),
            operations: BTreeMap::new(),
        }
    }
}

impl Clone for PolicyDocument {
    fn clone(&self) -> Self {
        PolicyDocument {
            timeout: self.timeout.clone(),
            sections: self
                .sections
                .iter()
                .map(|(section, entries)| (*section, entries.clone_box()))
                .collect(),
            operations: self.operations.clone(),
        }
    }
}

impl PartialEq for PolicyDocument {
    fn eq(&self, other: &Self) -> bool {
        self.timeout == other.timeout
            && self.operations == other.operations
            && self.sections.len() == other.sections.len()
            && self.sections.iter().all(|(section, entries)| {
                other
                    .sections
                    .get(section)
                    .is_some_and(|theirs| entries.same(theirs.as_ref()))
            })
    }
}

impl fmt::Debug for PolicyDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("PolicyDocument");
        debug.field("timeout", &self.timeout);
        for (section, entries) in &self.sections {
            if !entries.is_empty() {
                debug.field(section, entries.debug());
            }
        }
        debug.field("operations", &self.operations).finish()
    }
}

/// Written as the file is read: `[timeout]`, a table per section with entries, then
/// `[operations]`; empty sections and unset settings are left out.
impl Serialize for PolicyDocument {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(timeout) = &self.timeout {
            map.serialize_entry("timeout", timeout)?;
        }
        for kind in &SECTIONS {
            let Some(entries) = self.sections.get(kind.section()) else {
                continue;
            };
            if entries.is_empty() {
                continue;
            }
            let json = entries.to_json().map_err(serde::ser::Error::custom)?;
            map.serialize_entry(kind.section(), &without_nulls(json))?;
        }
        if !self.operations.is_empty() {
            map.serialize_entry("operations", &self.operations)?;
        }
        map.end()
    }
}

/// A JSON value with its `null`s left out, as unset settings are.
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(fields) => serde_json::Value::Object(
            fields
                .into_iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key, without_nulls(value)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(without_nulls).collect())
        }
        other => other,
    }
}

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

/// A document inside a larger file (`[policies]` of an application's config): read as
/// [`from_toml`](PolicyDocument::from_toml) reads a whole file, its problems joined one
/// a line into the deserializer's error.
impl<'de> Deserialize<'de> for PolicyDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = Table::deserialize(deserializer)?;
        PolicyDocument::from_table(table).map_err(de::Error::custom)
    }
}

impl PolicyDocument {
    /// Reads and checks a TOML document.
    ///
    /// # Errors
    ///
    /// Every problem found: syntax (with its line and column), unknown sections and
    /// keys, values of the wrong type, settings out of range, and operations naming
    /// policies that do not exist.
    pub fn from_toml(text: &str) -> Result<Self, PolicyErrors> {
        Self::from_table(parse_toml(text)?)
    }

    /// Reads TOML documents laid one over another, setting by setting, and checks the
    /// result: a later layer's entry keeps the settings of the same entry below that it
    /// does not set (a setting is replaced whole: a later `backoff` table replaces the
    /// one below), and adds entries and sections of its own. In `[timeout]`, the
    /// default and each operation's limit are settings of their own.
    ///
    /// # Errors
    ///
    /// A layer's syntax errors (at `layer <n>, line …`), then every problem of the
    /// whole, as [`from_toml`](Self::from_toml).
    pub fn from_toml_layers<'a>(
        layers: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, PolicyErrors> {
        let mut tables = Vec::new();
        let mut problems = Vec::new();
        for (n, text) in layers.into_iter().enumerate() {
            match parse_toml(text) {
                Ok(table) => tables.push(table),
                Err(errors) => problems.extend(errors.into_iter().map(|error| {
                    PolicyError::new(format!("layer {}, {}", n + 1, error.path()), error.reason())
                })),
            }
        }
        collect(problems)?;
        Self::from_layers(tables)
    }

    /// Reads documents already parsed into tables, laid one over another as
    /// [`from_toml_layers`](Self::from_toml_layers) lays them.
    ///
    /// # Errors
    ///
    /// As [`from_toml`](Self::from_toml).
    pub fn from_layers(layers: impl IntoIterator<Item = Table>) -> Result<Self, PolicyErrors> {
        let mut merged = Table::new();
        for layer in layers {
            overlay(&mut merged, layer, 0);
        }
        Self::from_table(merged)
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
        self.check_timeout(&mut problems);
        for kind in &SECTIONS {
            if let Some(entries) = self.sections.get(kind.section()) {
                entries.check(&mut problems);
            }
        }
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

    /// Reads a parsed document. Each entry's settings are checked once, as they are
    /// read; then the timeouts and the operations' references.
    fn from_table(mut table: Table) -> Result<Self, PolicyErrors> {
        let mut problems = Vec::new();
        let mut document = PolicyDocument::default();
        let known: Vec<&str> = std::iter::once("timeout")
            .chain(SECTIONS.iter().map(|kind| kind.section()))
            .chain(std::iter::once("operations"))
            .collect();
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                problems.push(PolicyError::new(
                    key.clone(),
                    format!("unknown section; expected one of {}", known.join(", ")),
                ));
            }
        }
        if let Some(value) = table.remove("timeout") {
            document.timeout = read(&mut problems, "timeout", value);
        }
        let mut checks = Vec::new();
        for kind in &SECTIONS {
            if let (Some(value), Some(entries)) = (
                table.remove(kind.section()),
                document.sections.get_mut(kind.section()),
            ) {
                read_section(*kind, &mut problems, &mut checks, value, entries.as_mut());
            }
        }
        if let Some(value) = table.remove("operations") {
            document.operations = operations(&mut problems, value);
        }
        // Range problems follow the problems of reading: a value that did not parse is
        // reported once.
        document.check_timeout(&mut problems);
        problems.extend(checks);
        document.check_references(&mut problems);
        collect(problems).map(|()| document)
    }

    fn check_timeout(&self, problems: &mut Vec<PolicyError>) {
        if let Some(timeout) = &self.timeout
            && let Err(error) = timeout.validate("timeout")
        {
            problems.push(PolicyError::from_config("timeout", &error));
        }
    }

    fn check_references(&self, problems: &mut Vec<PolicyError>) {
        for (operation, config) in &self.operations {
            for (section, reference) in &config.policies {
                let PolicyRef::Named(name) = reference else {
                    continue;
                };
                let path = format!("operations.{operation}.{section}");
                if name == DEFAULT_POLICY {
                    problems.push(PolicyError::with_value(
                        path,
                        format!("{name:?}"),
                        format!(
                            "the default is a template, not a policy; leave {section} out to use it"
                        ),
                    ));
                } else if !self.has(section, name) {
                    problems.push(PolicyError::with_value(
                        path,
                        format!("{name:?}"),
                        format!("no [{section}.{name}] policy"),
                    ));
                }
            }
        }
    }
}

/// Parses a TOML text, a syntax error reported at its line and column.
fn parse_toml(text: &str) -> Result<Table, PolicyErrors> {
    text.parse::<Table>().map_err(|error| {
        let at = error.span().map_or_else(
            || "document".to_string(),
            |span| line_column(text, span.start),
        );
        PolicyError::new(at, error.message().trim_end()).into()
    })
}

/// Lays `over` on `base`: sections and their entries are merged, an entry's settings
/// are replaced one by one.
fn overlay(base: &mut Table, over: Table, depth: usize) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base)), Value::Table(over)) if depth < 2 => {
                overlay(base, over, depth + 1);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Reads the named entries of a section, each over the section's default, and checks
/// each once (its problems into `checks`, reported after every problem of reading).
fn read_section(
    kind: &dyn Kind,
    problems: &mut Vec<PolicyError>,
    checks: &mut Vec<PolicyError>,
    value: Value,
    entries: &mut dyn Entries,
) {
    let section = kind.section();
    let Value::Table(table) = value else {
        problems.push(PolicyError::new(
            section,
            format!("must be a table of named policies ([{section}.<name>])"),
        ));
        return;
    };
    // The default is read first; if it is broken, the other entries start from the
    // built-in defaults so its problem is reported once, not once per entry.
    let mut template = Table::new();
    if let Some(default) = table.get(DEFAULT_POLICY) {
        let at = format!("{section}.{DEFAULT_POLICY}");
        if let Value::Table(default) = default {
            if let Some(config) = kind.read(problems, &at, Value::Table(default.clone())) {
                match kind.check(config.as_ref(), DEFAULT_POLICY) {
                    None => template = default.clone(),
                    Some(problem) => checks.push(problem),
                }
                kind.insert(entries, DEFAULT_POLICY.to_string(), config);
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
        if let Some(config) = kind.read(problems, &at, Value::Table(merged)) {
            checks.extend(kind.check(config.as_ref(), &name));
            kind.insert(entries, name, config);
        }
    }
}

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

/// Deserializes `value`, reporting a failure at `at` plus the path inside the value.
pub(crate) fn read<C: DeserializeOwned>(
    problems: &mut Vec<PolicyError>,
    at: &str,
    value: Value,
) -> Option<C> {
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

//! [`PolicyDocument`]: the typed contents of a policy file, read from TOML or JSON (or
//! several laid over each other) with every problem reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hardy_core::{PolicyError, PolicyErrors};
use serde::de::{self, Deserializer};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use toml::{Table, Value};

use crate::operation::{OperationConfig, PolicyRef};
use crate::read::{collect, json_to_toml, operations, overlay, parse_toml, read_section};
use crate::section::{DEFAULT_POLICY, Entries, PolicySection, SECTIONS, read};
use crate::timeout::OperationTimeoutsConfig;

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
/// `enabled = false` in an entry (other than a chaos entry, whose `enabled` is its own
/// setting) switches it off without deleting its settings: no operation's stack uses
/// it. Set in `default`, it switches off every entry of the section that does not say
/// `enabled = true`.
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
    /// The entries switched off (`enabled = false`), by section.
    disabled: BTreeMap<&'static str, BTreeSet<String>>,
    /// Where state a fleet shares lives: `[redis]`, for entries with
    /// `backend = "redis"`.
    #[cfg(feature = "redis")]
    pub redis: Option<crate::redis::RedisConfig>,
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

    /// Whether the entry `name` of the section of `C` is switched on: not set
    /// `enabled = false`. An entry that is off keeps its settings, but no operation's
    /// stack uses it.
    #[must_use]
    pub fn is_enabled<C: PolicySection>(&self, name: &str) -> bool {
        !self.is_off(C::SECTION, name)
    }

    /// Switches the entry `name` of the section of `C` on or off, as `enabled = true`
    /// or `false` in a file would.
    pub fn set_enabled<C: PolicySection>(&mut self, name: &str, enabled: bool) {
        let off = self.disabled.entry(C::SECTION).or_default();
        if enabled {
            off.remove(name);
        } else {
            off.insert(name.to_owned());
        }
    }

    /// Whether the entry `name` of the section named `section` is switched off.
    pub(crate) fn is_off(&self, section: &str, name: &str) -> bool {
        self.disabled
            .get(section)
            .is_some_and(|off| off.contains(name))
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
            disabled: BTreeMap::new(),
            #[cfg(feature = "redis")]
            redis: None,
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
            disabled: self.disabled.clone(),
            #[cfg(feature = "redis")]
            redis: self.redis.clone(),
        }
    }
}

impl PartialEq for PolicyDocument {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "redis")]
        if self.redis != other.redis {
            return false;
        }
        let off = |document: &PolicyDocument| {
            document
                .disabled
                .iter()
                .filter(|(_, names)| !names.is_empty())
                .map(|(section, names)| (*section, names.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        self.timeout == other.timeout
            && self.operations == other.operations
            && off(self) == off(other)
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
        #[cfg(feature = "redis")]
        debug.field("redis", &self.redis);
        if self.disabled.values().any(|names| !names.is_empty()) {
            debug.field("disabled", &self.disabled);
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
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            map.serialize_entry("redis", redis)?;
        }
        for kind in &SECTIONS {
            let Some(entries) = self.sections.get(kind.section()) else {
                continue;
            };
            if entries.is_empty() {
                continue;
            }
            let mut json = entries.to_json().map_err(serde::ser::Error::custom)?;
            if let (Some(off), serde_json::Value::Object(entries)) =
                (self.disabled.get(kind.section()), &mut json)
            {
                // Every entry says whether it is on when the default, which entries
                // inherit from, is off; otherwise only those that are off.
                let default_off = off.contains(DEFAULT_POLICY);
                for (name, settings) in entries.iter_mut() {
                    let enabled = !off.contains(name);
                    if let serde_json::Value::Object(settings) = settings
                        && (!enabled || default_off)
                    {
                        settings.insert("enabled".into(), enabled.into());
                    }
                }
            }
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
        self.check_redis(&mut problems);
        for kind in &SECTIONS {
            if let Some(entries) = self.sections.get(kind.section()) {
                entries.check(&mut problems);
            }
        }
        self.check_backends(&mut problems);
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
        let known: Vec<&str> = ["timeout", "redis"]
            .into_iter()
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
        if let Some(value) = table.remove("redis") {
            document.read_redis(&mut problems, value);
        }
        let mut checks = Vec::new();
        for kind in &SECTIONS {
            if let (Some(value), Some(entries)) = (
                table.remove(kind.section()),
                document.sections.get_mut(kind.section()),
            ) {
                let mut off = BTreeSet::new();
                read_section(
                    *kind,
                    &mut problems,
                    &mut checks,
                    value,
                    entries.as_mut(),
                    &mut off,
                );
                if !off.is_empty() {
                    document.disabled.insert(kind.section(), off);
                }
            }
        }
        if let Some(value) = table.remove("operations") {
            document.operations = operations(&mut problems, value);
        }
        // Range problems follow the problems of reading: a value that did not parse is
        // reported once.
        document.check_timeout(&mut problems);
        document.check_redis(&mut problems);
        problems.extend(checks);
        document.check_backends(&mut problems);
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

    #[cfg(feature = "redis")]
    fn read_redis(&mut self, problems: &mut Vec<PolicyError>, value: Value) {
        self.redis = read(problems, "redis", value);
    }

    #[cfg(not(feature = "redis"))]
    fn read_redis(&mut self, problems: &mut Vec<PolicyError>, _: Value) {
        problems.push(PolicyError::new(
            "redis",
            "needs hardy's `redis` feature (state shared through Redis)",
        ));
    }

    fn check_redis(&self, problems: &mut Vec<PolicyError>) {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis
            && let Err(error) = redis.validate("redis")
        {
            problems.push(PolicyError::from_config("redis", &error));
        }
        #[cfg(not(feature = "redis"))]
        let _ = problems;
    }

    /// Every entry kept in Redis needs `[redis]`.
    fn check_backends(&self, problems: &mut Vec<PolicyError>) {
        #[cfg(feature = "redis")]
        let has_redis = self.redis.is_some();
        #[cfg(not(feature = "redis"))]
        let has_redis = false;
        if has_redis {
            return;
        }
        let shared = self
            .entries::<crate::rate_limit::RateLimitConfig>()
            .iter()
            .filter(|(_, config)| config.backend == hardy_core::Backend::Redis)
            .map(|(name, _)| format!("rate_limit.{name}.backend"))
            .chain(
                self.entries::<crate::breaker::BreakerConfig>()
                    .iter()
                    .filter(|(_, config)| config.backend == hardy_core::Backend::Redis)
                    .map(|(name, _)| format!("breaker.{name}.backend")),
            );
        for path in shared {
            problems.push(PolicyError::with_value(
                path,
                "\"redis\"",
                if cfg!(feature = "redis") {
                    "needs a [redis] section saying where Redis is"
                } else {
                    "needs a [redis] section saying where Redis is, and hardy's `redis` feature"
                },
            ));
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

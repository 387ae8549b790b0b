//! Reading a policy document: TOML and JSON to tables, tables laid over each other,
//! a section's entries over its default, an operation's table, each problem at its
//! path.

use std::collections::{BTreeMap, BTreeSet};

use hardy_core::{PolicyError, PolicyErrors};
use toml::{Table, Value};

use crate::operation::OperationConfig;
use crate::section::{DEFAULT_POLICY, Entries, Kind, read};

/// Parses a TOML text, a syntax error reported at its line and column.
pub(crate) fn parse_toml(text: &str) -> Result<Table, PolicyErrors> {
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
pub(crate) fn overlay(base: &mut Table, over: Table, depth: usize) {
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

/// Takes an entry's `enabled` switch out of its settings (a chaos entry keeps it: it is
/// its own setting). `None` when it has none.
fn take_enabled(
    kind: &dyn Kind,
    problems: &mut Vec<PolicyError>,
    at: &str,
    settings: &mut Table,
) -> Option<bool> {
    if kind.section() == "chaos" {
        return None;
    }
    match settings.remove("enabled")? {
        Value::Boolean(enabled) => Some(enabled),
        other => {
            problems.push(PolicyError::new(
                format!("{at}.enabled"),
                format!("must be true or false, not {other}"),
            ));
            None
        }
    }
}

/// Reads the named entries of a section, each over the section's default, and checks
/// each once (its problems into `checks`, reported after every problem of reading);
/// the names of entries switched off (`enabled = false`, or in the default and not
/// switched on) go into `off`.
pub(crate) fn read_section(
    kind: &dyn Kind,
    problems: &mut Vec<PolicyError>,
    checks: &mut Vec<PolicyError>,
    value: Value,
    entries: &mut dyn Entries,
    off: &mut BTreeSet<String>,
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
    let mut default_enabled = true;
    if let Some(default) = table.get(DEFAULT_POLICY) {
        let at = format!("{section}.{DEFAULT_POLICY}");
        if let Value::Table(default) = default {
            let mut default = default.clone();
            if let Some(enabled) = take_enabled(kind, problems, &at, &mut default) {
                default_enabled = enabled;
            }
            if !default_enabled {
                off.insert(DEFAULT_POLICY.to_string());
            }
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
        let Value::Table(mut own) = value else {
            problems.push(PolicyError::new(at, "must be a table of settings"));
            continue;
        };
        let enabled = take_enabled(kind, problems, &at, &mut own).unwrap_or(default_enabled);
        if !enabled {
            off.insert(name.clone());
        }
        let mut merged = template.clone();
        merged.extend(own);
        if let Some(config) = kind.read(problems, &at, Value::Table(merged)) {
            checks.extend(kind.check(config.as_ref(), &name));
            kind.insert(entries, name, config);
        }
    }
}

/// `Ok` when nothing was found, else every problem.
pub(crate) fn collect(problems: Vec<PolicyError>) -> Result<(), PolicyErrors> {
    PolicyErrors::new(problems).map_or(Ok(()), Err)
}

pub(crate) fn line_column(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |rest| rest.chars().count())
        + 1;
    format!("line {line}, column {column}")
}

pub(crate) fn operations(
    problems: &mut Vec<PolicyError>,
    value: Value,
) -> BTreeMap<String, OperationConfig> {
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
pub(crate) fn json_to_toml(
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

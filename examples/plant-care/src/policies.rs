//! The `[policies]` section of the config: Hardy policies laid over the built-in ones.

use std::sync::LazyLock;

use hardy::{PolicyDocument, PolicyError};
use serde::Deserialize;
use toml::{Table, Value};

use crate::config::{ConfigErrors, Problem};

/// The built-in policies, in Hardy's policy file format.
pub const BUILT_IN_POLICIES: &str = include_str!("policies.toml");

/// How every read and every watering is protected: the `[policies]` section, a Hardy
/// policy document laid over [`BUILT_IN_POLICIES`] setting by setting.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(transparent)]
pub struct Policies {
    overrides: Table,
}

impl Policies {
    /// Sets one setting, `section.entry.key = value`, over the built-in policies (as a
    /// `[policies.<section>.<entry>]` table in the file would).
    pub fn set(&mut self, section: &str, entry: &str, key: &str, value: impl Into<Value>) {
        let table = |value: &mut Value| match value {
            Value::Table(_) => {}
            other => *other = Value::Table(Table::new()),
        };
        let section = self
            .overrides
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()));
        table(section);
        let Value::Table(section) = section else {
            return;
        };
        let entry = section
            .entry(entry)
            .or_insert_with(|| Value::Table(Table::new()));
        table(entry);
        if let Value::Table(entry) = entry {
            entry.insert(key.to_string(), value.into());
        }
    }

    /// The whole document: the built-in policies with the overrides laid over them.
    ///
    /// # Errors
    ///
    /// Every problem, each a [`Problem::Policy`] (its path under `policies.`).
    pub fn document(&self) -> Result<PolicyDocument, ConfigErrors> {
        static BUILT_IN: LazyLock<Result<Table, String>> = LazyLock::new(|| {
            BUILT_IN_POLICIES
                .parse()
                .map_err(|error| format!("{error}"))
        });
        let built_in = BUILT_IN.as_ref().map_err(|error| {
            ConfigErrors::from(Problem::Policy(PolicyError::new(
                "(built in)",
                error.clone(),
            )))
        })?;
        Ok(PolicyDocument::from_layers([
            built_in.clone(),
            self.overrides.clone(),
        ])?)
    }
}

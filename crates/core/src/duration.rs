//! Human-readable durations (`"30s"`, `"1m 30s"`, `"250ms"`) for serde.
//!
//! Use it on every `Duration` or `Option<Duration>` field of a config:
//!
//! ```
//! use std::time::Duration;
//!
//! #[derive(serde::Deserialize)]
//! struct Settings {
//!     #[serde(with = "hardy_core::duration")]
//!     open_for: Duration,
//! }
//!
//! let settings: Settings = serde_json::from_str(r#"{ "open_for": "1m 30s" }"#).unwrap();
//! assert_eq!(settings.open_for, Duration::from_secs(90));
//! ```

pub use humantime_serde::{deserialize, serialize};

/// Human-readable durations as the values of a `BTreeMap<String, Duration>`, such as a
/// table of per-operation timeouts.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
///
/// #[derive(serde::Deserialize)]
/// struct Table {
///     #[serde(with = "hardy_core::duration::map")]
///     operations: BTreeMap<String, Duration>,
/// }
///
/// let table: Table = serde_json::from_str(r#"{ "operations": { "run": "3m" } }"#).unwrap();
/// assert_eq!(table.operations["run"], Duration::from_secs(180));
/// ```
pub mod map {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serializes each duration as a human-readable string.
    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let readable: BTreeMap<&str, humantime_serde::Serde<&Duration>> = map
            .iter()
            .map(|(key, value)| (key.as_str(), humantime_serde::Serde::from(value)))
            .collect();
        readable.serialize(serializer)
    }

    /// Deserializes each duration from a human-readable string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let readable =
            BTreeMap::<String, humantime_serde::Serde<Duration>>::deserialize(deserializer)?;
        Ok(readable
            .into_iter()
            .map(|(key, value)| (key, value.into_inner()))
            .collect())
    }
}

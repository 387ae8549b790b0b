//! [`TemperatureCheck`]: a thermal zone's temperature, from `/sys/class/thermal`.

use std::path::{Path, PathBuf};

use hardy_core::{ConfigError, Validate};

use super::{Rules, above, read, under, verdict};
use crate::{CheckResult, HealthCheck};

/// The temperature above which a [`TemperatureCheck`] is degraded, unless set: 70 °C.
pub const DEFAULT_TEMPERATURE_WARN_ABOVE_CELSIUS: f64 = 70.0;
/// The temperature above which a [`TemperatureCheck`] is unhealthy, unless set: 80 °C,
/// where a Raspberry Pi starts to slow its CPU down to cool it.
pub const DEFAULT_TEMPERATURE_FAIL_ABOVE_CELSIUS: f64 = 80.0;

const COMPONENT: &str = "temperature check";
const THERMAL: &str = "/sys/class/thermal";
const PREFIX: &str = "thermal_zone";

/// Which thermal zone (`/sys/class/thermal/thermal_zone<N>`) a [`TemperatureCheck`]
/// reads. On a Raspberry Pi, zone 0 is the SoC and its type is `cpu-thermal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum ThermalZone {
    /// The zone with the lowest number. The default.
    #[default]
    First,
    /// The zone with this number: `Index(0)` is `thermal_zone0`.
    Index(u32),
    /// The first zone whose `type` file says this (`cpu-thermal`, `x86_pkg_temp`).
    Type(String),
}

/// The settings of a [`TemperatureCheck`]: the zone and the thresholds, in °C.
///
/// # Examples
///
/// ```
/// use hardy_health::{TemperatureConfig, ThermalZone};
///
/// let soc = TemperatureConfig {
///     zone: ThermalZone::Type("cpu-thermal".into()),
///     ..TemperatureConfig::default()
/// };
/// assert!(soc.validate("/sys/class/thermal").is_ok());
/// let bad = TemperatureConfig { warn_above_celsius: Some(f64::NAN), ..soc };
/// assert_eq!(
///     bad.validate("/sys/class/thermal").unwrap_err().to_string(),
///     "temperature check \"/sys/class/thermal\": warn_above_celsius = NaN: \
///      must be a finite number",
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct TemperatureConfig {
    /// The zone read.
    ///
    /// Default: [`ThermalZone::First`].
    pub zone: ThermalZone,
    /// The temperature, °C, above which the check is degraded.
    ///
    /// Default: [`DEFAULT_TEMPERATURE_WARN_ABOVE_CELSIUS`] (70 °C).
    pub warn_above_celsius: Option<f64>,
    /// The temperature, °C, above which the check is unhealthy; at least
    /// `warn_above_celsius`.
    ///
    /// Default: [`DEFAULT_TEMPERATURE_FAIL_ABOVE_CELSIUS`] (80 °C).
    pub fail_above_celsius: Option<f64>,
}

impl Default for TemperatureConfig {
    fn default() -> Self {
        TemperatureConfig {
            zone: ThermalZone::default(),
            warn_above_celsius: Some(DEFAULT_TEMPERATURE_WARN_ABOVE_CELSIUS),
            fail_above_celsius: Some(DEFAULT_TEMPERATURE_FAIL_ABOVE_CELSIUS),
        }
    }
}

impl TemperatureConfig {
    /// Checks every setting; the error names the check `name` (the folder of the
    /// zones), the field and the value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a threshold that is not finite, a failure threshold below
    /// the warning threshold, or an empty zone type.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let check = Validate::new(COMPONENT, name);
        if let ThermalZone::Type(kind) = &self.zone
            && kind.trim().is_empty()
        {
            return Err(check.error("zone", &self.zone, "must name a zone type"));
        }
        check.finite("warn_above_celsius", self.warn_above_celsius)?;
        check.finite("fail_above_celsius", self.fail_above_celsius)?;
        check.ordered(
            "fail_above_celsius",
            self.fail_above_celsius,
            "warn_above_celsius",
            self.warn_above_celsius,
        )?;
        Ok(())
    }
}

/// A thermal zone's temperature, from `/sys/class/thermal/thermal_zone<N>/temp`
/// (millidegrees Celsius): on a Raspberry Pi, the SoC's. Degraded above the warning
/// threshold, unhealthy above the failure threshold, and unhealthy when the zone is not
/// there or its file cannot be read or understood: `cpu-thermal (thermal_zone0) at
/// 72.5 °C: above the warning threshold of 70 °C`.
///
/// The zones are read under a root directory, `/` unless set, so that tests can read
/// fixtures. Machines without thermal zones (most containers and virtual machines)
/// have nothing to read: ask [`has_zone`](TemperatureCheck::has_zone) before
/// registering the check where that is expected.
///
/// # Examples
///
/// ```
/// use hardy_health::{CheckConfig, HealthRegistry, TemperatureCheck, ThermalZone};
///
/// let soc = TemperatureCheck::builder()
///     .zone(ThermalZone::Type("cpu-thermal".into()))
///     .warn_above_celsius(65.0)
///     .build()?;
/// let mut health = HealthRegistry::builder("plant-care");
/// if soc.has_zone() {
///     health = health.check("soc-temperature", soc, CheckConfig::default());
/// }
/// let health = health.build()?;
/// # let _ = health;
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TemperatureCheck {
    dir: PathBuf,
    config: TemperatureConfig,
}

/// A zone found: its folder's name (`thermal_zone0`), its folder and its type.
#[derive(Debug)]
struct Zone {
    name: String,
    path: PathBuf,
    kind: Option<String>,
}

impl TemperatureCheck {
    /// Starts building a temperature check.
    pub fn builder() -> TemperatureBuilder {
        TemperatureBuilder {
            root: PathBuf::from("/"),
            config: TemperatureConfig::default(),
        }
    }

    /// A temperature check with the settings of `config`, reading
    /// `/sys/class/thermal`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(config: TemperatureConfig) -> Result<Self, ConfigError> {
        TemperatureCheck::builder().config(config).build()
    }

    /// The folder of the zones: `/sys/class/thermal` under the root.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &TemperatureConfig {
        &self.config
    }

    /// Whether the zone is there (its `temp` file exists), now. Reads the file system.
    #[must_use]
    pub fn has_zone(&self) -> bool {
        self.locate()
            .is_ok_and(|zone| zone.path.join("temp").is_file())
    }

    /// The zone to read, or why there is none.
    fn locate(&self) -> Result<Zone, String> {
        if let ThermalZone::Index(index) = self.config.zone {
            return Ok(self.zone(format!("{PREFIX}{index}")));
        }
        let mut zones = self.zones()?;
        zones.sort_unstable_by_key(|(index, _)| *index);
        let found = match &self.config.zone {
            ThermalZone::Type(kind) => zones
                .into_iter()
                .map(|(_, name)| self.zone(name))
                .find(|zone| zone.kind.as_deref() == Some(kind.as_str())),
            _ => zones.into_iter().next().map(|(_, name)| self.zone(name)),
        };
        found.ok_or_else(|| match &self.config.zone {
            ThermalZone::Type(kind) => {
                format!("no thermal zone of type {kind:?} in {}", self.dir.display())
            }
            _ => format!("no thermal zone in {}", self.dir.display()),
        })
    }

    /// The zones' numbers and folder names, in no order; none when the folder is not
    /// there.
    fn zones(&self) -> Result<Vec<(u32, String)>, String> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(format!("{}: {error}", self.dir.display())),
        };
        let mut zones = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| format!("{}: {error}", self.dir.display()))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(index) = name
                .strip_prefix(PREFIX)
                .and_then(|index| index.parse().ok())
            {
                zones.push((index, name));
            }
        }
        Ok(zones)
    }

    fn zone(&self, name: String) -> Zone {
        let path = self.dir.join(&name);
        let kind = std::fs::read_to_string(path.join("type"))
            .ok()
            .map(|kind| kind.trim().to_string())
            .filter(|kind| !kind.is_empty());
        Zone { name, path, kind }
    }

    fn judge(&self, zone: &Zone, celsius: f64) -> CheckResult {
        let what = match &zone.kind {
            Some(kind) => format!("{kind} ({})", zone.name),
            None => zone.name.clone(),
        };
        verdict(
            format!("{what} at {celsius:.1} °C"),
            [above(
                celsius,
                self.config.warn_above_celsius,
                self.config.fail_above_celsius,
                |limit| format!("{limit} °C"),
            )],
        )
    }
}

impl HealthCheck for TemperatureCheck {
    async fn check(&self) -> CheckResult {
        // The folder and files of /sys are made by the kernel when read; see `read`.
        let reading = self.locate().and_then(|zone| {
            let file = zone.path.join("temp");
            let celsius = read(&file).and_then(|text| parse_millidegrees(&text, &file))?;
            Ok((zone, celsius))
        });
        match reading {
            Ok((zone, celsius)) => self.judge(&zone, celsius),
            Err(message) => CheckResult::unhealthy(message),
        }
    }
}

/// Builds a [`TemperatureCheck`]; made by [`TemperatureCheck::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct TemperatureBuilder {
    root: PathBuf,
    config: TemperatureConfig,
}

impl TemperatureBuilder {
    /// Reads the zones in `<root>/sys/class/thermal` instead of `/sys/class/thermal`.
    /// Default: `/`.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The zone read. Default: [`ThermalZone::First`].
    pub fn zone(mut self, zone: ThermalZone) -> Self {
        self.config.zone = zone;
        self
    }

    /// The temperature, °C, above which the check is degraded; `None` for no such
    /// threshold. Default: [`DEFAULT_TEMPERATURE_WARN_ABOVE_CELSIUS`] (70 °C).
    pub fn warn_above_celsius(mut self, celsius: impl Into<Option<f64>>) -> Self {
        self.config.warn_above_celsius = celsius.into();
        self
    }

    /// The temperature, °C, above which the check is unhealthy; `None` for no such
    /// threshold. Default: [`DEFAULT_TEMPERATURE_FAIL_ABOVE_CELSIUS`] (80 °C).
    pub fn fail_above_celsius(mut self, celsius: impl Into<Option<f64>>) -> Self {
        self.config.fail_above_celsius = celsius.into();
        self
    }

    /// Replaces every setting with `config`'s.
    pub fn config(mut self, config: TemperatureConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates the settings and builds the check.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the folder of the zones and the first bad setting.
    pub fn build(self) -> Result<TemperatureCheck, ConfigError> {
        let dir = under(&self.root, THERMAL);
        self.config.validate(&dir.display().to_string())?;
        Ok(TemperatureCheck {
            dir,
            config: self.config,
        })
    }
}

/// `text`, the contents of a zone's `temp` file `file` (`45678`: millidegrees
/// Celsius), in degrees.
fn parse_millidegrees(text: &str, file: &Path) -> Result<f64, String> {
    let value = text.trim();
    let millidegrees: i32 = value.parse().map_err(|_| {
        format!(
            "{}: {value:?} is not a temperature in millidegrees Celsius",
            file.display()
        )
    })?;
    Ok(f64::from(millidegrees) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn parse(text: &str) -> Result<f64, String> {
        parse_millidegrees(text, Path::new("/t/temp"))
    }

    #[test]
    fn millidegrees_become_degrees() {
        assert_eq!(parse("45678\n"), Ok(45.678));
        assert_eq!(parse("-5000"), Ok(-5.0));
        assert_eq!(parse("0"), Ok(0.0));
    }

    #[test]
    fn malformed_temperatures_name_the_file_and_the_value() {
        assert_eq!(
            parse("hot\n"),
            Err("/t/temp: \"hot\" is not a temperature in millidegrees Celsius".into())
        );
        assert_eq!(
            parse("45.5"),
            Err("/t/temp: \"45.5\" is not a temperature in millidegrees Celsius".into())
        );
        assert_eq!(
            parse(""),
            Err("/t/temp: \"\" is not a temperature in millidegrees Celsius".into())
        );
    }

    #[test]
    fn the_message_names_the_zone_and_its_type() {
        let check = TemperatureCheck::builder().build().expect("valid");
        let zone = |kind: Option<&str>| Zone {
            name: "thermal_zone0".into(),
            path: PathBuf::from("/sys/class/thermal/thermal_zone0"),
            kind: kind.map(str::to_string),
        };
        let result = check.judge(&zone(Some("cpu-thermal")), 72.5);
        assert_eq!(result.status, Status::Degraded);
        assert_eq!(
            result.message.as_deref(),
            Some("cpu-thermal (thermal_zone0) at 72.5 °C: above the warning threshold of 70 °C")
        );
        let result = check.judge(&zone(None), 85.0);
        assert_eq!(result.status, Status::Unhealthy);
        assert_eq!(
            result.message.as_deref(),
            Some("thermal_zone0 at 85.0 °C: above the failure threshold of 80 °C")
        );
        assert_eq!(check.judge(&zone(None), 70.0).status, Status::Healthy);
    }

    #[test]
    fn every_rule_rejects_its_bad_value() {
        let error = |config: TemperatureConfig| config.validate("t").unwrap_err().to_string();
        let base = TemperatureConfig::default;
        assert_eq!(
            error(TemperatureConfig {
                fail_above_celsius: Some(f64::INFINITY),
                ..base()
            }),
            "temperature check \"t\": fail_above_celsius = inf: must be a finite number"
        );
        assert_eq!(
            error(TemperatureConfig {
                fail_above_celsius: Some(60.0),
                ..base()
            }),
            "temperature check \"t\": fail_above_celsius = 60.0: \
             must be at least warn_above_celsius (70.0)"
        );
        assert_eq!(
            error(TemperatureConfig {
                zone: ThermalZone::Type(" ".into()),
                ..base()
            }),
            "temperature check \"t\": zone = Type(\" \"): must name a zone type"
        );
        assert!(
            TemperatureConfig {
                warn_above_celsius: None,
                fail_above_celsius: Some(-10.0),
                ..base()
            }
            .validate("t")
            .is_ok()
        );
    }
}

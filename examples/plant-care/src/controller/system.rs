//! The machine's own health beside the plants': the disk the controller runs from and
//! the Raspberry Pi's SoC temperature.

use std::path::{Path, PathBuf};

use hardy::ConfigError;
use hardy::health::{CheckConfig, HealthBuilder, TemperatureCheck, ThermalZone};

/// The free share of the disk below which the controller is degraded, percent.
const DISK_WARN_BELOW_PERCENT: f64 = 10.0;
/// The free share of the disk below which the controller is unhealthy, percent.
const DISK_FAIL_BELOW_PERCENT: f64 = 2.0;
/// The type of a Raspberry Pi's SoC thermal zone.
const SOC_ZONE: &str = "cpu-thermal";

/// The folder the controller works in: it keeps no files of its own, so the disk that
/// matters is the one it runs from (the systemd unit's is `/`).
pub(super) fn working_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// Adds to `health` the check `disk` (the file system of `dir`: degraded below 10 %
/// free, unhealthy below 2 %; Unix only) and, when the machine whose `/sys` is under
/// `root` has a `cpu-thermal` zone (a Raspberry Pi), the check `soc-temperature`
/// (degraded above 70 °C, unhealthy above 80 °C, where the Pi slows down). Elsewhere
/// (a laptop running the simulated garden, a container in CI) there is no such zone
/// and no temperature check: a check of a zone that is not there would only make the
/// controller unready, and a laptop's own sensors say nothing of a garden's device.
pub(super) fn checks(
    health: HealthBuilder,
    root: &Path,
    dir: &Path,
) -> Result<HealthBuilder, ConfigError> {
    #[cfg(unix)]
    let health = health.check(
        "disk",
        hardy::health::DiskSpaceCheck::builder(dir)
            .warn_below_percent(DISK_WARN_BELOW_PERCENT)
            .fail_below_percent(DISK_FAIL_BELOW_PERCENT)
            .build()?,
        CheckConfig::default(),
    );
    #[cfg(not(unix))]
    let _ = (dir, DISK_WARN_BELOW_PERCENT, DISK_FAIL_BELOW_PERCENT);
    let soc = TemperatureCheck::builder()
        .root(root)
        .zone(ThermalZone::Type(SOC_ZONE.to_string()))
        .build()?;
    Ok(if soc.has_zone() {
        health.check("soc-temperature", soc, CheckConfig::default())
    } else {
        health
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardy::health::{HealthRegistry, Status};

    /// A folder of its own standing for a machine's root; removed when dropped.
    struct Root(PathBuf);

    impl Root {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("plant-care-system-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create");
            Root(dir)
        }

        /// Adds `thermal_zone<index>` of `kind` at `millidegrees`.
        fn zone(&self, index: u32, kind: &str, millidegrees: i32) {
            let zone = self
                .0
                .join(format!("sys/class/thermal/thermal_zone{index}"));
            std::fs::create_dir_all(&zone).expect("create");
            std::fs::write(zone.join("type"), format!("{kind}\n")).expect("write");
            std::fs::write(zone.join("temp"), format!("{millidegrees}\n")).expect("write");
        }

        fn registry(&self) -> HealthRegistry {
            checks(HealthRegistry::builder("plant-care"), &self.0, &self.0)
                .expect("valid")
                .build()
                .expect("valid")
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn without_a_soc_zone_there_is_no_temperature_check() {
        let bare = Root::new("bare");
        let health = bare.registry();
        assert_eq!(health.status("soc-temperature"), None);
        let report = health.check_health().await;
        assert!(!report.checks.contains_key("soc-temperature"));
        // A laptop's zones are not the Pi's SoC.
        let laptop = Root::new("laptop");
        laptop.zone(0, "acpitz", 99_000);
        laptop.zone(1, "x86_pkg_temp", 99_000);
        let report = laptop.registry().check_health().await;
        assert!(!report.checks.contains_key("soc-temperature"));
        assert!(
            report
                .checks
                .values()
                .all(|check| check.message.as_deref().is_none_or(|m| !m.contains("°C")))
        );
    }

    #[tokio::test]
    async fn on_a_pi_the_soc_temperature_is_checked() {
        let pi = Root::new("pi");
        pi.zone(0, "cpu-thermal", 47_500);
        let health = pi.registry();
        let report = health.check_health().await;
        let soc = &report.checks["soc-temperature"];
        assert_eq!(soc.status, Status::Healthy);
        assert_eq!(
            soc.message.as_deref(),
            Some("cpu-thermal (thermal_zone0) at 47.5 °C")
        );

        let hot = Root::new("hot");
        hot.zone(0, "cpu-thermal", 84_000);
        let health = hot.registry();
        let report = health.run_now("soc-temperature").await.expect("registered");
        assert_eq!(
            report.message.as_deref(),
            Some("cpu-thermal (thermal_zone0) at 84.0 °C: above the failure threshold of 80 °C")
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_disk_of_the_folder_is_checked() {
        let root = Root::new("disk");
        let report = root.registry().check_health().await;
        let disk = &report.checks["disk"];
        let message = disk.message.as_deref().unwrap_or_default();
        assert!(message.contains(" free of "), "{message}");
        assert!(
            message.contains(&format!(" on {}", root.0.display())),
            "{message}"
        );
    }
}

//! The system checks against fixture files (a Raspberry Pi's `/proc` and `/sys` when
//! healthy, degraded and unhealthy; malformed and missing files; a laptop's thermal
//! zones) and the disk space check against the real temporary folder.
#![cfg(feature = "system")]

use std::path::{Path, PathBuf};

use hardy_health::{
    CheckConfig, CheckResult, HealthCheck, HealthRegistry, LoadAverage, LoadCheck, MemoryCheck,
    Status, TemperatureCheck, ThermalZone,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn memory(root: &str) -> MemoryCheck {
    MemoryCheck::builder()
        .root(fixture(root))
        .build()
        .expect("valid")
}

fn load(root: &str) -> LoadCheck {
    LoadCheck::builder()
        .root(fixture(root))
        .cpus(4)
        .build()
        .expect("valid")
}

fn temperature(root: &str, zone: ThermalZone) -> TemperatureCheck {
    TemperatureCheck::builder()
        .root(fixture(root))
        .zone(zone)
        .build()
        .expect("valid")
}

fn said(result: &CheckResult) -> &str {
    result.message.as_deref().unwrap_or("")
}

#[tokio::test]
async fn memory_from_meminfo_fixtures() {
    let result = memory("pi-healthy").check().await;
    assert_eq!(result.status, Status::Healthy);
    assert_eq!(said(&result), "2.3 GiB available of 3.7 GiB (62.1 %)");

    let result = memory("pi-degraded").check().await;
    assert_eq!(result.status, Status::Degraded);
    assert_eq!(
        said(&result),
        "266 MiB available of 3.7 GiB (7.0 %): below the warning threshold of 10 %"
    );

    let result = memory("pi-unhealthy").check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        "114 MiB available of 3.7 GiB (3.0 %): below the failure threshold of 5 %"
    );

    // A byte threshold alone, the shares switched off.
    let bytes = MemoryCheck::builder()
        .root(fixture("pi-healthy"))
        .warn_below_percent(None)
        .fail_below_percent(None)
        .fail_below_bytes(3 << 30)
        .build()
        .expect("valid");
    let result = bytes.check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert!(
        said(&result).ends_with("below the failure threshold of 3.0 GiB"),
        "{result:?}"
    );
}

#[tokio::test]
async fn load_from_loadavg_fixtures() {
    let result = load("pi-healthy").check().await;
    assert_eq!(result.status, Status::Healthy);
    assert_eq!(
        said(&result),
        "5-minute load average 0.35 on 4 CPUs (0.09 per CPU)"
    );

    let result = load("pi-degraded").check().await;
    assert_eq!(result.status, Status::Degraded);
    assert_eq!(
        said(&result),
        "5-minute load average 6.00 on 4 CPUs (1.50 per CPU): above the warning threshold of 1 per CPU"
    );

    let result = load("pi-unhealthy").check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        "5-minute load average 10.00 on 4 CPUs (2.50 per CPU): above the failure threshold of 2 per CPU"
    );

    // The 1-minute average of the degraded Pi is past the failure threshold already.
    let quick = LoadCheck::builder()
        .root(fixture("pi-degraded"))
        .average(LoadAverage::OneMinute)
        .cpus(2)
        .build()
        .expect("valid");
    let result = quick.check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert!(said(&result).starts_with("1-minute load average 7.10 on 2 CPUs (3.55 per CPU)"));
}

#[tokio::test]
async fn load_divides_by_the_cpus_this_process_may_use_unless_told() {
    let cpus = std::thread::available_parallelism().expect("a count").get();
    let check = LoadCheck::builder()
        .root(fixture("pi-degraded"))
        .build()
        .expect("valid");
    let result = check.check().await;
    let plural = if cpus == 1 { "" } else { "s" };
    assert!(
        said(&result).starts_with(&format!(
            "5-minute load average 6.00 on {cpus} CPU{plural} ("
        )),
        "{result:?}"
    );
    let per_cpu = 6.0 / cpus as f64;
    let expected = if per_cpu > 2.0 {
        Status::Unhealthy
    } else if per_cpu > 1.0 {
        Status::Degraded
    } else {
        Status::Healthy
    };
    assert_eq!(result.status, expected);
}

#[tokio::test]
async fn temperature_from_thermal_zone_fixtures() {
    let result = temperature("pi-healthy", ThermalZone::First).check().await;
    assert_eq!(result.status, Status::Healthy);
    assert_eq!(said(&result), "cpu-thermal (thermal_zone0) at 48.3 °C");

    let result = temperature("pi-degraded", ThermalZone::First).check().await;
    assert_eq!(result.status, Status::Degraded);
    assert_eq!(
        said(&result),
        "cpu-thermal (thermal_zone0) at 73.5 °C: above the warning threshold of 70 °C"
    );

    let result = temperature("pi-unhealthy", ThermalZone::Type("cpu-thermal".into()))
        .check()
        .await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        "cpu-thermal (thermal_zone0) at 84.0 °C: above the failure threshold of 80 °C"
    );
}

#[tokio::test]
async fn zones_are_chosen_by_number_or_type() {
    // The zones are 2, 3 and 10: the first is 2 (not 10, which sorts first as text).
    let result = temperature("laptop", ThermalZone::First).check().await;
    assert_eq!(said(&result), "acpitz (thermal_zone2) at 40.0 °C");
    let result = temperature("laptop", ThermalZone::Type("x86_pkg_temp".into()))
        .check()
        .await;
    assert_eq!(result.status, Status::Degraded);
    assert!(said(&result).starts_with("x86_pkg_temp (thermal_zone10) at 75.0 °C"));
    // A zone without a type file is named by its folder.
    let result = temperature("laptop", ThermalZone::Index(3)).check().await;
    assert_eq!(said(&result), "thermal_zone3 at 52.0 °C");
    assert!(temperature("laptop", ThermalZone::Index(3)).has_zone());

    let thermal = fixture("laptop").join("sys/class/thermal");
    let missing = temperature("laptop", ThermalZone::Type("cpu-thermal".into()));
    assert!(!missing.has_zone());
    let result = missing.check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        format!(
            "no thermal zone of type \"cpu-thermal\" in {}",
            thermal.display()
        )
    );
    let result = temperature("laptop", ThermalZone::Index(7)).check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert!(
        said(&result).starts_with(&format!(
            "{}: ",
            thermal.join("thermal_zone7/temp").display()
        )),
        "{result:?}"
    );
}

#[tokio::test]
async fn malformed_files_are_unhealthy_naming_the_file_and_the_value() {
    let root = fixture("malformed");
    let result = memory("malformed").check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        format!(
            "{} line 3: \"MemAvailable:    plenty kB\" is not a number of kB",
            root.join("proc/meminfo").display()
        )
    );
    let result = load("malformed").check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        format!(
            "{}: the 5-minute average \"lots\" is not a load",
            root.join("proc/loadavg").display()
        )
    );
    let result = temperature("malformed", ThermalZone::First).check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        format!(
            "{}: \"N/A\" is not a temperature in millidegrees Celsius",
            root.join("sys/class/thermal/thermal_zone0/temp").display()
        )
    );
}

#[tokio::test]
async fn missing_files_are_unhealthy_naming_the_file() {
    let root = fixture("nothing-here");
    // The OS's words for a file that is not there, after the file's name.
    let error = |file: &Path| std::fs::read(file).unwrap_err().to_string();
    let result = memory("nothing-here").check().await;
    assert_eq!(result.status, Status::Unhealthy);
    let meminfo = root.join("proc/meminfo");
    assert_eq!(
        said(&result),
        format!("{}: {}", meminfo.display(), error(&meminfo))
    );
    let result = load("nothing-here").check().await;
    assert_eq!(result.status, Status::Unhealthy);
    let loadavg = root.join("proc/loadavg");
    assert_eq!(
        said(&result),
        format!("{}: {}", loadavg.display(), error(&loadavg))
    );

    let none = temperature("nothing-here", ThermalZone::First);
    assert!(!none.has_zone());
    let result = none.check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        said(&result),
        format!(
            "no thermal zone in {}",
            root.join("sys/class/thermal").display()
        )
    );
}

#[tokio::test]
async fn the_registry_reports_the_worst_with_each_message() {
    let root = fixture("pi-degraded");
    let health = HealthRegistry::builder("pi")
        .check(
            "memory",
            MemoryCheck::builder().root(&root).build().expect("valid"),
            CheckConfig::default(),
        )
        .check(
            "load",
            LoadCheck::builder()
                .root(&root)
                .cpus(4)
                .build()
                .expect("valid"),
            CheckConfig::default(),
        )
        .check(
            "soc",
            TemperatureCheck::builder()
                .root(&root)
                .build()
                .expect("valid"),
            CheckConfig::default(),
        )
        .build()
        .expect("valid");
    let report = health.check_health().await;
    assert_eq!(report.status, Status::Degraded);
    assert!(report.status.is_serving());
    for (name, check) in &report.checks {
        assert_eq!(check.status, Status::Degraded, "{name}");
        assert!(
            check
                .message
                .as_deref()
                .is_some_and(|message| message.contains("above the warning threshold")
                    || message.contains("below the warning threshold")),
            "{name}: {check:?}"
        );
    }
    assert_eq!(report.checks.len(), 3);
}

#[test]
fn thresholds_are_validated_when_built() {
    let error = MemoryCheck::builder()
        .warn_below_percent(4.0)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "memory check \"/proc/meminfo\": warn_below_percent = 4.0: must be at least fail_below_percent (5.0)"
    );
    assert_eq!(error.field(), "warn_below_percent");
    let error = MemoryCheck::builder()
        .fail_below_percent(-3.0)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "memory check \"/proc/meminfo\": fail_below_percent = -3.0: must be within 0..=100"
    );
    let error = LoadCheck::builder().cpus(0).build().unwrap_err();
    assert_eq!(
        error.to_string(),
        "load check \"/proc/loadavg\": cpus = 0: must be greater than zero"
    );
    let error = LoadCheck::builder()
        .warn_above_per_cpu(f64::NAN)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "load check \"/proc/loadavg\": warn_above_per_cpu = NaN: must be a finite number, at least 0"
    );
    let error = TemperatureCheck::builder()
        .warn_above_celsius(85.0)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "temperature check \"/sys/class/thermal\": fail_above_celsius = 80.0: must be at least warn_above_celsius (85.0)"
    );
    let error = TemperatureCheck::builder()
        .root("/host")
        .fail_above_celsius(f64::NEG_INFINITY)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "temperature check \"/host/sys/class/thermal\": fail_above_celsius = -inf: must be a finite number"
    );
    // A threshold switched off is never out of order.
    assert!(
        TemperatureCheck::builder()
            .warn_above_celsius(85.0)
            .fail_above_celsius(None)
            .build()
            .is_ok()
    );
}

#[cfg(unix)]
mod disk {
    use super::*;
    use hardy_health::DiskSpaceCheck;

    /// A folder of its own in the temporary folder, with a file in it so that its file
    /// system has something in use; removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("hardy-health-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create");
            std::fs::write(dir.join("data"), [7_u8; 4096]).expect("write");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn thresholds_of_nothing_are_healthy_on_a_real_disk() {
        let dir = TempDir::new("nothing");
        let check = DiskSpaceCheck::builder(&dir.0)
            .warn_below_percent(0.0)
            .fail_below_percent(0.0)
            .warn_below_bytes(0)
            .fail_below_bytes(0)
            .build()
            .expect("valid");
        let result = check.check().await;
        assert_eq!(result.status, Status::Healthy, "{result:?}");
        let message = said(&result);
        assert!(message.contains(" free of "), "{message}");
        assert!(
            message.ends_with(&format!(" %) on {}", dir.0.display())),
            "{message}"
        );
    }

    #[tokio::test]
    async fn thresholds_past_any_disk_are_unhealthy_on_a_real_disk() {
        let dir = TempDir::new("past");
        let bytes = DiskSpaceCheck::builder(&dir.0)
            .warn_below_percent(None)
            .fail_below_percent(None)
            .fail_below_bytes(u64::MAX)
            .build()
            .expect("valid");
        let result = bytes.check().await;
        assert_eq!(result.status, Status::Unhealthy);
        assert!(
            said(&result).ends_with(": below the failure threshold of 16.0 EiB"),
            "{result:?}"
        );
        // Something is in use (the file written), so less than all of it is free.
        let share = DiskSpaceCheck::builder(&dir.0)
            .warn_below_percent(100.0)
            .fail_below_percent(100.0)
            .build()
            .expect("valid");
        let result = share.check().await;
        assert_eq!(result.status, Status::Unhealthy);
        assert!(
            said(&result).ends_with(": below the failure threshold of 100 %"),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_path_that_is_not_there_is_unhealthy() {
        let path = fixture("nothing-here");
        let check = DiskSpaceCheck::builder(&path).build().expect("valid");
        let result = check.check().await;
        assert_eq!(result.status, Status::Unhealthy);
        assert_eq!(
            said(&result),
            format!(
                "statvfs {}: ENOENT: No such file or directory",
                path.display()
            )
        );
    }

    #[test]
    fn thresholds_are_validated_naming_the_path() {
        let error = DiskSpaceCheck::builder("/var/lib/plant-care")
            .warn_below_bytes(1 << 20)
            .fail_below_bytes(1 << 30)
            .build()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "disk space check \"/var/lib/plant-care\": warn_below_bytes = 1048576: must be at least fail_below_bytes (1073741824)"
        );
        let error = DiskSpaceCheck::builder("/data")
            .warn_below_percent(f64::INFINITY)
            .build()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "disk space check \"/data\": warn_below_percent = inf: must be within 0..=100"
        );
    }

    #[test]
    fn bounds() {
        fn check<T: HealthCheck + Clone + Send + Sync + std::fmt::Debug>() {}
        check::<DiskSpaceCheck>();
    }
}

#[test]
fn bounds() {
    fn check<T: HealthCheck + Clone + Send + Sync + std::fmt::Debug>() {}
    check::<MemoryCheck>();
    check::<LoadCheck>();
    check::<TemperatureCheck>();
}

#[cfg(feature = "serde")]
#[test]
fn configs_read_from_toml() {
    use hardy_health::{LoadConfig, MemoryConfig, TemperatureConfig};

    let load: LoadConfig = toml::from_str("average = \"15m\"\ncpus = 4").expect("valid");
    assert_eq!(load.average, LoadAverage::FifteenMinutes);
    assert_eq!(load.cpus, Some(4));
    assert_eq!(
        load.warn_above_per_cpu,
        LoadConfig::default().warn_above_per_cpu
    );
    let soc: TemperatureConfig =
        toml::from_str("zone = { type = \"cpu-thermal\" }\nwarn_above_celsius = 65.0")
            .expect("valid");
    assert_eq!(soc.zone, ThermalZone::Type("cpu-thermal".into()));
    assert_eq!(soc.warn_above_celsius, Some(65.0));
    let first: TemperatureConfig = toml::from_str("zone = \"first\"").expect("valid");
    assert_eq!(first.zone, ThermalZone::First);
    let memory: MemoryConfig = toml::from_str("fail_below_bytes = 67108864").expect("valid");
    assert_eq!(memory.fail_below_bytes, Some(64 << 20));
    assert!(toml::from_str::<MemoryConfig>("free = 3").is_err());
    assert!(toml::from_str::<LoadConfig>("average = \"2m\"").is_err());
}

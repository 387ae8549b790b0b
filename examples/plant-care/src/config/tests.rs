//! The config's checks: every error listed, with its field and value.

use super::*;

#[test]
fn the_built_in_garden_is_valid() {
    assert_eq!(Config::default().validate(), Ok(()));
}

#[test]
fn the_pi_config_in_deploy_is_valid() {
    let config = Config::from_toml(include_str!("../../deploy/plant-care.toml")).expect("parses");
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.backend, Backend::Linux);
    let address = config.server.address().expect("an address");
    assert!(address.ip().is_loopback(), "{address}: this machine only");
}

#[test]
fn the_systemd_unit_stops_by_sigterm_in_time_and_runs_the_failsafe() {
    let unit = include_str!("../../deploy/plant-care.service");
    let setting = |key: &str| {
        unit.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{key} is set"))
    };
    assert_eq!(setting("KillSignal"), "SIGTERM");
    let stop = setting("TimeoutStopSec");
    let stop = Duration::from_secs(
        stop.strip_suffix('s')
            .and_then(|seconds| seconds.parse().ok())
            .expect("seconds"),
    );
    assert!(
        stop > MAX_SHUTDOWN_GRACE + Duration::from_secs(5),
        "{stop:?}: room for the longest shutdown grace"
    );
    assert!(setting("ExecStopPost").ends_with("pumps-off --config /etc/plant-care.toml"));
    assert!(setting("ExecStart").ends_with("run --config /etc/plant-care.toml"));
    assert_eq!(setting("Restart"), "on-failure");
}

#[test]
fn every_error_is_listed() {
    let config = Config::from_toml(
        r#"
        read_every = "0s"
        min_quality = 2.0
        [policies.breaker.default]
        failure_ratio = 1.5
        [policies.retry."read:basil"]
        max_attempts = 0
        [[plants]]
        id = "basil"
        min_moisture = 70
        max_moisture = 40
        dose_ml = 0
        [[plants]]
        id = "basil"
        min_moisture = 10
        max_moisture = 40
        dose_ml = 100
        pump = { flow_ml_per_s = 0.0 }
        "#,
    )
    .expect("parses");
    let errors = config.validate().expect_err("invalid").lines();
    assert_eq!(
        errors,
        [
            "pump \"basil\": flow_ml_per_s = 0.0: must be a finite number greater than zero",
            "policies.breaker.default.failure_ratio = 1.5: must be within 0..=1",
            "policies.retry.read:basil.max_attempts = 0: must be greater than zero",
            "read_every = 0ns: must be within 5s..=86400s",
            "min_quality = 2: must be within 0..=1",
            "plant \"basil\": min_moisture = 70: must be below max_moisture (40)",
            "plant \"basil\": dose_ml = 0: must be within 1..=2000",
            "plant \"basil\": id given twice",
        ]
    );
}

#[test]
fn values_that_cannot_work_are_all_refused_with_their_field() {
    // Each of these passed validation before and failed later: a panic in the pump,
    // an overflow at the second watering, a huge allocation in the simulation, a
    // server that could not bind.
    let mut text = String::from(
        r#"
        read_every = "1ns"
        [server]
        listen = "everywhere"
        header_timeout = "1ns"
        max_connections = 0
        shutdown_grace = "1h"
        [[plants]]
        id = ""
        min_moisture = 10
        max_moisture = 40
        dose_ml = 100
        pump = { flow_ml_per_s = 1e-300, cooldown = "500000000000y", interlock_every = "1ns" }
        [[plants]]
        id = "fern"
        min_moisture = 10
        max_moisture = 40
        dose_ml = 1900
        pump = { max_run = "10s" }
        "#,
    );
    for i in 0..70 {
        text.push_str(&format!(
            "[[plants]]\nid = \"p{i}\"\nmin_moisture = 1\nmax_moisture = 2\ndose_ml = 1\n"
        ));
    }
    let errors = Config::from_toml(&text)
        .expect("parses")
        .validate()
        .expect_err("invalid")
        .lines();
    let expected = [
        "pump \"\": flow_ml_per_s = 1e-300: must be within 0.01..=10000.0",
        "pump \"\": cooldown = 15778800000000000000s: must be within 0ns..=604800s",
        "pump \"\": interlock_every = 1ns: must be within 10ms..=60s",
        "read_every = 1ns: must be within 5s..=86400s",
        "server.listen = \"everywhere\": must be an IP address and port, e.g. \"127.0.0.1:8080\"",
        "server.header_timeout = 1ns: must be within 100ms..=600s",
        "server.max_connections = 0: must be within 1..=1024",
        "server.shutdown_grace = 3600s: must be at most 60s",
        "plants: 72 plants, at most 64 can be cared for",
        "plant \"\": id must not be empty",
        "plant \"fern\": dose_ml = 1900: up to 2470 ml in warm air takes 123.5s at 20 ml/s, more than the pump's max_run (10s)",
    ];
    assert_eq!(errors, expected);
}

#[test]
fn a_dose_past_the_daily_budget_is_refused() {
    let config = Config::from_toml(
        "[[plants]]\nid = \"basil\"\nmin_moisture = 10\nmax_moisture = 40\ndose_ml = 500\npump = { daily_budget_ml = 600 }\n",
    )
    .expect("parses");
    assert_eq!(
        config.validate().map_err(|errors| errors.lines()),
        Err(vec![
            "plant \"basil\": dose_ml = 500: up to 650 ml in warm air, more than the pump's daily_budget_ml (600)".to_string()
        ])
    );
}

#[test]
fn unknown_keys_are_errors_with_their_place() {
    let error = Config::from_toml("[server]\nlisten = \"x\"\nport = 3\n")
        .expect_err("unknown key")
        .to_string();
    assert!(error.contains("port"), "{error}");
    assert!(error.contains("line 3"), "{error}");
    let config = Config::from_toml("[policies.retry.default]\nretries = 3\n").expect("parses");
    let errors = config.validate().expect_err("unknown policy key");
    assert!(
        matches!(errors.problems(), [Problem::Policy(problem)] if problem.path() == "retry.default.retries"),
        "{errors:?}"
    );
    let errors = errors.lines();
    assert!(
        errors[0].starts_with("policies.retry.default.retries: unknown field `retries`"),
        "{errors:?}"
    );
}

#[test]
fn overrides_change_one_setting_and_keep_the_rest() {
    let config = Config::from_toml(
        "[policies.breaker.default]\nopen_for = \"1m\"\n[policies.rate_limit.\"water:basil\"]\nlimit = 2\n",
    )
    .expect("parses");
    let document = config.policies.document().expect("valid");
    let breaker = &document.entries::<hardy::breaker::BreakerConfig>()["default"];
    assert_eq!(breaker.open_for, Duration::from_secs(60));
    assert_eq!(
        breaker.consecutive_failures, 5,
        "kept from the built-in policies"
    );
    let basil = &document.entries::<hardy::rate_limit::RateLimitConfig>()["water:basil"];
    assert_eq!(
        (basil.limit, basil.burst),
        (2, Some(1)),
        "over the built-in default"
    );
    assert_eq!(
        document.entries::<hardy::rate_limit::RateLimitConfig>()["default"].limit,
        4
    );
}

#[test]
fn settings_set_in_code_lay_over_the_built_in_policies() {
    let mut policies = Policies::default();
    policies.set("retry", "default", "seed", 7);
    policies.set("breaker", "default", "seed", 7);
    let document = policies.document().expect("valid");
    assert_eq!(
        document.entries::<hardy::retry::RetryConfig>()["default"].seed,
        Some(7)
    );
    assert_eq!(
        document.entries::<hardy::retry::RetryConfig>()["default"].max_attempts,
        3
    );
    assert_eq!(
        document.entries::<hardy::breaker::BreakerConfig>()["default"].seed,
        Some(7)
    );
}

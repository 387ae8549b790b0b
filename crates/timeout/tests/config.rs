//! Configs: defaults, validation, builders, operation tables and serde.

use std::time::Duration;

use hardy_timeout::{
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_TIMEOUT, OperationTimeouts, OperationTimeoutsConfig,
    Timeout, TimeoutConfig,
};
use proptest::prelude::*;

#[test]
fn defaults_are_the_documented_constants() {
    assert_eq!(TimeoutConfig::default().timeout, DEFAULT_TIMEOUT);
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(30));
    let table = OperationTimeoutsConfig::default();
    assert_eq!(table.default, DEFAULT_OPERATION_TIMEOUT);
    assert!(table.operations.is_empty());
    assert_eq!(
        Timeout::builder("t").build().unwrap().duration(),
        DEFAULT_TIMEOUT
    );
}

#[test]
fn a_zero_timeout_is_refused_by_name_field_and_value() {
    let error = Timeout::new("pump-1", Duration::ZERO).unwrap_err();
    assert_eq!(error.component(), "timeout");
    assert_eq!(error.instance(), "pump-1");
    assert_eq!(error.field(), "timeout");
    assert_eq!(error.value(), "0ns");
    assert_eq!(
        error.to_string(),
        "timeout \"pump-1\": timeout = 0ns: must be greater than zero"
    );
}

#[test]
fn a_zero_default_operation_timeout_is_refused() {
    let error = OperationTimeouts::builder("aws")
        .default_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "default");
}

#[test]
fn a_zero_operation_timeout_names_the_operation() {
    let error = OperationTimeouts::builder("aws")
        .operation("ec2_run_instances", Duration::from_secs(180))
        .operation("ec2_terminate_instances", Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "operations.ec2_terminate_instances");
    assert_eq!(
        error.path(),
        "timeout.aws.operations.ec2_terminate_instances"
    );
}

#[tokio::test(start_paused = true)]
async fn each_listed_operation_has_its_own_named_timeout() {
    let table = OperationTimeouts::builder("aws")
        .operation("ec2_run_instances", Duration::from_secs(180))
        .operation("autoscaling_create_group", Duration::from_secs(120))
        .build()
        .unwrap();
    let run = table.get("ec2_run_instances");
    assert_eq!(
        (run.name().as_str(), run.duration()),
        ("ec2_run_instances", Duration::from_secs(180))
    );
    let other = table.get("s3_list_buckets");
    assert_eq!(
        (other.name().as_str(), other.duration()),
        ("aws", DEFAULT_OPERATION_TIMEOUT)
    );
    assert_eq!(table.operations().count(), 2);

    let result = table
        .call("autoscaling_create_group", || {
            std::future::pending::<Result<(), ()>>()
        })
        .await;
    let rejection = result.unwrap_err().into_rejection().unwrap();
    assert_eq!(rejection.name(), "autoscaling_create_group");
}

#[cfg(feature = "serde")]
#[test]
fn configs_read_human_durations_from_toml() {
    let config: TimeoutConfig = toml::from_str(r#"timeout = "2m 30s""#).unwrap();
    assert_eq!(config.timeout, Duration::from_secs(150));

    let table: OperationTimeoutsConfig = toml::from_str(
        r#"
        default = "30s"
        [operations]
        ec2_run_instances = "3m"
        ec2_terminate_instances = "60s"
        "#,
    )
    .unwrap();
    assert_eq!(
        table.operations["ec2_run_instances"],
        Duration::from_secs(180)
    );
    assert_eq!(
        table.operations["ec2_terminate_instances"],
        Duration::from_secs(60)
    );
    OperationTimeouts::from_config("aws", table).unwrap();
}

#[cfg(feature = "serde")]
#[test]
fn missing_fields_take_their_defaults() {
    let config: TimeoutConfig = toml::from_str("").unwrap();
    assert_eq!(config, TimeoutConfig::default());
}

#[cfg(feature = "serde")]
#[test]
fn unknown_fields_and_bad_durations_are_errors() {
    let unknown = toml::from_str::<TimeoutConfig>(r#"timout = "2s""#).unwrap_err();
    assert!(unknown.to_string().contains("timout"), "{unknown}");
    let bad = toml::from_str::<TimeoutConfig>(r#"timeout = "soon""#).unwrap_err();
    assert!(bad.to_string().contains("timeout"), "{bad}");
}

#[cfg(feature = "serde")]
#[test]
fn configs_round_trip_through_json() {
    let mut table = OperationTimeoutsConfig::default();
    table
        .operations
        .insert("run".into(), Duration::from_millis(1_500));
    let text = serde_json::to_string(&table).unwrap();
    assert_eq!(text, r#"{"default":"30s","operations":{"run":"1s 500ms"}}"#);
    let back: OperationTimeoutsConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, table);
}

proptest! {
    #[test]
    fn validation_refuses_exactly_the_zero_timeout(nanos in prop_oneof![Just(0_u64), any::<u64>()]) {
        let config = TimeoutConfig { timeout: Duration::from_nanos(nanos) };
        prop_assert_eq!(config.validate("t").is_ok(), nanos > 0);
    }
}

//! `enabled = false` on a policy entry: the pattern is off for the operations that would
//! use it, its settings are kept, written back and switched on again in code.
#![cfg(feature = "config")]

use hardy::breaker::BreakerConfig;
use hardy::prelude::*;
use hardy::retry::RetryConfig;
use hardy::{PolicyDocument, StackPlan};

const DOCUMENT: &str = r#"
[breaker.aws_ec2]
enabled = false
consecutive_failures = 3

[breaker.aws_s3]
consecutive_failures = 7

[retry.default]
enabled = false
max_attempts = 4

[retry.upload]
enabled = true
max_attempts = 6

[operations.run_instances]
service = "aws_ec2"

[operations.put_object]
service = "aws_s3"

[operations.upload]
service = "aws_s3"
"#;

fn plan(policies: &Policies, operation: &str) -> StackPlan {
    policies.plan(operation)
}

#[test]
fn an_entry_switched_off_leaves_its_operations_without_the_pattern() {
    let policies = Policies::from_toml(DOCUMENT).expect("valid policies");
    assert_eq!(plan(&policies, "run_instances").breaker, None);
    assert_eq!(
        plan(&policies, "put_object").breaker.as_deref(),
        Some("aws_s3")
    );
    // The settings are kept.
    let document = policies.document();
    assert_eq!(
        document.entries::<BreakerConfig>()["aws_ec2"].consecutive_failures,
        3
    );
    assert!(!document.is_enabled::<BreakerConfig>("aws_ec2"));
    assert!(document.is_enabled::<BreakerConfig>("aws_s3"));
}

#[test]
fn a_default_switched_off_switches_off_every_entry_that_does_not_say_otherwise() {
    let policies = Policies::from_toml(DOCUMENT).expect("valid policies");
    // put_object's retry would be made from the default: off.
    assert_eq!(plan(&policies, "put_object").retry, None);
    // upload's own entry says enabled = true.
    assert_eq!(plan(&policies, "upload").retry.as_deref(), Some("upload"));
    assert_eq!(
        policies.document().entries::<RetryConfig>()["default"].max_attempts,
        4
    );
}

#[test]
fn the_switch_is_written_back_and_read_again() {
    let document = PolicyDocument::from_toml(DOCUMENT).expect("valid document");
    let written = document.to_toml().expect("writable");
    assert!(written.contains("enabled = false"), "{written}");
    let read_back = PolicyDocument::from_toml(&written).expect("reads back");
    assert_eq!(read_back, document);
}

#[test]
fn an_entry_switched_on_again_in_code_is_used() {
    let mut document = PolicyDocument::from_toml(DOCUMENT).expect("valid document");
    document.set_enabled::<BreakerConfig>("aws_ec2", true);
    let policies = Policies::from_document(document).expect("valid policies");
    assert_eq!(
        plan(&policies, "run_instances").breaker.as_deref(),
        Some("aws_ec2")
    );
}

#[test]
fn a_switch_that_is_not_a_boolean_is_refused_at_its_path() {
    let errors =
        Policies::from_toml("[breaker.aws_ec2]\nenabled = \"no\"\n").expect_err("not a boolean");
    let text = errors.to_string();
    assert!(
        text.contains("breaker.aws_ec2.enabled: must be true or false"),
        "{text}"
    );
}

//! Policy documents laid over each other, read through their sections' one description,
//! and the registry's listeners by event type.
#![cfg(feature = "config")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardy::breaker::{BreakerConfig, CircuitBreaker};
use hardy::bulkhead::{BulkheadEvent, Partitions};
use hardy::retry::{Retry, RetryConfig, RetryEvent};
use hardy::{PolicyDocument, PolicyRef, PolicySection};

const BUILT_IN: &str = r#"
    [breaker.default]
    consecutive_failures = 5
    open_for = "30s"

    [retry.default]
    max_attempts = 3
    backoff = { kind = "constant", delay = "100ms" }

    [timeout]
    default = "2s"
    operations = { slow = "10s" }
"#;

#[test]
fn a_later_layer_replaces_settings_one_by_one_and_adds_entries() {
    let users = r#"
        [breaker.default]
        consecutive_failures = 2

        [breaker.db]
        open_for = "1m"

        [retry.default]
        backoff = { kind = "exponential", initial = "10ms", multiplier = 2.0 }

        [timeout]
        operations = { fast = "100ms" }
    "#;
    let document = PolicyDocument::from_toml_layers([BUILT_IN, users]).expect("valid");
    let breakers = document.entries::<BreakerConfig>();
    assert_eq!(breakers["default"].consecutive_failures, 2, "replaced");
    assert_eq!(
        breakers["default"].open_for,
        Duration::from_secs(30),
        "kept"
    );
    assert_eq!(breakers["db"].open_for, Duration::from_secs(60));
    assert_eq!(
        breakers["db"].consecutive_failures, 2,
        "a new entry starts from the merged default"
    );
    let retry = &document.entries::<RetryConfig>()["default"];
    assert_eq!(retry.max_attempts, 3, "kept");
    assert!(
        format!("{:?}", retry.backoff).contains("Exponential"),
        "a table setting is replaced whole: {:?}",
        retry.backoff
    );
    let timeouts = document.timeout.as_ref().expect("kept");
    assert_eq!(
        timeouts.operations.get("fast").copied(),
        Some(Duration::from_millis(100))
    );
    assert_eq!(
        timeouts.operations.get("slow").copied(),
        Some(Duration::from_secs(10)),
        "each operation's limit is a setting of its own"
    );
}

#[test]
fn layers_read_as_the_one_document_they_make() {
    let over = "[breaker.db]\nconsecutive_failures = 7\n";
    let layered = PolicyDocument::from_toml_layers([BUILT_IN, over]).expect("valid");
    let whole = PolicyDocument::from_toml(&format!("{BUILT_IN}\n{over}")).expect("valid");
    assert_eq!(layered, whole);
    let tables = [BUILT_IN, over].map(|text| text.parse::<toml::Table>().expect("toml"));
    assert_eq!(PolicyDocument::from_layers(tables).expect("valid"), whole);
}

#[test]
fn a_bad_layer_is_named_and_the_whole_is_checked() {
    let errors = PolicyDocument::from_toml_layers([BUILT_IN, "[breaker\n"]).expect_err("syntax");
    let found: Vec<String> = errors.problems().iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("layer 2, line 1"), "{found:?}");

    let errors =
        PolicyDocument::from_toml_layers([BUILT_IN, "[breaker.default]\nfailure_ratio = 2.0\n"])
            .expect_err("range");
    let found: Vec<String> = errors.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        ["breaker.default.failure_ratio = 2.0: must be within 0..=1"]
    );
}

#[test]
fn a_section_is_read_and_changed_through_its_settings_type() {
    assert_eq!(BreakerConfig::SECTION, "breaker");
    let mut document = PolicyDocument::default();
    document
        .entries_mut::<BreakerConfig>()
        .insert("db".into(), BreakerConfig::default());
    let mut operation = hardy::OperationConfig::default();
    operation.set_policy::<BreakerConfig>(PolicyRef::Named("db".into()));
    assert_eq!(
        operation.policy::<BreakerConfig>(),
        Some(&PolicyRef::Named("db".into()))
    );
    document.operations.insert("query".into(), operation);
    let written = document.to_toml().expect("writes");
    assert_eq!(
        PolicyDocument::from_toml(&written).expect("reads back"),
        document
    );
    let policies = hardy::Policies::from_document(document).expect("valid");
    assert_eq!(policies.plan("query").breaker.as_deref(), Some("db"));
    assert!(policies.get::<CircuitBreaker>("db").is_some());
    assert!(
        policies.get::<CircuitBreaker>("other").is_none(),
        "no entry and no default"
    );
}

#[tokio::test(start_paused = true)]
async fn listeners_are_set_by_event_type_for_every_handle_that_reports_it() {
    let retries = Arc::new(Mutex::new(Vec::new()));
    let bulkheads = Arc::new(Mutex::new(Vec::new()));
    let (r, b) = (retries.clone(), bulkheads.clone());
    let policies = hardy::Policies::from_toml(
        r#"
        [retry.default]
        max_attempts = 2
        backoff = { kind = "constant", delay = "1ms" }

        [partitions.default]
        spare = 0
        partitions = { a = { max_concurrent = 1, max_waiting = 0 } }
        "#,
    )
    .expect("valid")
    .on_event(move |event: &RetryEvent| r.lock().expect("lock").push(format!("{event:?}")))
    .on_event(move |event: &BulkheadEvent| b.lock().expect("lock").push(format!("{event:?}")));

    let retry = policies.get::<Retry>("r").expect("from the default");
    let mut failures = 0;
    let result = retry
        .call(|| {
            failures += 1;
            async move { Err::<(), _>(std::io::Error::other("down")) }
        })
        .await;
    assert!(result.is_err());
    assert_eq!(failures, 2);
    assert!(
        retries
            .lock()
            .expect("lock")
            .iter()
            .any(|event| event.contains("Retrying")),
        "the retry's events reach the listener: {:?}",
        retries.lock().expect("lock")
    );

    let partitions = policies.get::<Partitions>("p").expect("from the default");
    let a = partitions.get("a").expect("configured");
    let held = a.try_acquire().expect("free");
    assert!(a.try_acquire().is_err());
    drop(held);
    assert!(
        bulkheads
            .lock()
            .expect("lock")
            .iter()
            .any(|event| event.contains("Rejected")),
        "a partition's events reach the bulkhead listener: {:?}",
        bulkheads.lock().expect("lock")
    );
}

//! Policies from a file: the example in `docs/`, round trips, every error path, shared
//! handles and the stacks built for operations.
#![cfg(feature = "config")]

use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::chaos::{FaultOutcome, InjectedRejection};
use hardy::fallback::LastKnownGoodConfig;
use hardy::pool::PoolConfig;
use hardy::prelude::*;
use hardy::{PolicyDocument, PolicyRef, RejectionKind, StackPlan};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const EXAMPLE: &str = include_str!("../../../docs/policies.toml");

fn load(text: &str) -> Policies {
    match Policies::from_toml(text) {
        Ok(policies) => policies,
        Err(errors) => panic!("the document should load:\n{errors}"),
    }
}

/// Every problem of a document that must not load, one string each.
fn problems(text: &str) -> Vec<String> {
    match PolicyDocument::from_toml(text) {
        Ok(document) => panic!("the document should not load: {document:?}"),
        Err(errors) => errors.problems().iter().map(ToString::to_string).collect(),
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn the_documented_example_loads_with_its_overrides_over_its_defaults() {
    let policies = load(EXAMPLE);
    let ec2 = policies.get::<CircuitBreaker>("aws_ec2").expect("listed");
    assert_eq!(ec2.config().consecutive_failures, 3);
    assert_eq!(ec2.config().open_for, secs(30));
    assert_eq!(
        ec2.config().half_open_calls,
        3,
        "inherited from the default"
    );
    let asg = policies
        .get::<CircuitBreaker>("aws_autoscaling")
        .expect("listed");
    assert_eq!(
        asg.config().consecutive_failures,
        5,
        "inherited from the default"
    );
    assert_eq!(asg.config().open_for, secs(45));

    let run = policies.get::<Retry>("ec2_run_instances").expect("listed");
    assert_eq!(run.config().max_attempts, 5);
    assert_eq!(run.config().max_duration, Some(secs(60)), "inherited");
    assert!(run.config().retry_budget.is_some());

    assert_eq!(
        policies.timeout("ec2_run_instances").map(|t| t.duration()),
        Some(secs(120))
    );
    assert_eq!(
        policies.timeout("anything_else").map(|t| t.duration()),
        Some(secs(30))
    );
    assert_eq!(
        policies
            .get::<RateLimiter>("ec2_api")
            .expect("listed")
            .config()
            .limit,
        20
    );
    assert_eq!(
        policies
            .entry::<LastKnownGoodConfig>("instance_cache")
            .map(|c| c.max_staleness),
        Some(Duration::from_secs(600))
    );
    assert_eq!(
        policies.entry::<PoolConfig>("ssh").map(|c| c.max_size),
        Some(8)
    );
    assert!(
        policies.entry::<PoolConfig>("nope").is_none(),
        "no entry and no default"
    );
    let game_day = policies.get::<Chaos>("game_day").expect("listed");
    assert!(!game_day.is_enabled());
    assert_eq!(game_day.config().rejection, InjectedRejection::Timeout);

    let run = policies.plan("ec2_run_instances");
    let names = |plan: &StackPlan| {
        [
            &plan.load_shed,
            &plan.retry,
            &plan.breaker,
            &plan.rate_limit,
            &plan.bulkhead,
            &plan.chaos,
        ]
        .map(|name| name.as_deref().unwrap_or("-").to_string())
    };
    assert_eq!(
        names(&run),
        [
            "-",
            "ec2_run_instances",
            "aws_ec2",
            "ec2_api",
            "aws",
            "game_day"
        ]
    );
    assert_eq!(run.timeout, Some(secs(120)));
    let describe = policies.plan("ec2_describe_instances");
    assert_eq!(describe.retry, None, "retry = false");
    assert_eq!(
        describe.breaker.as_deref(),
        Some("aws_ec2"),
        "the service's breaker"
    );
    let asg_update = policies.plan("asg_update");
    assert_eq!(asg_update.breaker.as_deref(), Some("aws_autoscaling"));
    assert_eq!(
        asg_update.retry.as_deref(),
        Some("aws_autoscaling"),
        "the service's, from the default"
    );
    assert_eq!(policies.plan("unlisted").retry.as_deref(), Some("unlisted"));
    let api = policies.plan("api_provision");
    assert_eq!(api.load_shed.as_deref(), Some("api"));
    assert_eq!((api.retry, api.breaker, api.timeout), (None, None, None));
}

#[test]
fn handles_are_shared_by_name_and_by_service() {
    let policies = load(EXAMPLE);
    let first = policies.get::<CircuitBreaker>("aws_ec2").expect("listed");
    let again = policies.get::<CircuitBreaker>("aws_ec2").expect("listed");
    first.force_open();
    assert_eq!(
        again.state(),
        BreakerState::ForcedOpen,
        "one handle, one state"
    );

    // A name without an entry is built from the default, once.
    let other = policies
        .get::<CircuitBreaker>("aws_s3")
        .expect("the default applies");
    assert_eq!(other.config().consecutive_failures, 5);
    assert_eq!(other.name(), "aws_s3");
    assert_eq!(
        policies
            .get::<CircuitBreaker>("aws_s3")
            .expect("built")
            .state(),
        BreakerState::Closed
    );
    assert!(
        policies.get::<Bulkhead>("unlisted").is_none(),
        "no entry and no default"
    );
}

#[test]
fn documents_round_trip_through_toml_and_json() {
    let document = PolicyDocument::from_toml(EXAMPLE).expect("loads");
    let written = document.to_toml().expect("writes");
    assert_eq!(
        PolicyDocument::from_toml(&written).expect("reads back"),
        document
    );
    let json = serde_json::to_string_pretty(&document).expect("writes");
    assert_eq!(
        PolicyDocument::from_json(&json).expect("reads back"),
        document
    );
    assert_eq!(
        Policies::from_json(&json).expect("loads").document(),
        &document
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let found = problems(
        r#"
        [breaker.aws_ec2]
        failure_ratio = 1.5
        consecutive_failures = "three"

        [retry.ec2_run_instances]
        max_attempt = 5

        [timeout]
        default = "soon"

        [operations.ec2_run_instances]
        breaker = "aws_ec3"
        "#,
    );
    assert_eq!(
        found,
        [
            "timeout.default: invalid value: string \"soon\", expected a duration",
            "breaker.aws_ec2.consecutive_failures: invalid type: string \"three\", expected u32",
            "retry.ec2_run_instances.max_attempt: unknown field `max_attempt`, expected one of `max_attempts`, `backoff`, `jitter`, `max_delay`, `first_retry_immediately`, `max_duration`, `total_budget`, `wait_for_retry_after`, `budget`, `retry_budget`, `seed`",
            "operations.ec2_run_instances.breaker = \"aws_ec3\": no [breaker.aws_ec3] policy",
        ]
    );
    // Range problems show once the values parse.
    let found = problems("[breaker.aws_ec2]\nfailure_ratio = 1.5\n");
    assert_eq!(
        found,
        ["breaker.aws_ec2.failure_ratio = 1.5: must be within 0..=1"]
    );
}

#[test]
fn every_loading_rule_has_a_failing_example() {
    let cases: &[(&str, &str)] = &[
        (
            "[breakers.x]\n",
            "breakers: unknown section; expected one of timeout, redis, breaker, retry, hedge, bulkhead, partitions, rate_limit, load_shed, fallback, pool, chaos, operations",
        ),
        (
            "breaker = 3\n",
            "breaker: must be a table of named policies ([breaker.<name>])",
        ),
        (
            "[breaker]\nx = 3\n",
            "breaker.x: must be a table of settings",
        ),
        (
            "[breaker]\ndefault = 3\n",
            "breaker.default: must be a table of settings",
        ),
        (
            "operations = 1\n",
            "operations: must be a table of operations ([operations.<name>])",
        ),
        (
            "[operations]\nx = 1\n",
            "operations.x: must be a table of settings",
        ),
        (
            "[operations.x]\nretries = \"r\"\n",
            "operations.x.retries: unknown field `retries`, expected one of `service`, `timeout`, `breaker`, `retry`, `hedge`, `bulkhead`, `rate_limit`, `load_shed`, `chaos`",
        ),
        (
            "[operations.x]\nretry = true\n",
            "operations.x.retry: true names no policy: give a policy's name, or false for none",
        ),
        (
            "[operations.x]\nretry = 3\n",
            "operations.x.retry: invalid type: integer `3`, expected the name of a policy, or false",
        ),
        (
            "[retry.default]\n[operations.x]\nretry = \"default\"\n",
            "operations.x.retry = \"default\": the default is a template, not a policy; leave retry out to use it",
        ),
        (
            "[operations.x]\nbulkhead = \"b\"\n",
            "operations.x.bulkhead = \"b\": no [bulkhead.b] policy",
        ),
        (
            "[timeout]\ndefault = \"0s\"\n",
            "timeout.default = 0ns: must be greater than zero",
        ),
        (
            "[timeout.operations]\nrun = \"0s\"\n",
            "timeout.operations.run = 0ns: must be greater than zero",
        ),
        (
            "[breaker.b]\nfailure_ratio = 2\n",
            "breaker.b.failure_ratio = 2.0: must be within 0..=1",
        ),
        (
            "[retry.r]\nmax_attempts = 0\n",
            "retry.r.max_attempts = 0: must be greater than zero",
        ),
        (
            "[bulkhead.b]\nmax_concurrent = 0\n",
            "bulkhead.b.max_concurrent = 0: must be greater than zero",
        ),
        (
            "[partitions.p.partitions.s]\nmax_concurrent = 0\n",
            "partitions.p.partitions.s.max_concurrent = 0: must be greater than zero",
        ),
        (
            "[rate_limit.r]\nlimit = 0\n",
            "rate_limit.r.limit = 0: must be greater than zero",
        ),
        (
            "[load_shed.l]\nreserve = 1.5\n",
            "load_shed.l.reserve = 1.5: must be within 0..1",
        ),
        (
            "[fallback.f]\nmax_staleness = \"0s\"\n",
            "fallback.f.max_staleness = 0ns: must be greater than zero",
        ),
        (
            "[pool.p]\nmax_size = 0\n",
            "pool.p.max_size = 0: must be greater than zero",
        ),
        (
            "[chaos.c]\nerror_rate = 0.7\nrejection_rate = 0.7\n",
            "chaos.c.error_rate + rejection_rate + corrupt_rate = 1.4: must be at most 1",
        ),
        (
            "[chaos.c]\nlatency = { distribution = \"pareto\" }\n",
            "chaos.c.latency.distribution: unknown variant `pareto`, expected one of `fixed`, `uniform`, `exponential`, `log_normal`",
        ),
        (
            "[breaker.b]\nopen_for = 30\n",
            "breaker.b.open_for: invalid type: integer `30`, expected a duration",
        ),
        (
            "[breaker.b\n",
            "line 1, column 11: unclosed table, expected `]`",
        ),
    ];
    for (text, expected) in cases {
        let found = problems(text);
        assert_eq!(found, [*expected], "document:\n{text}");
    }
}

#[test]
fn a_broken_default_is_reported_once() {
    let found = problems(
        "[breaker.default]\nfailure_ratio = 7\n[breaker.a]\nopen_for = \"1s\"\n[breaker.b]\nopen_for = \"2s\"\n",
    );
    assert_eq!(
        found,
        ["breaker.default.failure_ratio = 7.0: must be within 0..=1"]
    );
    let found = problems("[breaker.default]\nfailure_rate = 0.5\n[breaker.a]\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("breaker.default.failure_rate: unknown field"),
        "{found:?}"
    );
}

#[test]
fn json_documents_read_nulls_as_unset_and_report_big_numbers_and_syntax() {
    let errors = PolicyDocument::from_json(
        r#"{ "breaker": { "b": { "open_for": null } }, "chaos": { "c": { "seed": 18446744073709551615 } } }"#,
    )
    .expect_err("invalid");
    let found: Vec<String> = errors.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        ["chaos.c.seed = 18446744073709551615: too large: integers go up to 9223372036854775807"]
    );
    let errors = PolicyDocument::from_json("{ \"breaker\": ").expect_err("syntax");
    assert_eq!(errors.problems()[0].path(), "line 1, column 13");
    let json = r#"{ "breaker": { "default": { "open_for": "5s" }, "aws": { "consecutive_failures": 2, "open_for": null } } }"#;
    let policies = Policies::from_json(json).expect("loads");
    let aws = policies.get::<CircuitBreaker>("aws").expect("listed");
    assert_eq!(aws.config().consecutive_failures, 2);
    assert_eq!(
        aws.config().open_for,
        secs(5),
        "null is unset: the default's value"
    );
}

#[test]
fn a_document_built_in_code_is_checked_like_a_file() {
    let mut document = PolicyDocument::default();
    document.entries_mut::<hardy::retry::RetryConfig>().insert(
        "r".into(),
        hardy::retry::RetryConfig {
            max_attempts: 0,
            ..Default::default()
        },
    );
    let mut operation = hardy::OperationConfig::default();
    operation.set_policy::<hardy::breaker::BreakerConfig>(PolicyRef::Named("missing".into()));
    document.operations.insert("op".into(), operation);
    let errors = Policies::from_document(document).expect_err("invalid");
    let found: Vec<String> = errors.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "retry.r.max_attempts = 0: must be greater than zero",
            "operations.op.breaker = \"missing\": no [breaker.missing] policy",
        ]
    );
}

const STACK: &str = r#"
    [timeout]
    default = "2s"

    [retry.default]
    max_attempts = 3
    backoff = { kind = "constant", delay = "100ms" }

    [breaker.default]
    consecutive_failures = 3
    open_for = "1m"

    [chaos.default]
    seed = 1
    rejection_rate = 1.0
    rejection = "timeout"

    [chaos.slow]
    seed = 1
    latency_rate = 1.0
    latency = { distribution = "fixed", delay = "10s" }

    [operations.read]
    service = "sensor"

    [operations.slow_read]
    service = "sensor_b"
    chaos = "slow"
    retry = false
"#;

#[tokio::test(start_paused = true)]
async fn the_stack_runs_retry_around_breaker_around_timeout_around_chaos() {
    let policies = load(STACK);
    let chaos = policies.get::<Chaos>("sensor").expect("from the default");
    let breaker = policies
        .get::<CircuitBreaker>("sensor")
        .expect("from the default");
    let mut read = ServiceBuilder::new()
        .hardy_policies(&policies, "read")
        .service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });

    // Chaos, innermost, times every attempt out; the retry tries three times, each
    // through the breaker, which opens at the third failure.
    let error = read
        .ready()
        .await
        .expect("ready")
        .call(1)
        .await
        .expect_err("all fail");
    assert_eq!(
        hardy::find_rejection(&*error).map(|r| r.kind()),
        Some(RejectionKind::Timeout)
    );
    assert_eq!(
        chaos.stats().rejections,
        3,
        "one injected rejection per attempt"
    );
    assert_eq!(breaker.state(), BreakerState::Open);

    // Now the breaker refuses before chaos sees the call.
    let error = read
        .ready()
        .await
        .expect("ready")
        .call(2)
        .await
        .expect_err("open");
    assert_eq!(
        hardy::find_rejection(&*error).map(|r| r.kind()),
        Some(RejectionKind::CircuitOpen)
    );
    assert_eq!(chaos.stats().calls, 3);
    assert_eq!(chaos.next_fault().outcome, FaultOutcome::Rejection);
}

#[tokio::test(start_paused = true)]
async fn the_per_attempt_timeout_wraps_injected_latency() {
    let policies = load(STACK);
    let mut read = ServiceBuilder::new()
        .layer(policies.stack("slow_read"))
        .service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
    let started = tokio::time::Instant::now();
    let error = read
        .ready()
        .await
        .expect("ready")
        .call(1)
        .await
        .expect_err("timed out");
    let rejection = hardy::find_rejection(&*error).expect("a rejection");
    assert_eq!(rejection.kind(), RejectionKind::Timeout);
    assert_eq!(
        rejection.name(),
        "timeout",
        "the table's default timeout, not chaos"
    );
    assert_eq!(started.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn patterns_left_out_are_not_in_the_stack() {
    let policies = load("[operations.plain]\n");
    assert_eq!(policies.plan("plain"), StackPlan::default());
    let mut plain = ServiceBuilder::new()
        .layer(policies.stack("plain"))
        .service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) });
    assert_eq!(
        plain
            .ready()
            .await
            .expect("ready")
            .call(1)
            .await
            .expect("ok"),
        2
    );
    assert_eq!(policies.stack("plain").operation(), "plain");
}

#[test]
fn listeners_hear_the_handles_built_after_them() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let policies = load(EXAMPLE).on_event(move |event: &hardy::breaker::BreakerEvent| {
        sink.lock().expect("lock").push(format!("{event:?}"));
    });
    policies
        .get::<CircuitBreaker>("aws_ec2")
        .expect("listed")
        .force_open();
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("aws_ec2"), "{seen:?}");
}

#[test]
fn a_document_embeds_in_a_larger_file() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct App {
        name: String,
        policies: PolicyDocument,
    }
    let app: App = toml::from_str(
        "name = \"provisioner\"\n[policies.breaker.aws]\nconsecutive_failures = 2\n",
    )
    .expect("parses");
    assert_eq!(app.name, "provisioner");
    assert_eq!(
        app.policies.entries::<hardy::breaker::BreakerConfig>()["aws"].consecutive_failures,
        2
    );
    let error = toml::from_str::<App>("name = \"p\"\n[policies.breaker.aws]\nfailure_ratio = 3\n")
        .err()
        .expect("invalid");
    assert!(
        error
            .to_string()
            .contains("breaker.aws.failure_ratio = 3.0: must be within 0..=1"),
        "{error}"
    );
}

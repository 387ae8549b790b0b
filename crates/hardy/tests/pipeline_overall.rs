//! The limit of a whole operation: the retry stops short of it, a running attempt is
//! cut at it, what the call held is given back, and policy files set it per operation.
#![cfg(all(
    feature = "retry",
    feature = "bulkhead",
    feature = "timeout",
    feature = "config"
))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy::bulkhead::Bulkhead;
use hardy::core::Rejection;
use hardy::prelude::*;
use hardy::{Pipeline, Policies};
use tokio::time::{Instant, sleep};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A dependency whose every call takes `work` and then fails, counting its calls.
fn failing_after(
    work: Duration,
    calls: Arc<AtomicU32>,
) -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
    tower::service_fn(move |_: u32| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            sleep(work).await;
            Err::<u32, BoxError>("unavailable".into())
        }
    })
}

fn retry_every_second(max_attempts: u32) -> Retry {
    Retry::builder("dep")
        .max_attempts(max_attempts)
        .backoff(hardy::retry::Backoff::Constant { delay: secs(1) })
        .jitter(hardy::retry::Jitter::None)
        .build()
        .expect("valid retry")
}

fn timed_out_name(error: &BoxError) -> Option<String> {
    match error.downcast_ref::<Rejection>() {
        Some(Rejection::Timeout { name, .. }) => Some(name.to_string()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn the_retry_makes_no_retry_that_would_end_past_the_overall_limit() {
    // Each attempt fails after 1 s and the next waits 1 s: attempts start at 0, 2, 4 s.
    // Under a 5 s limit the third ends at 5 s, and a fourth (at 6 s) would end past it:
    // the call ends with the third attempt's own failure, not a timeout.
    let calls = Arc::new(AtomicU32::new(0));
    let overall = Timeout::new("op.overall", secs(5)).expect("valid");
    let pipeline = Pipeline::new()
        .retry(&retry_every_second(10))
        .overall(&overall);
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(failing_after(secs(1), calls.clone()));
    let started = Instant::now();
    let error = service
        .ready()
        .await
        .expect("ready")
        .call(1)
        .await
        .expect_err("fails");
    assert_eq!(error.to_string(), "unavailable");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(started.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_running_attempt_is_cut_at_the_overall_limit_and_its_slot_freed() {
    // Attempts of 4 s under a 6 s limit and no per-attempt timeout: the second attempt
    // (from 5 s) is still running at 6 s and is cut there.
    let calls = Arc::new(AtomicU32::new(0));
    let overall = Timeout::new("op.overall", secs(6)).expect("valid");
    let bulkhead = Bulkhead::builder("dep")
        .max_concurrent(1)
        .build()
        .expect("valid bulkhead");
    let pipeline = Pipeline::new()
        .retry(&retry_every_second(3))
        .bulkhead(&bulkhead)
        .overall(&overall);
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(failing_after(secs(4), calls.clone()));
    let started = Instant::now();
    let call = service.ready().await.expect("ready").call(1);
    let error = call.await.expect_err("cut");
    assert_eq!(
        timed_out_name(&error).as_deref(),
        Some("op.overall"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "timeout \"op.overall\" expired: no result after 6s (limit 6s)"
    );
    assert_eq!(started.elapsed(), secs(6));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(bulkhead.stats().in_flight, 0, "freed with the call");
}

#[tokio::test(start_paused = true)]
async fn the_callers_deadline_still_wins_when_it_is_earlier() {
    let calls = Arc::new(AtomicU32::new(0));
    let overall = Timeout::new("op.overall", secs(60)).expect("valid");
    let pipeline = Pipeline::new()
        .retry(&retry_every_second(10))
        .overall(&overall);
    let mut service = ServiceBuilder::new()
        .layer(
            pipeline
                .layer()
                .deadline_from(|deadline: &Deadline| Some(*deadline)),
        )
        .service(tower::service_fn({
            let calls = calls.clone();
            move |_: Deadline| {
                let calls = calls.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    sleep(secs(100)).await;
                    Ok::<u32, BoxError>(1)
                }
            }
        }));
    let started = Instant::now();
    let error = service
        .ready()
        .await
        .expect("ready")
        .call(Deadline::after(secs(3)))
        .await
        .expect_err("cut at the caller's deadline");
    assert_eq!(
        timed_out_name(&error).as_deref(),
        Some("op.overall"),
        "{error}"
    );
    assert_eq!(started.elapsed(), secs(3));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_ends_in_time_is_not_touched() {
    let overall = Timeout::new("op.overall", secs(2)).expect("valid");
    let pipeline = Pipeline::new().overall(&overall);
    assert!(!pipeline.is_empty());
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(tower::service_fn(|n: u32| async move {
            sleep(Duration::from_millis(1_999)).await;
            Ok::<u32, BoxError>(n * 2)
        }));
    let answer = service.ready().await.expect("ready").call(21).await;
    assert_eq!(answer.expect("in time"), 42);
}

const POLICIES: &str = r#"
    [timeout]
    default = "30s"
    operations = { ec2_run_instances = "4s" }
    overall = { ec2_run_instances = "6s" }

    [retry.default]
    max_attempts = 10
    backoff = { kind = "constant", delay = "1s" }
    jitter = "none"
"#;

#[tokio::test(start_paused = true)]
async fn a_policy_file_sets_the_limit_of_a_whole_operation() {
    let policies = Policies::from_toml(POLICIES).expect("valid policies");
    let plan = policies.plan("ec2_run_instances");
    assert_eq!(plan.timeout, Some(secs(4)));
    assert_eq!(plan.overall, Some(secs(6)));
    assert_eq!(policies.plan("ec2_describe_instances").overall, None);
    let overall = policies
        .overall_timeout("ec2_run_instances")
        .expect("listed");
    assert_eq!(overall.name(), "ec2_run_instances.overall");

    // The first attempt hangs and is ended by its own 4 s limit; the retry waits 1 s and
    // tries again at 5 s, and the whole operation's 6 s ends that attempt.
    let calls = Arc::new(AtomicU32::new(0));
    let mut service = ServiceBuilder::new()
        .layer(policies.stack("ec2_run_instances"))
        .service(failing_after(secs(3_600), calls.clone()));
    let started = Instant::now();
    let error = service
        .ready()
        .await
        .expect("ready")
        .call(1)
        .await
        .expect_err("times out");
    assert_eq!(
        timed_out_name(&error).as_deref(),
        Some("ec2_run_instances.overall"),
        "{error}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), secs(6));

    let written = policies.document().to_toml().expect("writes");
    let back = Policies::from_toml(&written).expect("reads back");
    assert_eq!(back.plan("ec2_run_instances").overall, Some(secs(6)));
}

#[test]
fn a_zero_overall_limit_is_refused_with_its_path() {
    let errors = Policies::from_toml("[timeout]\noverall = { ec2_run_instances = \"0s\" }\n")
        .expect_err("zero is refused");
    assert!(
        errors
            .to_string()
            .contains("overall.ec2_run_instances = 0ns: must be greater than zero"),
        "{errors}"
    );
}

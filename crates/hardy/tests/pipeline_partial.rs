//! Pipelines with some patterns only, and the pipeline's own API: its handles shown
//! and replaced, and its types `Send + Sync`.
#![cfg(all(
    feature = "retry",
    feature = "breaker",
    feature = "rate-limit",
    feature = "bulkhead",
    feature = "timeout"
))]

mod support;

use std::future::{Future, Ready};
use std::time::Duration;

use hardy::breaker::BreakerState;
use hardy::prelude::*;
use hardy::{Pipeline, PipelineLayer, PipelineService};
use tokio::time::advance;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::util::ServiceFn;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

use support::*;

/// Readies `service`, a pipeline's layer over the dependency alone, makes the call and
/// awaits its answer.
async fn answer_call<S>(service: &mut S, call: Call) -> Result<u32, BoxError>
where
    S: Service<Call, Response = u32, Error = BoxError>,
{
    service.ready().await?.call(call).await
}

/// Makes `count` calls that never answer through `service`, unreadied, and polls each
/// once: all are pending.
fn hung_calls<S>(service: &mut S, count: usize) -> Vec<task::Spawn<S::Future>>
where
    S: Service<Call, Response = u32, Error = BoxError>,
{
    let mut calls: Vec<_> = (0..count)
        .map(|_| task::spawn(service.call(Call::Hang)))
        .collect();
    still_pending(&mut calls);
    calls
}

/// Polls each of `calls`: all are pending.
fn still_pending<F: Future<Output = Result<u32, BoxError>>>(calls: &mut [task::Spawn<F>]) {
    for call in calls {
        assert_pending!(call.poll());
    }
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_nothing_set_passes_calls_through() {
    let pipeline = Pipeline::new();
    assert!(pipeline.get_breaker().is_none());
    assert!(pipeline.get_bulkhead().is_none());
    assert!(pipeline.get_timeout().is_none());
    let dependency = Dependency::default();
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(dependency.service());
    assert_eq!(answer_call(&mut service, Call::Ok(5)).await.unwrap(), 5);
    let failed = answer_call(&mut service, Call::Fail).await;
    assert!(failed.unwrap_err().as_rejection().is_none());
    // No slots and no limit: many calls run at once, for as long as they take.
    let mut hung = hung_calls(&mut service, 20);
    advance(Duration::from_secs(3600)).await;
    still_pending(&mut hung);
    assert_eq!(dependency.reached(), 22);
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_only_a_timeout_times_calls_out() {
    let guards = Setup::new().build();
    let pipeline = Pipeline::new().timeout(&guards.timeout);
    assert_eq!(
        pipeline.get_timeout().map(Timeout::name),
        Some(&"dep".into())
    );
    assert!(pipeline.get_breaker().is_none() && pipeline.get_bulkhead().is_none());
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(guards.dependency.service());
    assert_eq!(answer_call(&mut service, Call::Ok(5)).await.unwrap(), 5);
    let mut calls = hung_calls(&mut service, 3);
    advance(LIMIT).await;
    for call in &mut calls {
        assert!(rejection(assert_ready!(call.poll())).is_timeout());
    }
    // The twin breaker and bulkhead were not part of it.
    assert_eq!(guards.breaker_counts(), (BreakerState::Closed, 0, 0, 0));
    assert_eq!(guards.bulkhead_counts(), (0, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_only_a_bulkhead_limits_calls() {
    let guards = Setup::new().slots(1).build();
    let pipeline = Pipeline::new().bulkhead(&guards.bulkhead);
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(guards.dependency.service());
    let mut first = task::spawn(service.call(Call::OkAfter(Duration::from_secs(60))));
    assert_pending!(first.poll());
    let refused = answer_call(&mut service, Call::Ok(2)).await;
    assert!(rejection(refused).is_bulkhead_full());
    // No timeout: the first call runs for its whole minute.
    advance(Duration::from_secs(59)).await;
    assert_pending!(first.poll());
    advance(Duration::from_secs(1)).await;
    assert_eq!(assert_ready_ok!(first.poll()), 1);
    assert_eq!(answer_call(&mut service, Call::Ok(3)).await.unwrap(), 3);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 2, 1));
    assert_eq!(guards.dependency.reached(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_only_a_breaker_opens_on_failures() {
    let guards = Setup::new().consecutive_failures(2).build();
    let pipeline = Pipeline::new().breaker(&guards.breaker);
    let mut service = ServiceBuilder::new()
        .layer(pipeline.layer())
        .service(guards.dependency.service());
    // No bulkhead: any number of calls run at once.
    let mut hung = hung_calls(&mut service, 5);
    for _ in 0..2 {
        let failed = answer_call(&mut service, Call::Fail).await;
        assert!(failed.unwrap_err().as_rejection().is_none());
    }
    assert_eq!(guards.breaker.state(), BreakerState::Open);
    let refused = answer_call(&mut service, Call::Ok(1)).await;
    assert!(rejection(refused).is_circuit_open());
    // No timeout: the hung calls are still running.
    advance(Duration::from_secs(3600)).await;
    still_pending(&mut hung);
    assert_eq!(guards.dependency.reached(), 7);
    assert_eq!(guards.bulkhead_counts(), (0, 0, 0, 0));
}

#[test]
fn a_pipeline_shows_its_handles_and_replaces_them() {
    let guards = Setup::new().build();
    let other = Bulkhead::builder("other").build().expect("valid");
    let pipeline = guards.pipeline().bulkhead(&other);
    assert_eq!(
        pipeline.get_bulkhead().map(Bulkhead::name),
        Some(&"other".into())
    );
    let shown = format!("{pipeline:?}");
    for field in [
        r#"breaker: Some("dep")"#,
        r#"bulkhead: Some("other")"#,
        r#"timeout: Some("dep")"#,
    ] {
        assert!(shown.contains(field), "{shown} shows {field}");
    }
    let service: PipelineService<u8> = pipeline.layer().layer(7);
    assert_eq!(
        service.pipeline().get_breaker().map(CircuitBreaker::name),
        Some(&"dep".into())
    );
    assert_eq!(*service.get_ref(), 7);
    assert_eq!(service.into_inner(), 7);

    assert!(Pipeline::new().is_empty(), "nothing set");
    assert!(!pipeline.is_empty());
    assert!(
        !Pipeline::new().bulkhead(&other).is_empty(),
        "one pattern set"
    );
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    type Inner = ServiceFn<fn(u8) -> Ready<Result<u8, BoxError>>>;
    send_sync::<Pipeline>();
    send_sync::<PipelineLayer>();
    send_sync::<PipelineService<Inner>>();
    send_sync::<<PipelineService<Inner> as Service<u8>>::Future>();
}

//! Deadlines across hops: read from the header on the way in, enforced by the timeout,
//! written with the time left on the way out; bad headers ignored.

use std::time::Duration;

use hardy_http::{DeadlineLayer, PropagateDeadlineLayer, RejectionLayer, budget_in};
use hardy_timeout::{Deadline, FromExtensions, Timeout, TimeoutLayer};
use http::{HeaderName, Request, Response, StatusCode};
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

fn with_header(name: &str, value: &str) -> Request<()> {
    Request::builder()
        .header(name, value)
        .body(())
        .expect("a valid request")
}

#[test]
fn only_whole_milliseconds_are_read() {
    let name = HeaderName::from_static("request-timeout-ms");
    let read = |value: &str| budget_in(&with_header("request-timeout-ms", value), &name);
    assert_eq!(read("250"), Some(Duration::from_millis(250)));
    assert_eq!(read(" 0 "), Some(Duration::ZERO));
    for bad in [
        "",
        "-5",
        "+5",
        "1.5",
        "1e3",
        "abc",
        "250ms",
        "9999999999999",
    ] {
        assert_eq!(read(bad), None, "{bad:?}");
    }
    assert_eq!(budget_in(&Request::new(()), &name), None);
}

/// A backend that takes 300 ms, behind a 1 s timeout that reads the caller's deadline.
fn slow_backend_within_deadline() -> impl Service<
    Request<()>,
    Response = Response<String>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    let timeout = Timeout::new("backend", Duration::from_secs(1)).expect("a valid timeout");
    ServiceBuilder::new()
        .layer(RejectionLayer::new().answer_all())
        .layer(DeadlineLayer::new())
        .layer(TimeoutLayer::new(timeout).deadline_from(FromExtensions))
        .service_fn(|_: Request<()>| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, BoxError>(Response::new(String::from("done")))
        })
}

#[tokio::test(start_paused = true)]
async fn the_callers_budget_bounds_the_call() {
    let service = slow_backend_within_deadline();
    let start = Instant::now();
    let short = with_header("request-timeout-ms", "100");
    let response = service.clone().oneshot(short).await.expect("answered");
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(start.elapsed(), Duration::from_millis(100));

    let ample = with_header("request-timeout-ms", "500");
    let response = service.clone().oneshot(ample).await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);

    // Spent already: refused without running.
    let start = Instant::now();
    let spent = with_header("request-timeout-ms", "0");
    let response = service.clone().oneshot(spent).await.expect("answered");
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(start.elapsed(), Duration::ZERO);

    // Nonsense is ignored: the timeout's own second applies, and the call succeeds.
    let nonsense = with_header("request-timeout-ms", "soon");
    let response = service.oneshot(nonsense).await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn an_earlier_deadline_already_set_is_kept() {
    let service = ServiceBuilder::new()
        .layer(DeadlineLayer::new())
        .service_fn(|request: Request<()>| async move {
            Ok::<_, BoxError>(request.extensions().get::<Deadline>().copied())
        });
    let mut request = with_header("request-timeout-ms", "900");
    let earlier = Deadline::after(Duration::from_millis(200));
    request.extensions_mut().insert(earlier);
    assert_eq!(
        service.clone().oneshot(request).await.expect("ran"),
        Some(earlier)
    );
    let mut request = with_header("request-timeout-ms", "100");
    request
        .extensions_mut()
        .insert(Deadline::after(Duration::from_millis(200)));
    let kept = service
        .oneshot(request)
        .await
        .expect("ran")
        .expect("a deadline");
    assert_eq!(kept.remaining(), Duration::from_millis(100));
}

/// Three hops: the edge reads the client's 250 ms, works 100 ms, calls the middle with
/// what is left; the middle works 100 ms and calls the last, which sees 50 ms.
#[tokio::test(start_paused = true)]
async fn the_budget_shrinks_along_the_hops() {
    let last = ServiceBuilder::new()
        .layer(DeadlineLayer::new())
        .service_fn(|request: Request<()>| async move {
            let told = budget_in(&request, &hardy_http::REQUEST_TIMEOUT_MS);
            let left = request
                .extensions()
                .get::<Deadline>()
                .map(|d| d.remaining());
            Ok::<_, BoxError>((told, left))
        });
    let hop = |next: tower::util::BoxCloneService<Request<()>, _, BoxError>| {
        ServiceBuilder::new()
            .layer(DeadlineLayer::new())
            .service_fn(move |request: Request<()>| {
                let next = next.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let mut onward = Request::new(());
                    if let Some(deadline) = request.extensions().get::<Deadline>() {
                        onward.extensions_mut().insert(*deadline);
                    }
                    ServiceBuilder::new()
                        .layer(PropagateDeadlineLayer::new())
                        .service(next)
                        .oneshot(onward)
                        .await
                }
            })
    };
    let middle = hop(tower::util::BoxCloneService::new(last));
    let edge = hop(tower::util::BoxCloneService::new(middle));
    let (told, left) = edge
        .oneshot(with_header("request-timeout-ms", "250"))
        .await
        .expect("answered");
    assert_eq!(told, Some(Duration::from_millis(50)));
    assert_eq!(left, Some(Duration::from_millis(50)));
}

#[tokio::test(start_paused = true)]
async fn a_shorter_header_already_there_is_kept() {
    let sent = ServiceBuilder::new()
        .layer(PropagateDeadlineLayer::new().header(HeaderName::from_static("x-budget-ms")))
        .service_fn(|request: Request<()>| async move {
            Ok::<_, BoxError>(request.headers().get("x-budget-ms").cloned())
        });
    let mut request = with_header("x-budget-ms", "40");
    request
        .extensions_mut()
        .insert(Deadline::after(Duration::from_millis(500)));
    let value = sent.clone().oneshot(request).await.expect("ran");
    assert_eq!(value.expect("kept"), "40");
    let mut request = with_header("x-budget-ms", "4000");
    request
        .extensions_mut()
        .insert(Deadline::after(Duration::from_millis(500)));
    let value = sent.clone().oneshot(request).await.expect("ran");
    assert_eq!(value.expect("replaced"), "500");
    let value = sent.oneshot(Request::new(())).await.expect("ran");
    assert!(value.is_none(), "no deadline, no header");
}

#[tokio::test(start_paused = true)]
async fn the_attempts_own_limit_caps_what_is_told() {
    let sent = ServiceBuilder::new()
        .layer(PropagateDeadlineLayer::new().at_most(Duration::from_millis(300)))
        .service_fn(|request: Request<()>| async move {
            Ok::<_, BoxError>(request.headers().get("request-timeout-ms").cloned())
        });
    let told = |deadline: Option<Duration>| {
        let sent = sent.clone();
        async move {
            let mut request = Request::new(());
            if let Some(budget) = deadline {
                request.extensions_mut().insert(Deadline::after(budget));
            }
            sent.oneshot(request).await.expect("ran").expect("told")
        }
    };
    assert_eq!(told(Some(Duration::from_secs(5))).await, "300");
    assert_eq!(told(Some(Duration::from_millis(120))).await, "120");
    assert_eq!(told(None).await, "300");
}

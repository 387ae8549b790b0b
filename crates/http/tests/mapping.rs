//! Each rejection answered as the response it means; the layer in front of a service;
//! every error answered; axum's `IntoResponse`.

use std::time::Duration;

use hardy_core::{Name, Rejection, ShedReason};
use hardy_http::{Problems, RejectionLayer};
use serde_json::Value;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

fn rejections() -> Vec<(Rejection, u16, Option<&'static str>)> {
    let name = Name::from("partner-api");
    vec![
        (
            Rejection::RateLimited {
                name: name.clone(),
                retry_after: Duration::from_millis(1200),
            },
            429,
            Some("2"),
        ),
        (
            Rejection::CircuitOpen {
                name: name.clone(),
                retry_after: Some(Duration::from_secs(30)),
            },
            503,
            Some("30"),
        ),
        (
            Rejection::CircuitOpen {
                name: name.clone(),
                retry_after: None,
            },
            503,
            None,
        ),
        (
            Rejection::BulkheadFull {
                name: name.clone(),
                in_flight: 8,
                max_concurrent: 8,
                waiting: 0,
                max_waiting: 0,
            },
            503,
            Some("1"),
        ),
        (
            Rejection::Shed {
                name: name.clone(),
                reason: ShedReason::Overload,
                retry_after: None,
            },
            503,
            Some("1"),
        ),
        (
            Rejection::Timeout {
                name: name.clone(),
                elapsed: Duration::from_secs(2),
                limit: Duration::from_secs(2),
            },
            504,
            None,
        ),
        (
            Rejection::PoolTimeout {
                name: name.clone(),
                waited: Duration::from_secs(1),
                last_error: None,
            },
            503,
            Some("1"),
        ),
        (Rejection::RetryBudgetExhausted { name }, 503, None),
    ]
}

#[test]
fn each_rejection_has_its_status_retry_after_and_problem() {
    for (rejection, status, retry_after) in rejections() {
        let response = Problems::Named.response::<String>(&rejection);
        assert_eq!(response.status(), status, "{rejection:?}");
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap()),
            retry_after,
            "{rejection:?}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(problem["status"], status);
        assert_eq!(problem["type"], "about:blank");
        assert_eq!(problem["pattern"], rejection.kind().as_str());
        assert_eq!(problem["handle"], "partner-api");
        assert_eq!(problem["detail"], rejection.to_string());
    }
}

#[test]
fn anonymous_problems_name_nothing_and_off_sends_no_body() {
    for (rejection, status, retry_after) in rejections() {
        let anonymous = Problems::Anonymous.response::<String>(&rejection);
        assert_eq!(anonymous.status(), status);
        assert!(
            !anonymous.body().contains("partner-api"),
            "{}",
            anonymous.body()
        );
        let problem: Value = serde_json::from_str(anonymous.body()).unwrap();
        assert!(problem.get("pattern").is_none() && problem.get("detail").is_none());
        let off = Problems::Off.response::<String>(&rejection);
        assert_eq!(off.status(), status);
        assert!(off.body().is_empty());
        assert!(off.headers().get("content-type").is_none());
        assert_eq!(
            off.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            retry_after
        );
    }
}

/// A service failing with `error` on every call.
fn failing(
    error: fn() -> BoxError,
) -> impl Service<http::Request<String>, Response = http::Response<String>, Error = BoxError> + Clone
{
    tower::service_fn(move |_: http::Request<String>| async move {
        Err::<http::Response<String>, BoxError>(error())
    })
}

fn limited() -> BoxError {
    Box::new(Rejection::RateLimited {
        name: Name::from("api"),
        retry_after: Duration::from_secs(3),
    })
}

fn broken() -> BoxError {
    "database down".into()
}

#[tokio::test]
async fn the_layer_answers_rejections_and_passes_other_errors() {
    let mut service = ServiceBuilder::new()
        .layer(RejectionLayer::new())
        .service(failing(limited));
    let response = service
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(String::new()))
        .await;
    let response = response.expect("a rejection is answered");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");

    let mut service = ServiceBuilder::new()
        .layer(RejectionLayer::new())
        .service(failing(broken));
    let error = service
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(String::new()))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "database down");
}

#[tokio::test]
async fn answer_all_answers_every_error() {
    for (problems, detail) in [(Problems::Named, true), (Problems::Anonymous, false)] {
        let mut service = ServiceBuilder::new()
            .layer(RejectionLayer::new().problems(problems).answer_all())
            .service(failing(broken));
        let response: http::Response<String> = service
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(String::new()))
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.body().contains("database down"), detail);
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_handlers_answer_a_rejection() {
    use axum::response::IntoResponse;
    let response = hardy_http::Answer::new(Rejection::Timeout {
        name: Name::from("backend"),
        elapsed: Duration::from_secs(1),
        limit: Duration::from_secs(1),
    })
    .into_response();
    assert_eq!(response.status(), 504);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["handle"], "backend");
}

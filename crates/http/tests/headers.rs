//! The RateLimit fields: what they tell on served and refused calls, per key, with two
//! limits, and for a limiter shared through a store.

use std::sync::Arc;
use std::time::Duration;

use hardy_http::{Fields, RateLimitHeadersLayer, RejectionLayer, key};
use hardy_rate_limit::{KeyedRateLimiter, RateLimiter, RateStore, TakeFuture, TakeRequest, Taken};
use http::{HeaderMap, Request, Response, StatusCode};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

fn ok_service()
-> impl Service<Request<()>, Response = Response<String>, Error = BoxError, Future = impl Send> + Clone
{
    tower::service_fn(|_: Request<()>| async { Ok::<_, BoxError>(Response::new(String::new())) })
}

fn field(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().expect("ASCII").to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn served_calls_count_down_and_refused_ones_say_so() {
    // 3 a minute: a turn back every 20 s.
    let api = RateLimiter::builder("api")
        .per(3, Duration::from_secs(60))
        .build()
        .expect("a valid limit");
    let service = ServiceBuilder::new()
        .layer(RateLimitHeadersLayer::new(&api))
        .layer(RejectionLayer::new())
        .layer(api.layer())
        .service(ok_service());
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = service
            .clone()
            .oneshot(Request::new(()))
            .await
            .expect("answered");
        let headers = response.headers();
        assert_eq!(field(headers, "ratelimit-policy"), [r#""api";q=3;w=60"#]);
        assert_eq!(field(headers, "x-ratelimit-limit"), ["3"]);
        seen.push((
            response.status(),
            field(headers, "ratelimit").concat(),
            field(headers, "x-ratelimit-remaining").concat(),
            field(headers, "x-ratelimit-reset").concat(),
        ));
    }
    let row = |status, ietf: &str, remaining: &str, reset: &str| {
        (
            status,
            ietf.to_owned(),
            remaining.to_owned(),
            reset.to_owned(),
        )
    };
    assert_eq!(
        seen,
        [
            row(StatusCode::OK, r#""api";r=2;t=20"#, "2", "20"),
            row(StatusCode::OK, r#""api";r=1;t=40"#, "1", "40"),
            row(StatusCode::OK, r#""api";r=0;t=60"#, "0", "60"),
            row(
                StatusCode::TOO_MANY_REQUESTS,
                r#""api";r=0;t=60"#,
                "0",
                "60"
            ),
        ]
    );
    // Half a minute later one turn is back, and the rest in another half.
    tokio::time::advance(Duration::from_secs(30)).await;
    let response = service
        .clone()
        .oneshot(Request::new(()))
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        field(response.headers(), "ratelimit"),
        [r#""api";r=0;t=50"#]
    );
}

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_count() {
    let per_client = KeyedRateLimiter::builder("per-client")
        .per(5, Duration::from_secs(1))
        .build_keyed::<key::HeaderKey>()
        .expect("a valid limit");
    let api_key = key::header(http::header::AUTHORIZATION);
    let service = ServiceBuilder::new()
        .layer(
            RateLimitHeadersLayer::keyed(&per_client, api_key.clone()).fields(Fields::XRateLimit),
        )
        .layer(RejectionLayer::new())
        .layer(per_client.layer(api_key))
        .service(ok_service());
    let call = |who: &'static str| {
        let service = service.clone();
        async move {
            let request = Request::builder()
                .header("authorization", who)
                .body(())
                .expect("a valid request");
            let response = service.oneshot(request).await.expect("answered");
            assert!(
                response.headers().get("ratelimit").is_none(),
                "X- fields only"
            );
            field(response.headers(), "x-ratelimit-remaining").concat()
        }
    };
    assert_eq!(call("ana").await, "4");
    assert_eq!(call("ana").await, "3");
    assert_eq!(call("ben").await, "4");
    assert_eq!(call("ana").await, "2");
}

#[tokio::test(start_paused = true)]
async fn two_limits_list_both_policies_and_the_trio_tells_the_tighter() {
    let global = RateLimiter::builder("global")
        .per(100, Duration::from_secs(1))
        .build()
        .expect("a valid limit");
    let per_route = RateLimiter::builder("water")
        .per(2, Duration::from_secs(10))
        .build()
        .expect("a valid limit");
    let service = ServiceBuilder::new()
        .layer(RateLimitHeadersLayer::new(&global).policy_name("all"))
        .layer(RateLimitHeadersLayer::new(&per_route).policy_name("route"))
        .layer(RejectionLayer::new())
        .layer(global.layer())
        .layer(per_route.layer())
        .service(ok_service());
    let response = service.oneshot(Request::new(())).await.expect("answered");
    let headers = response.headers();
    assert_eq!(
        field(headers, "ratelimit-policy"),
        [r#""route";q=2;w=10"#, r#""all";q=100;w=1"#]
    );
    assert_eq!(
        field(headers, "ratelimit"),
        [r#""route";r=1;t=5"#, r#""all";r=99;t=1"#]
    );
    assert_eq!(field(headers, "x-ratelimit-limit"), ["2"]);
    assert_eq!(field(headers, "x-ratelimit-remaining"), ["1"]);
}

/// A store that grants every turn asked for.
#[derive(Debug)]
struct Generous;

impl RateStore for Generous {
    fn take(&self, request: TakeRequest) -> TakeFuture {
        Box::pin(async move {
            Ok(Taken::Now {
                granted: request.want,
            })
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_shared_limit_tells_its_policy_only() {
    let shared = RateLimiter::builder("fleet")
        .per(50, Duration::from_secs(1))
        .build_shared(Arc::new(Generous))
        .expect("a valid limit");
    assert!(shared.quota().is_none());
    let service = ServiceBuilder::new()
        .layer(RateLimitHeadersLayer::new(&shared).fields(Fields::Both))
        .layer(RejectionLayer::new())
        .layer(shared.layer())
        .service(ok_service());
    let response = service.oneshot(Request::new(())).await.expect("answered");
    let headers = response.headers();
    assert_eq!(field(headers, "ratelimit-policy"), [r#""fleet";q=50;w=1"#]);
    assert_eq!(field(headers, "x-ratelimit-limit"), ["50"]);
    assert!(headers.get("ratelimit").is_none());
    assert!(headers.get("x-ratelimit-remaining").is_none());
}

#[tokio::test(start_paused = true)]
async fn ietf_fields_only_and_errors_pass_through() {
    let api = RateLimiter::builder("api")
        .per(1, Duration::from_secs(1))
        .build()
        .expect("a valid limit");
    let failing = tower::service_fn(|_: Request<()>| async {
        Err::<Response<String>, BoxError>("backend down".into())
    });
    let service = ServiceBuilder::new()
        .layer(RateLimitHeadersLayer::new(&api).fields(Fields::Ietf))
        .layer(api.layer())
        .service(failing);
    let error = service
        .oneshot(Request::new(()))
        .await
        .expect_err("the backend fails");
    assert_eq!(error.to_string(), "backend down");
    let service = ServiceBuilder::new()
        .layer(RateLimitHeadersLayer::new(&api).fields(Fields::Ietf))
        .service(ok_service());
    let response = service.oneshot(Request::new(())).await.expect("answered");
    assert!(response.headers().get("x-ratelimit-limit").is_none());
    assert_eq!(field(response.headers(), "ratelimit"), [r#""api";r=0;t=1"#]);
}

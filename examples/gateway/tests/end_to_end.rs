//! The gateway over real loopback sockets, in front of its real backend: answers and
//! their fields, per-client limits (and a client that cannot pick its own key), an
//! outage (the last good reading, the breaker opening, the backend spared), the
//! client's deadline told onward and enforced, low priorities shed first.
//!
//! Each test waits on conditions with bounded patience and asserts counts, never times.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use gateway::{Backend, BackendConfig, Gateway, GatewayConfig};
use hardy::Policies;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The policies of these tests: small numbers, so a few requests show each pattern.
const POLICIES: &str = r#"
[rate_limit.per_client]
limit = 5
period = "60s"
burst = 5

[load_shed.edge]
priorities = 3
# A fixed limit, so that the test sees priorities at work, not the limit adapting:
# priority 0 may fill 5 calls, priority 1 four, priority 2 three.
limit = { algorithm = "fixed", limit = 5 }

[breaker.backend]
failure_ratio = 0.5
minimum_calls = 4
open_for = "60s"

[retry.backend]
max_attempts = 2
backoff = { kind = "constant", delay = "1ms" }

[timeout]
default = "2s"

[timeout.operations]
read_plant = "1s"
report = "5s"

[fallback.plant_reads]
max_staleness = "10m"

[operations.read_plant]
service = "backend"

[operations.water]
service = "backend"
retry = false

[operations.report]
service = "backend"
"#;

/// How long a test waits for a condition before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// One recorder for the test process; each gateway's handles register in it.
fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("the only recorder of this process")
        })
        .clone()
}

struct Setup {
    backend: Backend,
    gateway: Gateway,
    client: Client<HttpConnector, Empty<Bytes>>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn setup(backend: BackendConfig, trusted_proxies: &[&str]) -> Setup {
    let backend = Backend::start(backend).await.expect("a backend");
    let config = GatewayConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        backend: backend.addr(),
        trusted_proxies: trusted_proxies.iter().map(|p| (*p).to_owned()).collect(),
    };
    let policies = Policies::from_toml(POLICIES).expect("valid policies");
    let gateway = Gateway::start(config, policies, metrics())
        .await
        .expect("a gateway");
    Setup {
        backend,
        gateway,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

/// A quiet backend: no failures, nothing slow.
fn steady() -> BackendConfig {
    BackendConfig {
        slots: 4,
        work: Duration::from_millis(2),
        fail_ratio: 0.0,
        slow_ratio: 0.0,
        report_work: Duration::from_millis(2),
        ..BackendConfig::default()
    }
}

impl Setup {
    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.gateway.addr()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).expect("a valid request");
        let response = tokio::time::timeout(PATIENCE, self.client.request(request))
            .await
            .expect("answered in time")
            .expect("answered");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a whole body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[]).await
    }

    async fn get_as(&self, client: &str, path: &str) -> Answer {
        self.send(Method::GET, path, &[("x-forwarded-for", client)])
            .await
    }
}

/// Waits until `condition` holds, at most [`PATIENCE`].
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_writes_and_their_fields() {
    let setup = setup(steady(), &[]).await;
    let read = setup.get("/api/plants/3").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, r#"{"plant":3,"moisture":0.45}"#);
    assert_eq!(read.headers["content-type"], "application/json");
    assert_eq!(read.headers["ratelimit-policy"], r#""per_client";q=5;w=60"#);
    assert_eq!(read.headers["x-ratelimit-remaining"], "4");
    assert!(read.headers.get("age").is_none(), "fresh from the backend");
    let water = setup.send(Method::POST, "/api/plants/3/water", &[]).await;
    assert_eq!(water.status, StatusCode::OK);
    assert_eq!(water.headers["x-ratelimit-remaining"], "3");
    let report = setup.get("/api/report").await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(setup.backend.received(), 3);
    assert_eq!(setup.backend.served(), 3);

    let health = setup.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(
        health.body.contains(r#""status":"healthy""#),
        "{}",
        health.body
    );
    let metrics = setup.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    for name in [
        "hardy_rate_limit_calls_total{name=\"per_client\"",
        "hardy_load_shed_calls_total",
        "hardy_breaker_calls_total",
    ] {
        assert!(metrics.body.contains(name), "{name} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_behind_the_proxy_has_its_own_rate() {
    // The test's own address, 127.0.0.1, is the trusted proxy.
    let setup = setup(steady(), &["127.0.0.1"]).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(setup.get_as("203.0.113.1", "/api/plants/1").await.status);
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, limited), (5, 2), "{statuses:?}");
    let refused = setup.get_as("203.0.113.1", "/api/plants/1").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    assert_eq!(refused.headers["retry-after"], "12");
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
    assert!(
        refused.body.contains(r#""pattern":"rate_limited""#),
        "{}",
        refused.body
    );
    // Another client through the same proxy.
    assert_eq!(
        setup.get_as("203.0.113.2", "/api/plants/1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        setup.backend.received(),
        6,
        "refused calls never reach the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_is_not_a_proxy_cannot_pick_its_key() {
    let setup = setup(steady(), &[]).await;
    let mut ok = 0;
    for n in 0..8 {
        let claimed = format!("198.51.100.{n}");
        if setup.get_as(&claimed, "/api/plants/1").await.status == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 5, "one client, however many addresses it claims");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_answered_from_memory_and_the_breaker_spares_the_backend() {
    let setup = setup(steady(), &["127.0.0.1"]).await;
    let first = setup.get_as("192.0.2.1", "/api/plants/1").await;
    assert_eq!(first.status, StatusCode::OK);
    setup.backend.set_down(true);

    // A plant read before: its last good reading, with its age.
    let remembered = setup.get_as("192.0.2.2", "/api/plants/1").await;
    assert_eq!(remembered.status, StatusCode::OK);
    assert_eq!(remembered.body, first.body);
    assert!(remembered.headers.contains_key("age"));

    // A plant never read: failures, until the breaker opens.
    let mut opened = false;
    for n in 0..20 {
        let client = format!("192.0.2.{}", 10 + n);
        let answer = setup.get_as(&client, "/api/plants/2").await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        if answer.body.contains(r#""pattern":"circuit_open""#) {
            opened = true;
            break;
        }
    }
    assert!(opened, "the breaker opened");
    let received = setup.backend.received();
    for n in 0..5 {
        let client = format!("192.0.2.{}", 100 + n);
        let answer = setup.get_as(&client, "/api/plants/2").await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers["retry-after"].to_str().ok(), Some("60"));
        let water = setup
            .send(
                Method::POST,
                "/api/plants/2/water",
                &[("x-forwarded-for", &client)],
            )
            .await;
        assert_eq!(water.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(
        setup.backend.received(),
        received,
        "the open breaker spares it"
    );
    // Reads remembered are still answered.
    let remembered = setup.get_as("192.0.2.200", "/api/plants/1").await;
    assert_eq!(remembered.status, StatusCode::OK);
    let health = setup.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(
        health.body.contains(r#""status":"degraded""#),
        "{}",
        health.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_deadline_is_told_onward_and_enforced() {
    let setup = setup(
        BackendConfig {
            report_work: Duration::from_secs(3),
            ..steady()
        },
        &[],
    )
    .await;
    let read = setup
        .send(
            Method::GET,
            "/api/plants/4",
            &[("request-timeout-ms", "5000")],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let told = setup.backend.budget_told().expect("told");
    // The read's own limit (1 s) is sooner than the client's 5 s.
    assert!(
        told <= Duration::from_secs(1) && told > Duration::ZERO,
        "{told:?}"
    );

    let report = setup
        .send(Method::GET, "/api/report", &[("request-timeout-ms", "50")])
        .await;
    assert_eq!(report.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        report.body.contains(r#""pattern":"timeout""#),
        "{}",
        report.body
    );
    let told = setup.backend.budget_told().expect("told");
    assert!(told <= Duration::from_millis(50), "{told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_priorities_are_shed_first() {
    let setup = setup(
        BackendConfig {
            report_work: Duration::from_secs(2),
            ..steady()
        },
        &["127.0.0.1"],
    )
    .await;
    let setup = std::sync::Arc::new(setup);
    let reports: Vec<_> = (0..3)
        .map(|n| {
            let setup = setup.clone();
            tokio::spawn(async move {
                let client = format!("192.0.2.{n}");
                setup.get_as(&client, "/api/report").await.status
            })
        })
        .collect();
    let backend = setup.backend.clone();
    until("three reports at the backend", || backend.in_flight() == 3).await;
    let fourth = setup.get_as("192.0.2.9", "/api/report").await;
    assert_eq!(fourth.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        fourth.body.contains(r#""pattern":"shed""#),
        "{}",
        fourth.body
    );
    let water = setup
        .send(
            Method::POST,
            "/api/plants/1/water",
            &[("x-forwarded-for", "192.0.2.10")],
        )
        .await;
    assert_eq!(water.status, StatusCode::OK, "watering still gets through");
    for report in reports {
        assert_eq!(report.await.expect("no panic"), StatusCode::OK);
    }
}

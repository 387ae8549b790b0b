//! The built-in checks and the HTTP endpoints, over real loopback sockets (real time,
//! but nothing waits on it: every call answers at once).

#![cfg(all(
    feature = "http",
    feature = "http-check",
    feature = "breaker",
    feature = "pool"
))]

use hardy_breaker::CircuitBreaker;
use hardy_health::{
    BreakerCheck, CheckConfig, HealthCheck, HealthRegistry, HttpCheck, Probes, Status, TcpCheck,
    check_fn, http,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves the registry's router on a loopback port; returns the address.
async fn serve(registry: HealthRegistry) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, http::router(registry))
            .await
            .expect("serve");
    });
    address
}

/// A plain HTTP/1.1 GET; returns the status and the body.
async fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response[9..12].parse().expect("a status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .expect("a body");
    (status, body)
}

fn registry(db: Status) -> HealthRegistry {
    HealthRegistry::builder("app")
        .check(
            "process",
            check_fn(|| async { Status::Healthy }),
            CheckConfig {
                probes: Probes::LIVENESS,
                ..CheckConfig::default()
            },
        )
        .check(
            "db",
            check_fn(move || async move { db }),
            CheckConfig {
                failure_threshold: 1,
                ..CheckConfig::default()
            },
        )
        .build()
        .expect("valid")
}

#[tokio::test]
async fn the_endpoints_answer_200_or_503_with_the_report() {
    let address = serve(registry(Status::Unhealthy)).await;
    let (status, body) = get(address, "/health/live").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["status"],
        "healthy"
    );
    let (status, body) = get(address, "/health/ready").await;
    assert_eq!(status, 503);
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["status"], "unhealthy");
    assert_eq!(report["checks"]["db"]["status"], "unhealthy");
    assert_eq!(
        report["checks"]["process"]["status"], "healthy",
        "own state is ready too"
    );
    assert_eq!(get(address, "/health").await.0, 503);
    assert_eq!(
        get(address, "/health/startup").await.0,
        200,
        "no startup checks"
    );
}

#[tokio::test]
async fn a_degraded_program_still_serves() {
    let address = serve(registry(Status::Degraded)).await;
    let (status, body) = get(address, "/health").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""status":"degraded""#), "{body}");
}

#[tokio::test]
async fn the_http_check_reads_a_status_over_the_wire() {
    let up = serve(registry(Status::Healthy)).await;
    let down = serve(registry(Status::Unhealthy)).await;
    let ok = HttpCheck::get(&format!("http://{up}/health")).expect("uri");
    assert_eq!(ok.check().await.status, Status::Healthy);
    let failing = HttpCheck::get(&format!("http://{down}/health")).expect("uri");
    let result = failing.check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert_eq!(
        result.message.as_deref(),
        Some(format!("GET http://{down}/health: status 503, expected 200").as_str())
    );
    let expecting = HttpCheck::get(&format!("http://{down}/health"))
        .expect("uri")
        .expect_status(503);
    assert_eq!(expecting.check().await.status, Status::Healthy);
}

#[tokio::test]
async fn the_tcp_check_connects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    assert_eq!(
        TcpCheck::new(address.to_string()).check().await.status,
        Status::Healthy
    );
    drop(listener);
    let result = TcpCheck::new(address.to_string()).check().await;
    assert_eq!(result.status, Status::Unhealthy);
    assert!(
        result
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with(&format!("connect {address}: "))),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_degraded_not_unhealthy() {
    let breaker = CircuitBreaker::builder("soil-1").build().expect("valid");
    let check = BreakerCheck::new(breaker.clone());
    assert_eq!(check.check().await.status, Status::Healthy);
    breaker.force_open();
    let result = check.check().await;
    assert_eq!(result.status, Status::Degraded);
    assert!(
        result
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("breaker \"soil-1\" is ")),
        "{result:?}"
    );
    breaker.reset();
    assert_eq!(check.check().await.status, Status::Healthy);
}

struct Slot;

impl hardy_pool::Manager for Slot {
    type Object = ();
    type Error = std::io::Error;

    async fn create(&self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_or_timing_out_pool_is_degraded() {
    let pool = hardy_pool::Pool::builder("db", Slot)
        .config(hardy_pool::PoolConfig {
            max_size: 1,
            acquire_timeout: std::time::Duration::from_secs(1),
            ..hardy_pool::PoolConfig::default()
        })
        .build()
        .expect("valid");
    let check = hardy_health::PoolCheck::new(pool.clone());
    assert_eq!(check.check().await.status, Status::Healthy);
    let held = pool.get().await.expect("held");
    let mut waiting = tokio_test::task::spawn(pool.get());
    assert!(waiting.poll().is_pending());
    let result = check.check().await;
    assert_eq!(result.status, Status::Degraded);
    assert!(
        result
            .message
            .as_deref()
            .is_some_and(|m| m.contains("exhausted"))
    );
    assert!(waiting.await.is_err(), "timed out");
    drop(held);
    let result = check.check().await;
    assert_eq!(result.status, Status::Degraded, "{result:?}");
    assert!(
        result
            .message
            .as_deref()
            .is_some_and(|m| m.contains("timed out"))
    );
    assert_eq!(
        check.check().await.status,
        Status::Healthy,
        "no new timeouts"
    );
    pool.close();
    assert_eq!(check.check().await.status, Status::Unhealthy);
}

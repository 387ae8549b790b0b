//! The HTTP endpoints over a real loopback socket.

use metrics_exporter_prometheus::PrometheusBuilder;
use plant_care::config::Config;
use plant_care::controller::Controller;
use plant_care::hardware::{self, Faults};
use plant_care::server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response[9..12].parse().expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .expect("body");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_plants_are_served() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let config = Config::default();
    let controller = metrics::with_local_recorder(&recorder, || {
        let hardware = hardware::build(&config, Faults::None).expect("hardware");
        Controller::new(&config, hardware).expect("controller")
    });
    controller.tick().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let app = server::router(controller.clone(), metrics);
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let (status, body) = get(address, "/plants").await;
    assert_eq!(status, 200);
    let plants: serde_json::Value = serde_json::from_str(&body).expect("json");
    let plants = plants.as_array().expect("a list");
    assert_eq!(plants.len(), 3);
    assert_eq!(plants[0]["id"], "basil");
    assert!(
        plants[0]["moisture"].as_f64().is_some_and(|m| m > 0.0),
        "{body}"
    );
    assert_eq!(plants[0]["sensor_breaker"], "closed");

    let (status, body) = get(address, "/health/ready").await;
    let ready: serde_json::Value = serde_json::from_str(&body).expect("json");
    // The garden's checks are healthy; the disk's is the machine's running the test,
    // and the answer follows it.
    for (name, check) in ready["checks"].as_object().expect("checks") {
        if name != "disk" {
            assert_eq!(check["status"], "healthy", "{name}: {body}");
        }
    }
    #[cfg(unix)]
    assert!(ready["checks"]["disk"]["message"].is_string(), "{body}");
    let serving = matches!(ready["status"].as_str(), Some("healthy" | "degraded"));
    assert_eq!(status, if serving { 200 } else { 503 }, "{body}");
    assert_eq!(get(address, "/health/live").await.0, 200);
    let (status, body) = get(address, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("hardy_retry_calls_total"), "{body}");
    assert!(body.contains("hardy_breaker_state"), "{body}");
}

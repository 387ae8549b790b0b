//! hyper-util's client behind a Hardy stack: retries that read the server's
//! `Retry-After` and never repeat a POST, a per-attempt timeout under the caller's
//! deadline, a breaker, and the time left told to the server in a header.
//!
//! The example starts its own unreliable server on a loopback port (every third call
//! answered 503, every fifth slow), makes 20 reads and one write, prints what each
//! came to, and stops.
//!
//! ```text
//! cargo run -p hardy-http --example hyper_client
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hardy_breaker::CircuitBreaker;
use hardy_http::{
    PropagateDeadlineLayer, REQUEST_TIMEOUT_MS, ResponseClassifier, clone_idempotent,
};
use hardy_retry::{Backoff, Retry};
use hardy_timeout::{Deadline, FromExtensions, Timeout, TimeoutLayer};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// The unreliable server: counts calls; every third fails with 503 and
/// `Retry-After: 0`, every fifth takes 400 ms.
async fn reading(State(calls): State<Arc<AtomicU32>>, headers: HeaderMap) -> Response {
    let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
    let budget = headers
        .get(REQUEST_TIMEOUT_MS.as_str())
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    if n % 3 == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")]).into_response();
    }
    if n % 5 == 0 {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    format!("moisture 0.41 (budget told: {budget} ms)").into_response()
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let calls = Arc::new(AtomicU32::new(0));
    let app = axum::Router::new()
        .route("/reading", axum::routing::get(reading).post(reading))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let retry = Retry::builder("reading")
        .max_attempts(3)
        .backoff(Backoff::Constant {
            delay: Duration::from_millis(20),
        })
        .build()?;
    let per_attempt = Timeout::new("reading-attempt", Duration::from_millis(150))?;
    let breaker = CircuitBreaker::builder("reading")
        .failure_ratio(0.8)
        .minimum_calls(10)
        .build()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let stack = ServiceBuilder::new()
        .layer(
            retry
                .layer()
                .classify(ResponseClassifier)
                .clone_requests(clone_idempotent)
                .deadline_from(FromExtensions),
        )
        .layer(TimeoutLayer::new(per_attempt).deadline_from(FromExtensions))
        .layer(breaker.layer().classify(ResponseClassifier))
        .layer(PropagateDeadlineLayer::new())
        .map_err(BoxError::from)
        .service(client);

    let uri = format!("http://{addr}/reading");
    let (mut served, mut failed) = (0, 0);
    for i in 1..=21 {
        // The last is a write: sent once, whatever it gets.
        let method = if i == 21 { "POST" } else { "GET" };
        let mut request = Request::builder()
            .method(method)
            .uri(&uri)
            .body(Full::new(Bytes::new()))?;
        // The caller gives each read half a second in all, attempts and waits included.
        request
            .extensions_mut()
            .insert(Deadline::after(Duration::from_millis(500)));
        let before = calls.load(Ordering::Relaxed);
        let result = stack.clone().oneshot(request).await;
        let attempts = calls.load(Ordering::Relaxed) - before;
        match result {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                served += u32::from(status.is_success());
                failed += u32::from(!status.is_success());
                println!(
                    "{method} #{i:>2}, {attempts} attempt(s): {status} {}",
                    String::from_utf8_lossy(&body)
                );
            }
            Err(error) => {
                failed += 1;
                println!("{method} #{i:>2}, {attempts} attempt(s): {error}");
            }
        }
    }
    println!(
        "{served} served, {failed} not, in {} calls to the server; breaker {:?}",
        calls.load(Ordering::Relaxed),
        breaker.state()
    );
    server.abort();
    Ok(())
}

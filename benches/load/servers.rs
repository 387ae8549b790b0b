//! The four servers under load: the same axum proxy in front of the same backend, each
//! with its own protection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hardy::Policies;
use hardy::breaker::CircuitBreaker;
use hardy::http::RejectionLayer;
use hardy::load_shed::LoadShedder;
use hardy::timeout::Timeout;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, ServiceBuilder, ServiceExt};

/// Every protected server gives up on a call after this long.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(1);

/// What stands between the clients and the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Protection {
    /// Nothing: every request goes to the backend.
    None,
    /// tower's `ConcurrencyLimit` at the backend's exact capacity, `LoadShed`, `Timeout`.
    Tower,
    /// tower-resilience's bulkhead at the exact capacity (refusing when full), circuit
    /// breaker and time limiter, in that order.
    TowerResilience,
    /// Hardy's adaptive load shedder (not told the capacity), timeout and breaker, as
    /// the gateway example configures them.
    Hardy,
}

impl Protection {
    /// Every protection, in the order of the tables.
    pub(crate) const ALL: [Protection; 4] = [
        Protection::None,
        Protection::Tower,
        Protection::TowerResilience,
        Protection::Hardy,
    ];

    /// The name in tables and on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Protection::None => "none",
            Protection::Tower => "tower",
            Protection::TowerResilience => "tower-resilience",
            Protection::Hardy => "hardy",
        }
    }
}

type Proxy = BoxCloneSyncService<Request, Response, BoxError>;

/// A protection's refusal or failure, with the status it is answered with.
#[derive(Debug)]
struct Refusal(StatusCode);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "answered {}", self.0)
    }
}

impl std::error::Error for Refusal {}

fn refusal(status: StatusCode) -> BoxError {
    Box::new(Refusal(status))
}

/// Forwards each request to the backend's `GET /plants/1`.
fn forward(backend: SocketAddr) -> BoxCloneSyncService<Request, Response, BoxError> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let uri: http::Uri = format!("http://{backend}/plants/1")
        .parse()
        .expect("a valid URI");
    BoxCloneSyncService::new(tower::service_fn(move |_: Request| {
        let client = client.clone();
        let uri = uri.clone();
        async move {
            let response = client.get(uri).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, Body::from(body)))
        }
    }))
}

/// The proxy with `protection` in front of `backend`; `capacity` is the backend's exact
/// concurrency, which the fixed limits of the peers are set to. For Hardy, its load
/// shedder too, whose limit the run watches.
pub(crate) fn proxy(
    protection: Protection,
    backend: SocketAddr,
    capacity: usize,
) -> (Proxy, Option<LoadShedder>) {
    let forward = forward(backend);
    let proxy = match protection {
        Protection::None => forward,
        Protection::Tower => {
            let service = ServiceBuilder::new()
                .load_shed()
                .concurrency_limit(capacity)
                .timeout(TIMEOUT)
                .service(forward);
            BoxCloneSyncService::new(service.map_err(|error: BoxError| {
                if error.is::<tower::load_shed::error::Overloaded>() {
                    refusal(StatusCode::SERVICE_UNAVAILABLE)
                } else if error.is::<tower::timeout::error::Elapsed>() {
                    refusal(StatusCode::GATEWAY_TIMEOUT)
                } else {
                    error
                }
            }))
        }
        Protection::TowerResilience => {
            use tower_resilience_bulkhead::BulkheadServiceError;
            use tower_resilience_circuitbreaker::CircuitBreakerError;
            use tower_resilience_timelimiter::TimeLimiterError;
            let breaker = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
                .failure_rate_threshold(0.5)
                .sliding_window_size(100)
                .build()
                .expect("a valid breaker");
            let limiter = tower_resilience_timelimiter::TimeLimiterLayer::builder()
                .timeout_duration(TIMEOUT)
                .build();
            let bulkhead = tower_resilience_bulkhead::BulkheadLayer::builder()
                .max_concurrent_calls(capacity)
                .reject_when_full()
                .build()
                .expect("a valid bulkhead");
            // In the order of Hardy's: the bulkhead refuses first, so that its
            // refusals do not count against the backend in the breaker.
            let service = bulkhead.layer(breaker.layer(limiter.layer(forward)));
            BoxCloneSyncService::new(service.map_err(|error| match error {
                BulkheadServiceError::Bulkhead(_)
                | BulkheadServiceError::Inner(CircuitBreakerError::OpenCircuit) => {
                    refusal(StatusCode::SERVICE_UNAVAILABLE)
                }
                BulkheadServiceError::Inner(CircuitBreakerError::Inner(
                    TimeLimiterError::Timeout,
                )) => refusal(StatusCode::GATEWAY_TIMEOUT),
                _ => refusal(StatusCode::BAD_GATEWAY),
            }))
        }
        Protection::Hardy => {
            let policies = Policies::from_toml(gateway::POLICIES).expect("the gateway's policies");
            let shedder = policies
                .get::<LoadShedder>("edge")
                .expect("[load_shed.edge] in the gateway's policies");
            let breaker = policies
                .get::<CircuitBreaker>("backend")
                .expect("[breaker.backend] in the gateway's policies");
            let timeout = Timeout::new("load", TIMEOUT).expect("a valid timeout");
            let service = ServiceBuilder::new()
                .map_err(|never: Infallible| -> BoxError { match never {} })
                .layer(RejectionLayer::new().answer_all())
                .layer(shedder.layer())
                .layer(breaker.layer())
                .layer(hardy::timeout::TimeoutLayer::new(timeout))
                .service(forward);
            return (BoxCloneSyncService::new(service), Some(shedder));
        }
    };
    (proxy, None)
}

/// Serves `proxy` on a free loopback port until the returned task is aborted: its
/// refusals answered with their status (Hardy's are answered by its own layer), other
/// errors with 502.
pub(crate) async fn serve(
    proxy: Proxy,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let answer = tower::service_fn(move |request: Request| {
        let proxy = proxy.clone();
        async move {
            Ok::<_, Infallible>(match proxy.oneshot(request).await {
                Ok(response) => response,
                Err(error) => match error.downcast_ref::<Refusal>() {
                    Some(Refusal(status)) => status.into_response(),
                    None => StatusCode::BAD_GATEWAY.into_response(),
                },
            })
        }
    });
    let app = axum::Router::new().route_service("/work", answer);
    let task = tokio::spawn(async move {
        // Serving ends when the task is aborted.
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

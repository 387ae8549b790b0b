//! The gateway: an axum app whose API routes are protected by a stack read from a
//! policy file, forwarding to the backend through hyper-util's client.
//!
//! ```text
//! client ─▶ RateLimit fields ─▶ rejections as responses ─▶ per-client rate limit
//!        ─▶ the client's deadline ─▶ load shedding (priorities, fair shares)
//!        ─▶ route ─▶ [last good reading] ─▶ retry ─▶ breaker ─▶ timeout per attempt
//!        ─▶ deadline told onward ─▶ backend
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hardy::Policies;
use hardy::breaker::CircuitBreaker;
use hardy::fallback::{LastKnownGood, LastKnownGoodConfig};
use hardy::health::{BreakerCheck, CheckConfig, HealthRegistry};
use hardy::http::key::{ClientAddr, ClientIp};
use hardy::http::{
    Answer, DeadlineLayer, PropagateDeadlineLayer, RateLimitHeadersLayer, RejectionLayer,
    ResponseClassifier, clone_idempotent,
};
use hardy::load_shed::{LoadShedder, Priority};
use hardy::rate_limit::{KeyedRateLimiter, RateLimitConfig};
use hardy::retry::Retry;
use hardy::timeout::{Deadline, FromExtensions, TimeoutLayer};
use hardy::{Classify, DefaultClassifier, Outcome, Retryability};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, ServiceBuilder, ServiceExt};

/// A request to the backend and its answer, through the client's stack.
type Upstream = BoxCloneSyncService<http::Request<Full<Bytes>>, http::Response<Incoming>, BoxError>;

/// What the gateway needs besides its policies.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where the gateway listens.
    pub listen: SocketAddr,
    /// The backend's address.
    pub backend: SocketAddr,
    /// The proxies whose forwarded-for headers name the client (addresses or networks);
    /// none: the client is the peer.
    pub trusted_proxies: Vec<String>,
}

/// The handles the policy file made, for a caller that watches or steers them.
pub struct Handles {
    /// Every policy, by name.
    pub policies: Policies,
    /// The per-client rate limit.
    pub per_client: KeyedRateLimiter<ClientAddr>,
    /// The load shedder in front of the routes.
    pub shedder: LoadShedder,
    /// The backend's breaker.
    pub breaker: CircuitBreaker,
    /// The last good plant readings, by plant.
    pub last_good: LastKnownGood<u32, Reply>,
    /// The gateway's health checks.
    pub health: HealthRegistry,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("per_client", &self.per_client)
            .field("shedder", &self.shedder)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

/// A backend's answer as the gateway keeps and forwards it.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
    /// When the backend gave it.
    at: Instant,
}

/// The client's stack for each operation, sharing one retry and one breaker.
#[derive(Clone)]
struct Routes {
    backend: SocketAddr,
    read_plant: Upstream,
    water: Upstream,
    report: Upstream,
    last_good: LastKnownGood<u32, Reply>,
}

/// A policy the file must have.
fn needed<T>(found: Option<T>, what: &str) -> Result<T, BoxError> {
    found.ok_or_else(|| format!("the policy file has no {what}").into())
}

/// Builds the gateway's handles from `policies`.
///
/// # Errors
///
/// A policy the gateway needs is missing or wrong.
pub fn handles(policies: Policies) -> Result<Handles, BoxError> {
    let per_client = needed(
        policies.entry::<RateLimitConfig>("per_client").cloned(),
        "[rate_limit.per_client]",
    )?;
    let per_client = KeyedRateLimiter::from_config("per_client", per_client)?;
    let shedder = needed(policies.get::<LoadShedder>("edge"), "[load_shed.edge]")?;
    let breaker = needed(
        policies.get::<CircuitBreaker>("backend"),
        "[breaker.backend]",
    )?;
    let last_good = needed(
        policies
            .entry::<LastKnownGoodConfig>("plant_reads")
            .cloned(),
        "[fallback.plant_reads]",
    )?;
    let last_good = LastKnownGood::builder("plant_reads")
        .config(last_good)
        .build::<u32, Reply>()?;
    let health = HealthRegistry::builder("gateway")
        .check(
            "backend-breaker",
            BreakerCheck::new(breaker.clone()),
            CheckConfig::default(),
        )
        .build()?;
    Ok(Handles {
        policies,
        per_client,
        shedder,
        breaker,
        last_good,
        health,
    })
}

/// The client's stack for `operation`: its retry (if any), the backend's breaker, its
/// per-attempt timeout under the caller's deadline, the deadline told onward.
fn upstream(policies: &Policies, breaker: &CircuitBreaker, operation: &str) -> Upstream {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let plan = policies.plan(operation);
    let retry = plan.retry.and_then(|name| policies.get::<Retry>(&name));
    let timeout = policies.timeout(operation);
    let mut propagate = PropagateDeadlineLayer::new();
    if let Some(timeout) = &timeout {
        propagate = propagate.at_most(timeout.duration());
    }
    let timeout = timeout.map(|timeout| TimeoutLayer::new(timeout).deadline_from(FromExtensions));
    let attempt = ServiceBuilder::new()
        .layer(breaker.layer().classify(ResponseClassifier))
        .option_layer(timeout)
        .layer(propagate)
        .map_err(BoxError::from)
        .service(client);
    match retry {
        Some(retry) => BoxCloneSyncService::new(
            retry
                .layer()
                .classify(ResponseClassifier)
                .clone_requests(clone_idempotent)
                .deadline_from(FromExtensions)
                .layer(attempt),
        ),
        None => BoxCloneSyncService::new(attempt),
    }
}

/// The priority of a request: watering first, plant reads next, reports last.
fn priority_of(request: &Request) -> Priority {
    match (request.method(), request.uri().path()) {
        (&Method::POST, _) => Priority(0),
        (_, path) if path.starts_with("/api/report") => Priority(2),
        _ => Priority(1),
    }
}

/// The gateway's app: the API behind its stack, `/health` and `/metrics` beside it.
pub fn app(
    handles: &Handles,
    config: &GatewayConfig,
    metrics: PrometheusHandle,
) -> Result<Router, BoxError> {
    let mut client_ip = ClientIp::new();
    for proxy in &config.trusted_proxies {
        client_ip = client_ip.trust(proxy)?;
    }
    let client_key = client_ip.key::<Body>();
    let routes = Routes {
        backend: config.backend,
        read_plant: upstream(&handles.policies, &handles.breaker, "read_plant"),
        water: upstream(&handles.policies, &handles.breaker, "water"),
        report: upstream(&handles.policies, &handles.breaker, "report"),
        last_good: handles.last_good.clone(),
    };
    let edge = ServiceBuilder::new()
        .layer(RateLimitHeadersLayer::keyed(
            &handles.per_client,
            client_key.clone(),
        ))
        .layer(RejectionLayer::new().answer_all())
        .layer(handles.per_client.layer(client_key.clone()))
        .layer(DeadlineLayer::new())
        .layer(
            handles
                .shedder
                .layer()
                .priority(priority_of)
                .client(client_key),
        )
        .map_err(|never: Infallible| -> BoxError { match never {} });
    let api = Router::new()
        .route("/api/plants/{id}", get(read_plant))
        .route("/api/plants/{id}/water", post(water))
        .route("/api/report", get(report))
        .route_layer(edge)
        .with_state(routes);
    let metrics = Router::new().route("/metrics", get(move || async move { metrics.render() }));
    Ok(api
        .merge(hardy::health::http::router(handles.health.clone()))
        .merge(metrics))
}

/// A running gateway; it stops serving when dropped.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    handles: Handles,
    _serving: crate::Serving,
}

impl Gateway {
    /// Starts the gateway described by `config`, protected by `policies`, serving
    /// `metrics` on `/metrics`.
    ///
    /// # Errors
    ///
    /// A policy the gateway needs is missing, a trusted proxy is not an address, or the
    /// address cannot be bound.
    pub async fn start(
        config: GatewayConfig,
        policies: Policies,
        metrics: PrometheusHandle,
    ) -> Result<Gateway, BoxError> {
        let handles = handles(policies)?;
        let app = app(&handles, &config, metrics)?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let serving = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            // Serving ends when the gateway is dropped (the task aborted).
            let _ = axum::serve(listener, app).await;
        });
        Ok(Gateway {
            addr,
            handles,
            _serving: crate::Serving(serving),
        })
    }

    /// Where the gateway listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its handles.
    #[must_use]
    pub fn handles(&self) -> &Handles {
        &self.handles
    }
}

/// What a plant read means to the last-good store: a 2xx is good, a 5xx (or no answer)
/// failed and is answered from memory, a 4xx is the client's own.
fn judge(result: &Result<Reply, BoxError>) -> Outcome {
    match result {
        Ok(reply) if reply.status.is_server_error() => Outcome::Failure(Retryability::Retryable),
        Ok(reply) if reply.status.is_client_error() => Outcome::IGNORE,
        Ok(_) => Outcome::Success,
        Err(_) => DefaultClassifier.classify(result),
    }
}

/// Sends `method path` to the backend through `upstream`, with the caller's deadline.
async fn forward(
    upstream: &Upstream,
    backend: SocketAddr,
    method: Method,
    path: String,
    deadline: Option<Deadline>,
) -> Result<Reply, BoxError> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{backend}{path}"))
        .body(Full::new(Bytes::new()))?;
    if let Some(deadline) = deadline {
        request.extensions_mut().insert(deadline);
    }
    let response = upstream.clone().oneshot(request).await?;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        content_type,
        body,
        at: Instant::now(),
    })
}

/// The answer to a client: the backend's reply (with its `Age` when it comes from
/// memory), a rejection's problem response, or 502 when the backend could not be
/// reached.
fn answer(result: Result<Reply, BoxError>, asked: Option<Instant>) -> Response {
    match result {
        Ok(reply) => {
            let mut response = (reply.status, reply.body).into_response();
            if let Some(content_type) = reply.content_type {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            if asked.is_some_and(|asked| reply.at < asked) {
                let age = Instant::now().duration_since(reply.at);
                let seconds = age.as_secs() + u64::from(age.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::AGE, HeaderValue::from(seconds));
            }
            response
        }
        Err(error) => match hardy::find_rejection(&*error) {
            Some(rejection) => Answer::new(rejection.clone()).into_response(),
            None => (
                StatusCode::BAD_GATEWAY,
                format!("the backend failed: {error}\n"),
            )
                .into_response(),
        },
    }
}

fn deadline_of(request: &Request) -> Option<Deadline> {
    request.extensions().get::<Deadline>().copied()
}

async fn read_plant(
    State(routes): State<Routes>,
    Path(id): Path<u32>,
    request: Request,
) -> Response {
    let asked = Instant::now();
    let deadline = deadline_of(&request);
    let path = format!("/plants/{id}");
    let result = routes
        .last_good
        .call_with(id, judge, || {
            forward(
                &routes.read_plant,
                routes.backend,
                Method::GET,
                path,
                deadline,
            )
        })
        .await
        .map_err(hardy::Error::into_error::<BoxError>);
    answer(result, Some(asked))
}

async fn water(State(routes): State<Routes>, Path(id): Path<u32>, request: Request) -> Response {
    let deadline = deadline_of(&request);
    let path = format!("/plants/{id}/water");
    let result = forward(&routes.water, routes.backend, Method::POST, path, deadline).await;
    answer(result, None)
}

async fn report(State(routes): State<Routes>, request: Request) -> Response {
    let deadline = deadline_of(&request);
    let path = String::from("/report");
    let result = forward(&routes.report, routes.backend, Method::GET, path, deadline).await;
    answer(result, None)
}

//! The HTTP endpoints: an axum [`Router`] serving the registry's reports.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::{HealthRegistry, HealthReport, Probe};

/// An axum router serving the registry's health as JSON:
///
/// | path | checks | 200 when |
/// | --- | --- | --- |
/// | `/health` | all | every check serves (healthy or degraded) |
/// | `/health/live` | liveness | the liveness checks serve |
/// | `/health/ready` | readiness | the readiness checks serve |
/// | `/health/startup` | startup | the startup checks serve |
///
/// and 503 otherwise; the body is the [`HealthReport`]. Each request runs only the
/// checks whose result is not fresh, so probes never stampede the dependencies. Merge
/// it into an application's router, or serve it on its own port.
///
/// # Examples
///
/// ```
/// use hardy_health::{HealthRegistry, http};
///
/// # fn main() -> Result<(), hardy_core::ConfigError> {
/// let health = HealthRegistry::builder("plant-care").build()?;
/// let app: axum::Router = axum::Router::new().merge(http::router(health));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub fn router(registry: HealthRegistry) -> Router {
    Router::new()
        .route("/health", get(all))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/health/startup", get(startup))
        .with_state(registry)
}

async fn all(State(registry): State<HealthRegistry>) -> Response {
    respond(&registry.check_health().await)
}

async fn live(State(registry): State<HealthRegistry>) -> Response {
    respond(&registry.check_probe(Probe::Liveness).await)
}

async fn ready(State(registry): State<HealthRegistry>) -> Response {
    respond(&registry.check_probe(Probe::Readiness).await)
}

async fn startup(State(registry): State<HealthRegistry>) -> Response {
    respond(&registry.check_probe(Probe::Startup).await)
}

fn respond(report: &HealthReport) -> Response {
    let code = if report.status.is_serving() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        report.to_json(),
    )
        .into_response()
}

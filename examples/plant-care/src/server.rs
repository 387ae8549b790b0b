//! The HTTP endpoints: `/health` (and live, ready, startup), `/metrics`, `/plants`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::controller::Controller;

#[derive(Clone)]
struct App {
    controller: Arc<Controller>,
    metrics: PrometheusHandle,
}

/// The controller's router.
pub fn router(controller: Arc<Controller>, metrics: PrometheusHandle) -> Router {
    let health = hardy_health::http::router(controller.health().clone());
    Router::new()
        .route("/metrics", get(prometheus))
        .route("/plants", get(plants))
        .with_state(App {
            controller,
            metrics,
        })
        .merge(health)
}

async fn prometheus(State(app): State<App>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        app.metrics.render(),
    )
}

async fn plants(State(app): State<App>) -> impl IntoResponse {
    Json(app.controller.status())
}

//! The HTTP endpoints: the page at `/`, each plant's charts, `/plants`, `/metrics` and
//! `/health` (with live, ready, startup).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

use crate::controller::Controller;

/// The page, with its styles and script inside: nothing is fetched from elsewhere, so
/// it works on a device without internet access.
pub const PAGE: &str = include_str!("page.html");

#[derive(Clone)]
struct App {
    controller: Arc<Controller>,
    metrics: PrometheusHandle,
}

/// The controller's router.
pub fn router(controller: Arc<Controller>, metrics: PrometheusHandle) -> Router {
    let health = hardy::health::http::router(controller.health().clone());
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(prometheus))
        .route("/plants", get(plants))
        .route("/plants/{id}/chart.svg", get(chart))
        .with_state(App {
            controller,
            metrics,
        })
        .merge(health)
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

async fn prometheus(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

async fn plants(State(app): State<App>) -> impl IntoResponse {
    Json(app.controller.status())
}

/// The chart's query: `span=day` (the default) or `span=week`; anything else the page
/// adds (to refresh the image) is ignored.
#[derive(Debug, Deserialize)]
struct ChartQuery {
    span: Option<String>,
}

async fn chart(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(query): Query<ChartQuery>,
) -> Response {
    let span = match query.span.as_deref() {
        None | Some("day") => Duration::from_secs(86_400),
        Some("week") => Duration::from_secs(7 * 86_400),
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("span = {other:?}: must be \"day\" or \"week\""),
            )
                .into_response();
        }
    };
    match app.controller.chart(&id, span) {
        Some(Ok(svg)) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            svg,
        )
            .into_response(),
        Some(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no plant {id:?}")).into_response(),
    }
}

//! The backend the gateway protects: deliberately unreliable, with a fixed capacity.
//!
//! It serves `slots` requests at once, each taking `work`; the others wait in line for a
//! slot, as in any server whose workers are busy, so its latency grows without bound
//! when it is offered more than its capacity (`slots / work` requests a second). Some
//! requests fail (500), some are slow, and a test can take it down altogether.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::Serving;

/// How the backend behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Requests served at once; the rest wait in line.
    pub slots: usize,
    /// The time one request takes in its slot.
    pub work: Duration,
    /// The share of requests that fail with 500 after their work.
    pub fail_ratio: f64,
    /// The share of requests that take `slow_work` instead of `work`.
    pub slow_ratio: f64,
    /// The time a slow request takes.
    pub slow_work: Duration,
    /// The time a report (`GET /report`, a heavy read) takes.
    pub report_work: Duration,
    /// The seed of the failures and slow requests, so that runs repeat.
    pub seed: u64,
}

impl Default for BackendConfig {
    /// 8 slots of 10 ms (a capacity of 800 requests a second), 2 % failures, 1 % of
    /// requests taking 200 ms, reports taking 100 ms.
    fn default() -> Self {
        BackendConfig {
            slots: 8,
            work: Duration::from_millis(10),
            fail_ratio: 0.02,
            slow_ratio: 0.01,
            slow_work: Duration::from_millis(200),
            report_work: Duration::from_millis(100),
            seed: 7,
        }
    }
}

impl BackendConfig {
    /// Requests a second the backend serves when every slot is busy with ordinary work.
    #[must_use]
    pub fn capacity(&self) -> f64 {
        self.slots as f64 / self.work.as_secs_f64()
    }
}

/// What the backend has done so far.
#[derive(Debug, Default)]
struct Counts {
    received: AtomicU64,
    served: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicU64,
}

struct Inner {
    config: BackendConfig,
    slots: Semaphore,
    rng: Mutex<SmallRng>,
    down: AtomicBool,
    counts: Counts,
    /// The `request-timeout-ms` of the latest request that carried one; `u64::MAX` for
    /// none yet.
    budget_told: AtomicU64,
}

/// A running backend: its address, its counts, and a switch to take it down. It stops
/// serving when its last clone is dropped.
#[derive(Clone)]
pub struct Backend {
    inner: Arc<Inner>,
    addr: SocketAddr,
    _serving: Arc<Serving>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("addr", &self.addr)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// Starts a backend on a free loopback port.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start(config: BackendConfig) -> std::io::Result<Backend> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            slots: Semaphore::new(config.slots),
            rng: Mutex::new(SmallRng::seed_from_u64(config.seed)),
            down: AtomicBool::new(false),
            counts: Counts::default(),
            budget_told: AtomicU64::new(u64::MAX),
            config,
        });
        let app = Router::new()
            .route("/plants/{id}", get(read_plant))
            .route("/plants/{id}/water", post(water))
            .route("/report", get(report))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            // Serving ends when the task is aborted (the backend dropped) or the
            // listener fails; there is nobody to tell in either case.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Backend {
            inner,
            addr,
            _serving: Arc::new(Serving(task)),
        })
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its behaviour.
    #[must_use]
    pub fn config(&self) -> &BackendConfig {
        &self.inner.config
    }

    /// Takes it down (every request answered 503 at once) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::Relaxed);
    }

    /// Requests received so far.
    #[must_use]
    pub fn received(&self) -> u64 {
        self.inner.counts.received.load(Ordering::Relaxed)
    }

    /// Requests answered with success so far.
    #[must_use]
    pub fn served(&self) -> u64 {
        self.inner.counts.served.load(Ordering::Relaxed)
    }

    /// Requests answered with a failure so far (500 or, while down, 503).
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.inner.counts.failed.load(Ordering::Relaxed)
    }

    /// The time left the latest request carrying a deadline was told of
    /// (`request-timeout-ms`).
    #[must_use]
    pub fn budget_told(&self) -> Option<Duration> {
        let millis = self.inner.budget_told.load(Ordering::Relaxed);
        (millis != u64::MAX).then(|| Duration::from_millis(millis))
    }

    /// Requests in a slot or waiting for one now.
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        self.inner.counts.in_flight.load(Ordering::Relaxed)
    }
}

/// Counts a request in flight until dropped (answered, or abandoned by its client).
struct InFlight<'a>(&'a Counts);

impl<'a> InFlight<'a> {
    fn new(counts: &'a Counts) -> Self {
        counts.received.fetch_add(1, Ordering::Relaxed);
        counts.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(counts)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits for a slot, works, and answers: `body` or, by chance or while down, a failure.
async fn serve(inner: &Inner, headers: &HeaderMap, work: Duration, body: String) -> Response {
    let _in_flight = InFlight::new(&inner.counts);
    let told = headers
        .get("request-timeout-ms")
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if let Some(millis) = told {
        inner.budget_told.store(millis, Ordering::Relaxed);
    }
    let counts = &inner.counts;
    if inner.down.load(Ordering::Relaxed) {
        counts.failed.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "down\n").into_response();
    }
    let Ok(_slot) = inner.slots.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let (slow, fail) = {
        let mut rng = inner.rng.lock();
        let slow = rng.random_bool(inner.config.slow_ratio);
        (slow, rng.random_bool(inner.config.fail_ratio))
    };
    tokio::time::sleep(if slow { inner.config.slow_work } else { work }).await;
    if fail {
        counts.failed.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::INTERNAL_SERVER_ERROR, "failed\n").into_response();
    }
    counts.served.fetch_add(1, Ordering::Relaxed);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn read_plant(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> Response {
    let moisture = 0.30 + f64::from(id % 7) * 0.05;
    let body = format!("{{\"plant\":{id},\"moisture\":{moisture:.2}}}");
    serve(&inner, &headers, inner.config.work, body).await
}

async fn water(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> Response {
    let body = format!("{{\"plant\":{id},\"watered_ml\":100}}");
    serve(&inner, &headers, inner.config.work, body).await
}

async fn report(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let body = String::from("{\"plants\":7,\"dry\":2}");
    serve(&inner, &headers, inner.config.report_work, body).await
}

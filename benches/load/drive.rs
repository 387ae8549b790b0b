//! The open-loop load: requests sent at a fixed arrival rate whatever the server does,
//! each timed from the moment it was scheduled (so a server that stalls is charged for
//! the requests that waited, not just for those it answered: no coordinated omission).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use tokio::time::Instant;

/// A stretch of the run at one arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Phase {
    /// Requests a second.
    pub(crate) rate: f64,
    /// How long.
    pub(crate) duration: Duration,
}

/// One request's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// When it was due, from the start of the run.
    pub(crate) due: Duration,
    /// From when it was due to its answer's last byte (or to giving up).
    pub(crate) latency: Duration,
    /// The answer's status; 0 when there was none (connection error, or no answer
    /// within the client's patience).
    pub(crate) status: u16,
}

/// Sends the phases' requests to `GET http://addr/work`, each abandoned after
/// `patience`, and returns every request's sample, in order of due time. Bounded: the
/// phases' requests, then at most `patience` for the last answers.
pub(crate) async fn drive(addr: SocketAddr, phases: &[Phase], patience: Duration) -> Vec<Sample> {
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(5))
        .build_http::<Empty<Bytes>>();
    let uri: http::Uri = format!("http://{addr}/work").parse().expect("a valid URI");
    let samples = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut phase_start = Duration::ZERO;
    for phase in phases {
        let count = (phase.rate * phase.duration.as_secs_f64()).round() as u64;
        let interval = Duration::from_secs_f64(1.0 / phase.rate);
        for n in 0..count {
            let due = phase_start + interval.mul_f64(n as f64);
            tokio::time::sleep_until(start + due).await;
            let (client, uri, samples) = (client.clone(), uri.clone(), samples.clone());
            tasks.spawn(async move {
                let answer = tokio::time::timeout(patience, async {
                    let response = client.get(uri).await.ok()?;
                    let status = response.status().as_u16();
                    response.into_body().collect().await.ok()?;
                    Some(status)
                })
                .await;
                let status = answer.ok().flatten().unwrap_or(0);
                let latency = start.elapsed().saturating_sub(due);
                samples.lock().push(Sample {
                    due,
                    latency,
                    status,
                });
            });
        }
        phase_start += phase.duration;
    }
    while tasks.join_next().await.is_some() {}
    let mut samples = std::mem::take(&mut *samples.lock());
    samples.sort_by_key(|sample| sample.due);
    samples
}

/// The backend's capacity, measured: `workers` clients each sending its next request as
/// soon as the last is answered, to `GET uri`, for `length`; answers per second.
pub(crate) async fn capacity(uri: http::Uri, workers: usize, length: Duration) -> f64 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let end = Instant::now() + length;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, uri) = (client.clone(), uri.clone());
        tasks.spawn(async move {
            let mut answered = 0u64;
            while Instant::now() < end {
                if let Ok(response) = client.get(uri.clone()).await
                    && response.into_body().collect().await.is_ok()
                {
                    answered += 1;
                }
            }
            answered
        });
    }
    let mut answered = 0;
    while let Some(count) = tasks.join_next().await {
        answered += count.unwrap_or_default();
    }
    answered as f64 / length.as_secs_f64()
}

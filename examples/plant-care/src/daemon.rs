//! `plant-care run`: the care loop and the HTTP server side by side, and the order in
//! which they stop.
//!
//! Shutdown (a signal, or either of the two ending) stops the care loop first: the
//! round of care under way is dropped, and with it any watering, whose relay switches
//! off as the pump's guard is dropped. Only then does the server close, within its
//! grace. A care loop that ends on its own (a panic) fails the liveness check at once
//! and makes [`run`] return an error, so the process exits non-zero and its supervisor
//! restarts it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::Error;
use crate::config::Config;
use crate::controller::Controller;
use crate::{serve, server};

/// How often the metrics' histograms are drained.
pub const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Rounds of care every `every` until `stop` turns true. The liveness check follows
/// the loop: each round marks its start, and the loop's end (returning, being dropped
/// or panicking) marks the loop ended.
///
/// # Cancel safety
///
/// Dropping the future drops the round under way: a watering stops at once, its relay
/// off.
pub async fn care_loop(
    controller: Arc<Controller>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut heartbeat = controller.heartbeat();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            () = controller.tick() => {}
        }
    }
    heartbeat.stopping();
}

/// Runs `controller`'s care loop and serves its endpoints on `listener` until
/// `shutdown` completes or either of the two ends; then stops the care loop, then the
/// server (within `config.server.shutdown_grace`).
///
/// # Errors
///
/// The care loop or the server ended before `shutdown` (a panic in a round of care is
/// named): the process should exit non-zero.
pub async fn run(
    config: &Config,
    controller: Arc<Controller>,
    listener: TcpListener,
    metrics: PrometheusHandle,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let checker = controller.health().start();
    // Histograms keep their samples until drained: drain them even when nobody scrapes
    // /metrics, or a controller left alone for months grows without bound.
    let upkeep = {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(METRICS_UPKEEP);
            loop {
                every.tick().await;
                metrics.run_upkeep();
            }
        })
    };
    let (stop_care, care_stopping) = watch::channel(false);
    let mut care = Some(tokio::spawn(care_loop(
        controller.clone(),
        config.read_every,
        care_stopping,
    )));
    let (stop_server, server_stopping) = watch::channel(false);
    let router = server::router(controller.clone(), metrics);
    let limits = config.server.clone();
    let mut server = Some(tokio::spawn(async move {
        let mut stopping = server_stopping;
        serve::serve(listener, router, &limits, async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
    }));
    tokio::pin!(shutdown);
    let outcome = tokio::select! {
        () = &mut shutdown => Ok(()),
        ended = finish(&mut care) => Err(Error::CareLoopEnded {
            panic: match ended {
                Err(error) if error.is_panic() => Some(panic_message(error)),
                _ => None,
            },
        }),
        ended = finish(&mut server) => Err(Error::ServerStopped {
            source: match ended {
                Ok(Err(error)) => Some(error),
                _ => None,
            },
        }),
    };
    // The care loop first: pumps off before anything else.
    let _ = stop_care.send(true);
    if care.is_some() {
        let _ = finish(&mut care).await;
    }
    tracing::info!("care loop stopped: every pump off");
    let _ = stop_server.send(true);
    if server.is_some() {
        let _ = finish(&mut server).await;
    }
    checker.stop().await;
    upkeep.abort();
    outcome
}

/// Awaits a task once: takes the handle out, so a second call is never made on a
/// finished one.
async fn finish<T>(task: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match task.as_mut() {
        Some(handle) => {
            let result = handle.await;
            *task = None;
            result
        }
        None => std::future::pending().await,
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

//! Serving the router over TCP with the limits a device left alone needs: a header-read
//! timeout that also closes idle kept-alive connections, a cap on connections at once
//! (the connection idle longest makes way for a new one, so idle clients cannot starve
//! `/health`), and a shutdown that ends by a deadline whatever the clients do.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::Server;

/// Serves `router` on `listener` until `shutdown` completes, then lets requests under
/// way finish for up to `limits.shutdown_grace` and closes every connection left.
///
/// - A client has `limits.header_timeout` to send a request's headers, counted from
///   when the server waits for one (a new connection, or a kept-alive one after a
///   response): a half-sent request or an idle connection is closed then.
/// - At most `limits.max_connections` are served at once. A new connection beyond that
///   closes the connection idle longest (one with no request in service); when every
///   connection is busy, it waits for one to end.
///
/// # Errors
///
/// None today: accept errors (such as running out of file descriptors) are logged and
/// retried after a pause. The `Result` leaves room for fatal listener errors.
///
/// # Cancel safety
///
/// Dropping the future drops the connections' tasks with it: every connection closes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Server,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let open = Arc::new(Registry::default());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was accepted:
                    // pause instead of spinning, then go on.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Ask the idlest connection to make way, and ask again while none has:
                // the one asked may have become busy in the meantime.
                let mut asked = tokio::time::interval(EVICT_AGAIN);
                let slot = loop {
                    tokio::select! {
                        () = &mut shutdown => break None,
                        slot = slots.clone().acquire_owned() => break slot.ok(),
                        _ = asked.tick() => open.evict_idlest(),
                    }
                };
                match slot {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        while connections.try_join_next().is_some() {}
        let conn = Registered::new(&open);
        let router = router.clone();
        let stopping = stopping.clone();
        let header_timeout = limits.header_timeout;
        connections.spawn(async move {
            connection(stream, router, &conn.0, header_timeout, stopping).await;
            // The registration and the slot are given back on every path, a panic
            // included, as the task's state is dropped.
            drop((conn, slot));
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            grace = ?limits.shutdown_grace,
            "connections still open at the end of the shutdown grace: closed"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until it ends, is evicted while idle, or the server stops
/// (then requests under way may finish; the caller's deadline closes the rest).
async fn connection(
    stream: TcpStream,
    router: Router,
    conn: &Arc<Conn>,
    header_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let tracked = conn.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::enter(&tracked);
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            // The connection stays busy until the whole body is sent or dropped.
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &busy;
                    frame
                }))
            }))
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let mut graceful = false;
    // Once evicted: closed outright if still not done after EVICT_GRACE.
    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = conn.evicted.notified(), if deadline.is_none() => {
                if conn.is_idle() {
                    // Hyper closes an idle connection at once and finishes writing a
                    // response it still holds.
                    tracing::debug!("idle connection closing to make way for a new one");
                    served.as_mut().graceful_shutdown();
                    graceful = true;
                    deadline = Some(Instant::now() + EVICT_GRACE);
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => return,
            changed = stopping.wait_for(|stop| *stop), if !graceful => {
                // Requests under way finish (the server's deadline closes the rest);
                // idle connections close at once.
                served.as_mut().graceful_shutdown();
                graceful = true;
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// How long an evicted connection may take to finish writing before it is closed.
const EVICT_GRACE: Duration = Duration::from_secs(1);

/// How often a new connection waiting for a slot asks the idlest connection again.
const EVICT_AGAIN: Duration = Duration::from_millis(100);

/// A connection's place in the registry, given up when dropped.
struct Registered(Arc<Conn>, Arc<Registry>);

impl Registered {
    fn new(open: &Arc<Registry>) -> Self {
        Registered(open.add(), open.clone())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.1.remove(self.0.id);
    }
}

/// The open connections, so that the one idle longest can be found.
#[derive(Debug, Default)]
struct Registry {
    next: AtomicUsize,
    open: Mutex<HashMap<usize, Arc<Conn>>>,
}

impl Registry {
    fn add(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            evicted: Notify::new(),
        });
        self.open.lock().insert(conn.id, conn.clone());
        conn
    }

    fn remove(&self, id: usize) {
        self.open.lock().remove(&id);
    }

    /// Asks the connection idle longest to close, if any is idle.
    fn evict_idlest(&self) {
        let open = self.open.lock();
        let idlest = open
            .values()
            .filter(|conn| conn.is_idle())
            .min_by_key(|conn| *conn.idle_since.lock());
        if let Some(conn) = idlest {
            conn.evicted.notify_one();
        }
    }
}

/// One open connection.
#[derive(Debug)]
struct Conn {
    id: usize,
    /// Requests in service (until their response bodies are sent or dropped).
    busy: AtomicUsize,
    /// When the last request ended (or the connection opened).
    idle_since: Mutex<Instant>,
    evicted: Notify,
}

impl Conn {
    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }
}

/// A request in service on a connection; when dropped, the connection is idle from now
/// (unless another request is in service).
#[derive(Debug)]
struct Busy(Arc<Conn>);

impl Busy {
    fn enter(conn: &Arc<Conn>) -> Self {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy(conn.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock() = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

//! The server's connection cap over real loopback sockets: a handler that panics gives
//! its connection's slot and place back, so the idlest connection can still be made to
//! give way for a new one. Real time: every wait is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use plant_care::config::Server;
use plant_care::serve;

fn get_status(address: std::net::SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.get(9..12)?.parse().ok()
}

async fn panics() -> &'static str {
    panic!("a handler bug")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_gives_its_place_back_and_idle_connections_still_give_way() {
    let router = Router::new()
        .route("/panic", get(panics))
        .route("/ok", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let limits = Server {
        max_connections: 1,
        header_timeout: Duration::from_secs(600),
        ..Server::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve::serve(listener, router, &limits, async {
            let _ = stopped.await;
        })
        .await
    });
    let checks = tokio::task::spawn_blocking(move || {
        // The handler panics: its connection ends without a response.
        assert_eq!(get_status(address, "/panic"), None);
        // The one slot is free again, and a connection that sits idle in it is made to
        // give way to the next: the panicked one left nothing behind to pick instead.
        let idle = TcpStream::connect(address).expect("connect");
        std::thread::sleep(Duration::from_millis(200));
        let status = get_status(address, "/ok");
        drop(idle);
        status
    });
    let status = tokio::time::timeout(Duration::from_secs(60), checks)
        .await
        .expect("served before the timeout")
        .expect("no panic in the checks");
    assert_eq!(status, Some(200));
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .expect("no panic")
        .expect("no error");
}

//! Hedging HTTP requests: idempotent methods are hedged, a POST never is (the request
//! copied by `hardy::http::clone_idempotent`).
#![cfg(all(feature = "http", feature = "hedge"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy::hedge::Hedge;
use hardy::http::clone_idempotent;
use http::{Method, Request};
use tokio::time::sleep;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const MS: Duration = Duration::from_millis(1);

async fn send(method: Method) -> (u32, u64) {
    let calls = Arc::new(AtomicU32::new(0));
    let hedge = Hedge::builder("api")
        .fixed_delay(20 * MS)
        .no_budget()
        .build()
        .expect("valid");
    let counted = calls.clone();
    let mut client = ServiceBuilder::new()
        .layer(hedge.layer().clone_requests(clone_idempotent::<String>))
        .service(tower::service_fn(move |_: Request<String>| {
            let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                sleep(if call == 1 { 500 * MS } else { 3 * MS }).await;
                Ok::<_, BoxError>(call)
            }
        }));
    let request = Request::builder()
        .method(method)
        .uri("http://replica/plants")
        .body(String::new())
        .expect("a request");
    let answered = client.ready().await.expect("ready").call(request).await;
    (
        answered.expect("answered"),
        hedge.stats().skipped_not_cloneable,
    )
}

#[tokio::test(start_paused = true)]
async fn a_get_is_hedged_and_a_post_is_not() {
    assert_eq!(send(Method::GET).await, (2, 0), "the copy answered");
    assert_eq!(send(Method::PUT).await, (2, 0), "idempotent too");
    assert_eq!(send(Method::POST).await, (1, 1), "sent once, waited for");
}

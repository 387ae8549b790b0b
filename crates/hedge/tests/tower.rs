//! The tower layer: extra attempts to clones of the service, requests copied by the
//! layer's rule, and a request that cannot be copied never hedged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardy_hedge::Hedge;
use hardy_retry::SendOnce;
use tokio::time::sleep;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const MS: Duration = Duration::from_millis(1);

/// A service whose first call is stuck and the others quick, counting its calls.
fn replicas(
    calls: Arc<AtomicU32>,
) -> impl Service<u32, Response = (u32, u32), Error = BoxError, Future: Send> + Clone {
    tower::service_fn(move |key: u32| {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            sleep(if call == 1 { 5_000 * MS } else { 3 * MS }).await;
            Ok::<_, BoxError>((key, call))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_goes_to_a_clone_with_a_copy_of_the_request() {
    let calls = Arc::new(AtomicU32::new(0));
    let hedge = Hedge::builder("replicas")
        .fixed_delay(20 * MS)
        .no_budget()
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(hedge.layer())
        .service(replicas(calls.clone()));
    let answer = service.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!(answer, (7, 2), "the copy, answered by the second call");
    assert_eq!(hedge.stats().hedge_wins, 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_sent_once_is_never_hedged() {
    let calls = Arc::new(AtomicU32::new(0));
    let hedge = Hedge::builder("replicas")
        .fixed_delay(20 * MS)
        .no_budget()
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(hedge.layer().clone_requests(SendOnce))
        .service(replicas(calls.clone()));
    let answer = service.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!(answer, (7, 1), "the stuck call, waited for");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = hedge.stats();
    assert_eq!((stats.hedges, stats.skipped_not_cloneable), (0, 1));
}

//! Public types are `Send + Sync` where callers need them to be, and futures `Unpin`
//! when what they hold is.

use hardy_core::DefaultClassifier;
use hardy_retry::{
    Backoff, Jitter, Retry, RetryBudget, RetryBudgetConfig, RetryBuilder, RetryConfig, RetryEvent,
    RetryLayer, RetryService, Schedule,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn bounds() {
    send_sync::<Retry>();
    send_sync::<RetryBuilder>();
    send_sync::<RetryConfig>();
    send_sync::<RetryBudget>();
    send_sync::<RetryBudgetConfig>();
    send_sync::<RetryEvent>();
    send_sync::<RetryLayer>();
    send_sync::<RetryService<tower::util::BoxCloneSyncService<u8, u8, tower::BoxError>>>();
    send_sync::<Backoff>();
    send_sync::<Jitter>();
    send::<Schedule>();
    send::<
        hardy_retry::future::ResponseFuture<
            tower::util::BoxCloneSyncService<u8, u8, tower::BoxError>,
            u8,
            DefaultClassifier,
            hardy_retry::Cloned,
        >,
    >();
}

#[test]
fn call_futures_are_send_when_the_operation_is() {
    fn check<F: std::future::Future + Send>(_: &F) {}
    let retry = Retry::builder("r").build().expect("valid");
    let call = retry.call(|| async { Ok::<u8, std::io::Error>(1) });
    check(&call);
}

//! Public types are `Send + Sync` (and `Unpin` where promised).

use std::future::Ready;

use hardy_breaker::future::{CallFuture, ResponseFuture};
use hardy_breaker::{
    BreakerBuilder, BreakerConfig, BreakerEvent, BreakerLayer, BreakerRegistry, BreakerService,
    BreakerSnapshot, BreakerState, CircuitBreaker,
};
use hardy_core::DefaultClassifier;

/// The operation of a direct call, in the types below.
type Operation = fn() -> Ready<Result<(), ()>>;

fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn bounds() {
    send_sync::<CircuitBreaker>();
    send_sync::<BreakerBuilder>();
    send_sync::<BreakerConfig>();
    send_sync::<BreakerEvent>();
    send_sync::<BreakerLayer>();
    send_sync::<BreakerService<(), DefaultClassifier>>();
    send_sync::<BreakerRegistry>();
    send_sync::<BreakerSnapshot>();
    send_sync::<BreakerState>();
    send_sync::<ResponseFuture<Ready<Result<(), ()>>, DefaultClassifier>>();
    send_sync::<CallFuture<'static, Operation, Ready<Result<(), ()>>, DefaultClassifier>>();
    unpin::<CircuitBreaker>();
    unpin::<BreakerLayer>();
    unpin::<ResponseFuture<Ready<Result<(), ()>>, DefaultClassifier>>();
    unpin::<CallFuture<'static, Operation, Ready<Result<(), ()>>, DefaultClassifier>>();
}

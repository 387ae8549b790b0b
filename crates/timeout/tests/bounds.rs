//! Public types are `Send + Sync` (and `Unpin` where promised), so they work in any
//! runtime and behind `Arc`.

use std::future::Ready;

use hardy_timeout::future::{CallFuture, ResponseFuture, Timed};
use hardy_timeout::{
    Deadline, NoDeadline, OperationTimeouts, OperationTimeoutsBuilder, OperationTimeoutsConfig,
    Timeout, TimeoutBuilder, TimeoutConfig, TimeoutEvent, TimeoutLayer, TimeoutService,
};

fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn bounds() {
    send_sync::<Timeout>();
    send_sync::<TimeoutBuilder>();
    send_sync::<TimeoutConfig>();
    send_sync::<TimeoutEvent>();
    send_sync::<TimeoutLayer>();
    send_sync::<TimeoutService<(), NoDeadline>>();
    send_sync::<OperationTimeouts>();
    send_sync::<OperationTimeoutsBuilder>();
    send_sync::<OperationTimeoutsConfig>();
    send_sync::<Deadline>();
    send_sync::<Timed<Ready<()>>>();
    send_sync::<ResponseFuture<Ready<Result<(), ()>>>>();
    send_sync::<CallFuture<'static, Ready<Result<(), ()>>>>();
    unpin::<Timeout>();
    unpin::<TimeoutLayer>();
    unpin::<Deadline>();
    // The timer is boxed, so a timed future is `Unpin` when the inner future is.
    unpin::<Timed<Ready<()>>>();
    unpin::<ResponseFuture<Ready<Result<(), ()>>>>();
    unpin::<CallFuture<'static, Ready<Result<(), ()>>>>();
}

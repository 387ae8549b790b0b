//! The public types are `Send + Sync`, and futures are `Send` when what they hold is.

use std::future::Ready;

use hardy_rate_limit::future::{CallFuture, ResponseFuture};
use hardy_rate_limit::{
    ByKey, Clock, ForKey, KeyedRateLimiter, RateLimitBuilder, RateLimitConfig, RateLimitEvent,
    RateLimitLayer, RateLimitService, RateLimiter,
};

fn send_sync<T: Send + Sync>() {}

type Echo = tower::util::ServiceFn<fn(u32) -> Ready<Result<u32, tower::BoxError>>>;
type Op = fn() -> Ready<Result<(), ()>>;

#[test]
fn bounds() {
    send_sync::<RateLimiter>();
    send_sync::<KeyedRateLimiter<String>>();
    send_sync::<RateLimitBuilder>();
    send_sync::<RateLimitConfig>();
    send_sync::<RateLimitEvent>();
    send_sync::<Clock>();
    send_sync::<RateLimitLayer<RateLimiter>>();
    send_sync::<RateLimitLayer<ByKey<u32, fn(&u32) -> u32>>>();
    send_sync::<RateLimitService<Echo, RateLimiter>>();
    send_sync::<ResponseFuture<Echo, u32>>();
    send_sync::<CallFuture<&'static RateLimiter, Op, Ready<Result<(), ()>>>>();
    send_sync::<CallFuture<ForKey<'static, u32>, Op, Ready<Result<(), ()>>>>();
}

//! Helpers shared by the load shedder's test files: a fixed-limit builder, an operation
//! that succeeds at once, and a single poll of a future.

// Shared by several test crates, each using only some of it.
#![allow(dead_code)]

use std::time::Duration;

use hardy_load_shed::LoadShedder;

pub(crate) const MS: Duration = Duration::from_millis(1);

pub(crate) async fn ok() -> Result<(), std::io::Error> {
    Ok(())
}

pub(crate) fn fixed(limit: u32) -> hardy_load_shed::LoadShedBuilder {
    LoadShedder::builder("test").fixed_limit(limit)
}

pub(crate) fn futures_poll<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

// An error type that does not say whether it holds a rejection, under the default
// classifier.
use std::future::Future;

use hardy_retry::Retry;

#[derive(Debug)]
struct SensorError;

fn run<F: Future>(_: F) {}

fn main() {
    let retry = Retry::builder("sensor").build().expect("valid");
    run(retry.call(|| async { Err::<u32, SensorError>(SensorError) }));
}

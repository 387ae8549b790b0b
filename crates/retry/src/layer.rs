//! [`RetryLayer`]: retries the calls of a tower service with a [`Retry`].

use hardy_core::DefaultClassifier;
use hardy_timeout::NoDeadline;
use tower_layer::Layer;

use crate::{Cloned, Retry, RetryService};

/// A tower layer that retries each wrapped service's calls with a [`Retry`]; every
/// service it wraps shares the retry's budget, metrics and listener.
///
/// Made by [`Retry::layer`] or [`RetryLayer::new`], with the [`DefaultClassifier`],
/// requests copied with `Clone` ([`Cloned`]) and no deadline read from requests;
/// [`classify`](Self::classify), [`clone_requests`](Self::clone_requests) and
/// [`deadline_from`](Self::deadline_from) change them. The wrapped service must be
/// `Clone`: each call keeps a clone to make its retries.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy_retry::{Retry, SendOnce};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let retry = Retry::builder("soil-1").max_attempts(3).build()?;
/// let mut read = ServiceBuilder::new()
///     .layer(retry.layer())
///     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(sensor) });
/// assert_eq!(read.ready().await?.call(2).await?, 2);
///
/// // A pump command is never retried blindly: send it once.
/// let mut pump = ServiceBuilder::new()
///     .layer(retry.layer().clone_requests(SendOnce))
///     .service_fn(|ml: u32| async move { Ok::<_, BoxError>(ml) });
/// assert_eq!(pump.ready().await?.call(250).await?, 250);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer<C = DefaultClassifier, P = Cloned, X = NoDeadline> {
    retry: Retry,
    classifier: C,
    policy: P,
    deadline: X,
}

impl RetryLayer {
    /// A layer retrying with `retry`, the default classifier, cloned requests and no
    /// deadline.
    pub fn new(retry: Retry) -> Self {
        RetryLayer {
            retry,
            classifier: DefaultClassifier,
            policy: Cloned,
            deadline: NoDeadline,
        }
    }
}

impl<C, P, X> RetryLayer<C, P, X> {
    /// Classifies results with `classifier` (a closure `Fn(&Result<T, E>) -> Outcome`):
    /// an `Ok` may be retried, an error may be final, a retry-after hint honoured.
    pub fn classify<D>(self, classifier: D) -> RetryLayer<D, P, X> {
        RetryLayer {
            retry: self.retry,
            classifier,
            policy: self.policy,
            deadline: self.deadline,
        }
    }

    /// Copies requests for further attempts with `policy` (a
    /// [`CloneRequest`](crate::CloneRequest), such as a closure
    /// `Fn(&Req) -> Option<Req>`); a request it cannot copy is sent once.
    pub fn clone_requests<Q>(self, policy: Q) -> RetryLayer<C, Q, X> {
        RetryLayer {
            retry: self.retry,
            classifier: self.classifier,
            policy,
            deadline: self.deadline,
        }
    }

    /// Reads each request's [`Deadline`](hardy_timeout::Deadline) with `extract` (an
    /// [`ExtractDeadline`](hardy_timeout::ExtractDeadline)): no retry is made whose
    /// delay would end past it.
    pub fn deadline_from<Y>(self, extract: Y) -> RetryLayer<C, P, Y> {
        RetryLayer {
            retry: self.retry,
            classifier: self.classifier,
            policy: self.policy,
            deadline: extract,
        }
    }

    /// The retry this layer applies.
    pub fn retry(&self) -> &Retry {
        &self.retry
    }
}

/// The service must be [`Clone`]: retries are made with clones of it.
impl<S: Clone, C: Clone, P: Clone, X: Clone> Layer<S> for RetryLayer<C, P, X> {
    type Service = RetryService<S, C, P, X>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService::from_parts(
            inner,
            self.retry.clone(),
            self.classifier.clone(),
            self.policy.clone(),
            self.deadline.clone(),
        )
    }
}

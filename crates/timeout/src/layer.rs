//! [`TimeoutLayer`]: applies a [`Timeout`] to a tower service.

use tower_layer::Layer;

use crate::{NoDeadline, Timeout, TimeoutService};

/// A tower layer that limits how long each call of the wrapped service may take.
///
/// Made by [`Timeout::layer`] or [`TimeoutLayer::new`]. Every service it wraps shares
/// the one [`Timeout`] handle (its name, settings, listener and metrics). By default
/// requests carry no deadline; [`deadline_from`](Self::deadline_from) tells it where to
/// find one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// use hardy_timeout::Timeout;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tower::BoxError> {
/// let timeout = Timeout::new("soil-read", Duration::from_secs(2))?;
/// let mut service = ServiceBuilder::new()
///     .layer(timeout.layer())
///     .service_fn(|sensor: u8| async move { Ok::<_, tower::BoxError>(f32::from(sensor) * 1.5) });
///
/// let reading = service.ready().await?.call(4).await?;
/// assert_eq!(reading, 6.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer<X = NoDeadline> {
    timeout: Timeout,
    deadline: X,
}

impl TimeoutLayer {
    /// A layer applying `timeout`; requests carry no deadline.
    pub fn new(timeout: Timeout) -> Self {
        TimeoutLayer {
            timeout,
            deadline: NoDeadline,
        }
    }
}

impl<X> TimeoutLayer<X> {
    /// Finds each request's [`Deadline`](crate::Deadline) with `extract` (a closure
    /// `Fn(&Req) -> Option<Deadline>`, or [`FromExtensions`](crate::FromExtensions) with
    /// the `http` feature); the nearer of the deadline and the timeout's limit applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardy_timeout::{Deadline, Timeout, TimeoutLayer};
    ///
    /// struct Read { deadline: Option<Deadline> }
    ///
    /// let timeout = Timeout::new("soil-read", Duration::from_secs(2))?;
    /// let layer = TimeoutLayer::new(timeout).deadline_from(|read: &Read| read.deadline);
    /// # Ok::<(), hardy_core::ConfigError>(())
    /// ```
    pub fn deadline_from<Y>(self, extract: Y) -> TimeoutLayer<Y> {
        TimeoutLayer {
            timeout: self.timeout,
            deadline: extract,
        }
    }

    /// The timeout this layer applies.
    pub fn timeout(&self) -> &Timeout {
        &self.timeout
    }
}

impl<S, X: Clone> Layer<S> for TimeoutLayer<X> {
    type Service = TimeoutService<S, X>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::with_deadline(inner, self.timeout.clone(), self.deadline.clone())
    }
}

impl From<Timeout> for TimeoutLayer {
    fn from(timeout: Timeout) -> Self {
        TimeoutLayer::new(timeout)
    }
}

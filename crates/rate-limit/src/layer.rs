//! [`RateLimitLayer`]: limits a tower service's calls with a [`Limit`].

use tower_layer::Layer;

use crate::RateLimitService;

/// A tower layer limiting each wrapped service's calls; made by
/// [`RateLimiter::layer`](crate::RateLimiter::layer) (one rate for every request) or
/// [`KeyedRateLimiter::layer`](crate::KeyedRateLimiter::layer) (a rate per request key).
/// Every service it wraps shares the limiter's state.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy_rate_limit::RateLimiter;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let api = RateLimiter::builder("weather-api").per(1, Duration::from_secs(60)).build()?;
/// let mut forecast = ServiceBuilder::new()
///     .layer(api.layer())
///     .service_fn(|city: &'static str| async move { Ok::<_, BoxError>(city.len()) });
/// assert_eq!(forecast.ready().await?.call("Oslo").await?, 4);
/// let refused = forecast.ready().await?.call("Lima").await.unwrap_err();
/// assert!(refused.is::<hardy_core::Rejection>());
/// # Ok(())
/// # }
/// ```
///
/// [`Limit`]: crate::Limit
#[derive(Debug, Clone)]
pub struct RateLimitLayer<L> {
    limit: L,
}

impl<L> RateLimitLayer<L> {
    /// A layer limiting calls with `limit`: a [`RateLimiter`](crate::RateLimiter) or a
    /// [`ByKey`](crate::ByKey).
    pub fn new(limit: L) -> Self {
        RateLimitLayer { limit }
    }

    /// The limit this layer applies.
    pub fn limit(&self) -> &L {
        &self.limit
    }
}

impl<S, L: Clone> Layer<S> for RateLimitLayer<L> {
    type Service = RateLimitService<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, self.limit.clone())
    }
}

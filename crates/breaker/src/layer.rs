//! [`BreakerLayer`]: guards a tower service with a [`CircuitBreaker`].

use hardy_core::DefaultClassifier;
use tower_layer::Layer;

use crate::{BreakerService, CircuitBreaker};

/// A tower layer that guards each wrapped service with a [`CircuitBreaker`]; every
/// service it wraps shares the breaker's state.
///
/// Made by [`CircuitBreaker::layer`] or [`BreakerLayer::new`], with the
/// [`DefaultClassifier`]; [`classify`](Self::classify) sets another.
///
/// # Examples
///
/// ```
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy_breaker::CircuitBreaker;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("soil-1").consecutive_failures(3).build()?;
/// let mut service = ServiceBuilder::new()
///     .layer(breaker.layer())
///     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(sensor) });
/// assert_eq!(service.ready().await?.call(2).await?, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BreakerLayer<C = DefaultClassifier> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl BreakerLayer {
    /// A layer guarding services with `breaker` and the default classifier.
    pub fn new(breaker: CircuitBreaker) -> Self {
        BreakerLayer {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> BreakerLayer<C> {
    /// Classifies results with `classifier` (a closure `Fn(&Result<T, E>) -> Outcome`):
    /// `Ok` values may count as failures, some errors may be ignored.
    pub fn classify<D>(self, classifier: D) -> BreakerLayer<D> {
        BreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker this layer applies.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = BreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService::with_classifier(inner, self.breaker.clone(), self.classifier.clone())
    }
}

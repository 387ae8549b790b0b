//! [`HedgeLayer`]: hedges a tower service's calls.

use hardy_breaker::CircuitBreaker;
use hardy_core::{DefaultClassifier, SpareService};
use hardy_retry::Cloned;
use tower_layer::Layer;

use crate::{Hedge, HedgeService};

/// A tower layer hedging each wrapped service's calls with a [`Hedge`]; made by
/// [`Hedge::layer`] or [`HedgeLayer::new`].
///
/// Results are classified with [`DefaultClassifier`] unless
/// [`classifier`](Self::classifier) sets another, and requests are copied for extra
/// attempts with `Clone` unless [`clone_requests`](Self::clone_requests) sets another
/// rule (`SendOnce`: never hedged; `hardy_http::clone_idempotent`: idempotent methods
/// only). Extra attempts go to clones of the service, each made ready first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_hedge::Hedge;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let hedge = Hedge::builder("replicas").fixed_delay(Duration::from_millis(20)).build()?;
/// let mut service = ServiceBuilder::new()
///     .layer(hedge.layer())
///     .service_fn(|key: u32| async move { Ok::<_, BoxError>(key * 2) });
/// assert_eq!(service.ready().await?.call(21).await?, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HedgeLayer<C = DefaultClassifier, P = Cloned> {
    hedge: Hedge,
    breaker: Option<CircuitBreaker>,
    classifier: C,
    policy: P,
}

impl HedgeLayer {
    /// A layer hedging calls with `hedge`.
    pub fn new(hedge: Hedge) -> Self {
        HedgeLayer {
            hedge,
            breaker: None,
            classifier: DefaultClassifier,
            policy: Cloned,
        }
    }
}

impl<C, P> HedgeLayer<C, P> {
    /// The same layer, classifying results with `classifier`: a success wins, anything
    /// else is a failure.
    pub fn classifier<D>(self, classifier: D) -> HedgeLayer<D, P> {
        HedgeLayer {
            hedge: self.hedge,
            breaker: self.breaker,
            classifier,
            policy: self.policy,
        }
    }

    /// The same layer, copying requests for extra attempts with `policy` (as the
    /// retry's `clone_requests` does); a request it cannot copy is not hedged.
    pub fn clone_requests<Q>(self, policy: Q) -> HedgeLayer<C, Q> {
        HedgeLayer {
            hedge: self.hedge,
            breaker: self.breaker,
            classifier: self.classifier,
            policy,
        }
    }

    /// The same layer, making no extra attempt while `breaker`, the breaker on the
    /// path below it, is not closed (as [`HedgeBuilder::breaker`](crate::HedgeBuilder::breaker)
    /// does for every call of the hedge).
    #[must_use]
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.breaker = Some(breaker.clone());
        self
    }

    /// The hedge.
    pub fn hedge(&self) -> &Hedge {
        &self.hedge
    }
}

impl<S: Clone, C: Clone, P: Clone> Layer<S> for HedgeLayer<C, P> {
    type Service = HedgeService<S, C, P>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService::new(
            SpareService::new(self.hedge.clone(), inner),
            self.breaker.clone(),
            self.classifier.clone(),
            self.policy.clone(),
        )
    }
}

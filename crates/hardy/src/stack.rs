//! [`StackPlan`] and [`OperationLayer`]: the whole stack of one operation, from its
//! policies.

use std::fmt;
use std::time::Duration;

use hardy_core::Name;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_layer::Layer;

use crate::breaker::{BreakerConfig, CircuitBreaker};
use crate::bulkhead::{Bulkhead, BulkheadConfig};
use crate::chaos::{Chaos, ChaosConfig, ChaosLayer};
use crate::hedge::{Hedge, HedgeConfig, HedgeLayer};
use crate::load_shed::{LoadShedConfig, LoadShedLayer, LoadShedder};
use crate::optional::Optional;
use crate::rate_limit::{RateLimitConfig, RateLimiter};
use crate::retry::{Retry, RetryConfig};
use crate::{Pipeline, PipelineLayer, Policies};

/// Which handle guards each layer of an operation's stack, outermost first; `None`
/// where the pattern is left out. Made by [`Policies::plan`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StackPlan {
    /// The load shedder.
    pub load_shed: Option<String>,
    /// The retry policy.
    pub retry: Option<String>,
    /// The hedge: extra copies of a slow attempt.
    pub hedge: Option<String>,
    /// The circuit breaker.
    pub breaker: Option<String>,
    /// The rate limit.
    pub rate_limit: Option<String>,
    /// The bulkhead.
    pub bulkhead: Option<String>,
    /// The per-attempt timeout.
    pub timeout: Option<Duration>,
    /// The limit of the whole operation, all its attempts together
    /// (`[timeout.overall]`).
    pub overall: Option<Duration>,
    /// The fault injection.
    pub chaos: Option<String>,
}

impl Policies {
    /// Which handles guard `operation`, outermost first (see [`OperationConfig`](crate::OperationConfig) for
    /// how each is found).
    #[must_use]
    pub fn plan(&self, operation: &str) -> StackPlan {
        let config = self.document().operations.get(operation);
        StackPlan {
            load_shed: self.pick::<LoadShedConfig>(operation),
            retry: self.pick::<RetryConfig>(operation),
            hedge: self.pick::<HedgeConfig>(operation),
            breaker: self.pick::<BreakerConfig>(operation),
            rate_limit: self.pick::<RateLimitConfig>(operation),
            bulkhead: self.pick::<BulkheadConfig>(operation),
            timeout: match (config, self.operation_timeouts()) {
                (Some(config), _) if !config.timeout => None,
                (_, Some(table)) => Some(table.get(operation).duration()),
                (_, None) => None,
            },
            overall: self.overall_timeout(operation).map(|t| t.duration()),
            chaos: self.pick::<ChaosConfig>(operation),
        }
    }

    /// The whole stack of `operation` as one tower layer, outermost first: load
    /// shedding, the limit of the whole operation, retries (each attempt through
    /// everything below), hedging (extra copies of a slow attempt), the circuit
    /// breaker, the rate limit, the bulkhead, the per-attempt timeout, fault injection.
    /// Patterns the document leaves out are left out of the stack.
    ///
    /// The overall limit, the retry, the breaker, the rate limit, the bulkhead and the
    /// timeout are one [`Pipeline`] (see [`Pipeline::overall`]), which decides as those
    /// layers stacked in that order do; with a hedge, two, the hedge's layer between the
    /// retry and the breaker (and no extra attempt while that breaker is not closed).
    /// A pipeline's calls hold one reference for all of its handles. The stack
    /// classifies with the default classifier and copies requests for retries and
    /// hedges with `Clone`, so the request type must be `Clone` when any of them is in
    /// the stack. Fault injection
    /// injects latency and rejections; build its layer from
    /// [`get`](Self::get) with an error maker to inject errors.
    #[must_use]
    pub fn stack(&self, operation: &str) -> OperationLayer {
        let plan = self.plan(operation);
        let retry = plan.retry.and_then(|n| self.get::<Retry>(&n));
        let breaker = plan.breaker.and_then(|n| self.get::<CircuitBreaker>(&n));
        let overall = self.overall_timeout(operation);
        let hedge = plan.hedge.and_then(|n| self.get::<Hedge>(&n)).map(|hedge| {
            let layer = hedge.layer();
            match &breaker {
                Some(breaker) => layer.breaker(breaker),
                None => layer,
            }
        });
        // With a hedge, the retry and the overall limit go outside it, the rest inside.
        let (outer, (retry, overall)) = match hedge {
            Some(_) => (
                Pipeline::from_parts(retry, None, None, None, None, overall),
                (None, None),
            ),
            None => (Pipeline::new(), (retry, overall)),
        };
        let pipeline = Pipeline::from_parts(
            retry,
            breaker,
            plan.rate_limit.and_then(|n| self.get::<RateLimiter>(&n)),
            plan.bulkhead.and_then(|n| self.get::<Bulkhead>(&n)),
            plan.timeout.and_then(|_| self.timeout(operation)),
            overall,
        );
        let layers = ServiceBuilder::new()
            .layer(Optional::new(
                plan.load_shed
                    .and_then(|n| self.get::<LoadShedder>(&n))
                    .map(|h| h.layer()),
            ))
            .layer(Optional::new((!outer.is_empty()).then(|| outer.layer())))
            .layer(Optional::new(hedge))
            .layer(Optional::new(
                (!pipeline.is_empty()).then(|| pipeline.layer()),
            ))
            .layer(Optional::new(
                plan.chaos
                    .and_then(|n| self.get::<Chaos>(&n))
                    .map(|h| h.layer()),
            ))
            .into_inner();
        OperationLayer {
            operation: Name::from(operation),
            layers,
        }
    }
}

type Layers = Stack<
    Optional<ChaosLayer>,
    Stack<
        Optional<PipelineLayer>,
        Stack<
            Optional<HedgeLayer>,
            Stack<Optional<PipelineLayer>, Stack<Optional<LoadShedLayer>, Identity>>,
        >,
    >,
>;

/// The service an [`OperationLayer`] makes of `S`: each pattern's service, or `S`
/// itself where the pattern is left out.
pub type OperationService<S> = <Layers as Layer<S>>::Service;

/// The whole stack of one operation as one tower layer; made by
/// [`Policies::stack`].
#[derive(Clone)]
pub struct OperationLayer {
    operation: Name,
    layers: Layers,
}

impl OperationLayer {
    /// The operation the stack guards.
    #[must_use]
    pub fn operation(&self) -> &Name {
        &self.operation
    }
}

/// The service must be [`Clone`], as the retry's layer wants: retries are made with
/// clones of it.
impl<S: Clone> Layer<S> for OperationLayer {
    type Service = OperationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.layers.layer(inner)
    }
}

impl fmt::Debug for OperationLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationLayer")
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

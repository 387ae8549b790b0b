//! [`ServiceBuilderExt`]: Hardy layers as `tower::ServiceBuilder` methods.

use tower::ServiceBuilder;
use tower_layer::Stack;

/// Adds Hardy's layers to `tower::ServiceBuilder`, so a stack reads top to bottom,
/// outermost first.
///
/// Each method takes a built handle: configs are validated when the handle is built,
/// and one handle may guard several services, sharing its state.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let timeout = Timeout::new("soil-read", Duration::from_secs(2))?;
/// let mut service = ServiceBuilder::new()
///     .hardy_timeout(&timeout)
///     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(sensor) });
/// assert_eq!(service.ready().await?.call(7).await?, 7);
/// # Ok(())
/// # }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// Adds a [`TimeoutLayer`](crate::timeout::TimeoutLayer) applying `timeout` to each
    /// call.
    #[cfg(feature = "timeout")]
    fn hardy_timeout(
        self,
        timeout: &crate::timeout::Timeout,
    ) -> ServiceBuilder<Stack<crate::timeout::TimeoutLayer, L>>;

    /// Adds a [`BreakerLayer`](crate::breaker::BreakerLayer) guarding each call with
    /// `breaker` and the default classifier.
    #[cfg(feature = "breaker")]
    fn hardy_breaker(
        self,
        breaker: &crate::breaker::CircuitBreaker,
    ) -> ServiceBuilder<Stack<crate::breaker::BreakerLayer, L>>;

    /// Adds a [`BulkheadLayer`](crate::bulkhead::BulkheadLayer) admitting each call
    /// through `bulkhead`.
    #[cfg(feature = "bulkhead")]
    fn hardy_bulkhead(
        self,
        bulkhead: &crate::bulkhead::Bulkhead,
    ) -> ServiceBuilder<Stack<crate::bulkhead::BulkheadLayer, L>>;

    /// Adds a [`PipelineLayer`](crate::PipelineLayer) guarding each call with
    /// `pipeline`'s retry, breaker, rate limit, bulkhead and timeout, in that order, and
    /// the default classifier: those layers' decisions, one reference per call.
    #[cfg(feature = "pipeline")]
    fn hardy_pipeline(
        self,
        pipeline: &crate::Pipeline,
    ) -> ServiceBuilder<Stack<crate::PipelineLayer, L>>;

    /// Adds a [`RetryLayer`](crate::retry::RetryLayer) retrying each call with `retry`,
    /// the default classifier and cloned requests.
    #[cfg(feature = "retry")]
    fn hardy_retry(
        self,
        retry: &crate::retry::Retry,
    ) -> ServiceBuilder<Stack<crate::retry::RetryLayer, L>>;

    /// Adds a [`RateLimitLayer`](crate::rate_limit::RateLimitLayer) pacing every call
    /// with `limiter` (for a rate per key, add
    /// [`KeyedRateLimiter::layer`](crate::rate_limit::KeyedRateLimiter::layer) with
    /// `.layer(…)`).
    #[cfg(feature = "rate-limit")]
    fn hardy_rate_limit(
        self,
        limiter: &crate::rate_limit::RateLimiter,
    ) -> ServiceBuilder<Stack<crate::rate_limit::RateLimitLayer<crate::rate_limit::RateLimiter>, L>>;

    /// Adds a [`LoadShedLayer`](crate::load_shed::LoadShedLayer) admitting or shedding
    /// each call through `shedder`, every call at priority 0 (to read priorities and
    /// clients from requests, add
    /// [`LoadShedder::layer`](crate::load_shed::LoadShedder::layer) with its extractors
    /// through `.layer(…)`).
    #[cfg(feature = "load-shed")]
    fn hardy_load_shed(
        self,
        shedder: &crate::load_shed::LoadShedder,
    ) -> ServiceBuilder<Stack<crate::load_shed::LoadShedLayer, L>>;

    /// Adds a [`FallbackLayer`](crate::fallback::FallbackLayer) answering each failed
    /// call with `fallback`'s answer (for last known good answers by key, add
    /// [`LastKnownGood::layer`](crate::fallback::LastKnownGood::layer) with
    /// `.layer(…)`).
    #[cfg(feature = "fallback")]
    fn hardy_fallback<A, C>(
        self,
        fallback: &crate::fallback::Fallback<A, C>,
    ) -> ServiceBuilder<Stack<crate::fallback::FallbackLayer<A, C>, L>>;

    /// Adds a [`ChaosLayer`](crate::chaos::ChaosLayer) injecting `chaos`'s latency and
    /// rejections (to inject errors and wrong answers too, add
    /// `chaos.layer().error(…).corrupt(…)` with `.layer(…)`).
    #[cfg(feature = "chaos")]
    fn hardy_chaos(
        self,
        chaos: &crate::chaos::Chaos,
    ) -> ServiceBuilder<Stack<crate::chaos::ChaosLayer, L>>;

    /// Adds the whole stack of `operation` as the policy file describes it:
    /// [`Policies::stack`](crate::Policies::stack).
    #[cfg(feature = "config")]
    fn hardy_policies(
        self,
        policies: &crate::Policies,
        operation: &str,
    ) -> ServiceBuilder<Stack<crate::OperationLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "timeout")]
    fn hardy_timeout(
        self,
        timeout: &crate::timeout::Timeout,
    ) -> ServiceBuilder<Stack<crate::timeout::TimeoutLayer, L>> {
        self.layer(timeout.layer())
    }

    #[cfg(feature = "breaker")]
    fn hardy_breaker(
        self,
        breaker: &crate::breaker::CircuitBreaker,
    ) -> ServiceBuilder<Stack<crate::breaker::BreakerLayer, L>> {
        self.layer(breaker.layer())
    }

    #[cfg(feature = "bulkhead")]
    fn hardy_bulkhead(
        self,
        bulkhead: &crate::bulkhead::Bulkhead,
    ) -> ServiceBuilder<Stack<crate::bulkhead::BulkheadLayer, L>> {
        self.layer(bulkhead.layer())
    }

    #[cfg(feature = "pipeline")]
    fn hardy_pipeline(
        self,
        pipeline: &crate::Pipeline,
    ) -> ServiceBuilder<Stack<crate::PipelineLayer, L>> {
        self.layer(pipeline.layer())
    }

    #[cfg(feature = "retry")]
    fn hardy_retry(
        self,
        retry: &crate::retry::Retry,
    ) -> ServiceBuilder<Stack<crate::retry::RetryLayer, L>> {
        self.layer(retry.layer())
    }

    #[cfg(feature = "rate-limit")]
    fn hardy_rate_limit(
        self,
        limiter: &crate::rate_limit::RateLimiter,
    ) -> ServiceBuilder<Stack<crate::rate_limit::RateLimitLayer<crate::rate_limit::RateLimiter>, L>>
    {
        self.layer(limiter.layer())
    }

    #[cfg(feature = "load-shed")]
    fn hardy_load_shed(
        self,
        shedder: &crate::load_shed::LoadShedder,
    ) -> ServiceBuilder<Stack<crate::load_shed::LoadShedLayer, L>> {
        self.layer(shedder.layer())
    }

    #[cfg(feature = "fallback")]
    fn hardy_fallback<A, C>(
        self,
        fallback: &crate::fallback::Fallback<A, C>,
    ) -> ServiceBuilder<Stack<crate::fallback::FallbackLayer<A, C>, L>> {
        self.layer(fallback.layer())
    }

    #[cfg(feature = "chaos")]
    fn hardy_chaos(
        self,
        chaos: &crate::chaos::Chaos,
    ) -> ServiceBuilder<Stack<crate::chaos::ChaosLayer, L>> {
        self.layer(chaos.layer())
    }

    #[cfg(feature = "config")]
    fn hardy_policies(
        self,
        policies: &crate::Policies,
        operation: &str,
    ) -> ServiceBuilder<Stack<crate::OperationLayer, L>> {
        self.layer(policies.stack(operation))
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

//! [`ChaosLayer`]: fault injection as a tower layer.

use tower_layer::Layer;

use crate::inject::{NoCorrupt, NoError};
use crate::{Chaos, ChaosService};

/// Wraps services in a [`ChaosService`] injecting the faults of one [`Chaos`] handle.
///
/// `M` makes injected errors (`Fn() -> E`, or [`NoError`]), `C` corrupts `Ok` answers
/// (`Fn(T) -> T`, or [`NoCorrupt`]); without them, outcomes drawn as errors or
/// corruptions pass the call through.
///
/// # Examples
///
/// ```
/// use tower::{BoxError, ServiceBuilder};
/// use hardy_chaos::Chaos;
///
/// let chaos = Chaos::builder("soil").seed(3).error_rate(0.1).corrupt_rate(0.05).build()?;
/// let service = ServiceBuilder::new()
///     .layer(
///         chaos
///             .layer()
///             .error(|| BoxError::from("injected bus error"))
///             .corrupt(|moisture: f64| moisture * 10.0),
///     )
///     .service_fn(|_: u8| async { Ok::<f64, BoxError>(41.5) });
/// # drop(service);
/// # Ok::<(), hardy_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChaosLayer<M = NoError, C = NoCorrupt> {
    chaos: Chaos,
    make_error: M,
    corrupt: C,
}

impl ChaosLayer {
    /// A layer injecting latency and rejections from `chaos`.
    pub fn new(chaos: Chaos) -> Self {
        ChaosLayer {
            chaos,
            make_error: NoError,
            corrupt: NoCorrupt,
        }
    }
}

impl<M, C> ChaosLayer<M, C> {
    /// Injects errors made by `make_error` (a `Fn() -> E` closure, `E` the service's
    /// error type).
    pub fn error<M2>(self, make_error: M2) -> ChaosLayer<M2, C> {
        ChaosLayer {
            chaos: self.chaos,
            make_error,
            corrupt: self.corrupt,
        }
    }

    /// Corrupts `Ok` answers with `corrupt` (a `Fn(T) -> T` closure, `T` the service's
    /// response type).
    pub fn corrupt<C2>(self, corrupt: C2) -> ChaosLayer<M, C2> {
        ChaosLayer {
            chaos: self.chaos,
            make_error: self.make_error,
            corrupt,
        }
    }

    /// The chaos handle.
    pub fn chaos(&self) -> &Chaos {
        &self.chaos
    }
}

impl<S, M: Clone, C: Clone> Layer<S> for ChaosLayer<M, C> {
    type Service = ChaosService<S, M, C>;

    fn layer(&self, inner: S) -> Self::Service {
        ChaosService::new(
            inner,
            self.chaos.clone(),
            self.make_error.clone(),
            self.corrupt.clone(),
        )
    }
}

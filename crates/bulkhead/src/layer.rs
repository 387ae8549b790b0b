//! [`BulkheadLayer`]: admits a tower service's calls through a [`Bulkhead`].

use tower_layer::Layer;

use crate::{Bulkhead, BulkheadService};

/// A tower layer admitting each wrapped service's calls through a [`Bulkhead`]; every
/// service it wraps shares the bulkhead's slots. Made by [`Bulkhead::layer`] or
/// [`BulkheadLayer::new`].
///
/// # Examples
///
/// ```
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy_bulkhead::Bulkhead;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let sensors = Bulkhead::builder("sensors").max_concurrent(4).build()?;
/// let mut read = ServiceBuilder::new()
///     .layer(sensors.layer())
///     .service_fn(|sensor: u8| async move { Ok::<_, BoxError>(sensor) });
/// assert_eq!(read.ready().await?.call(2).await?, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer admitting calls through `bulkhead`.
    pub fn new(bulkhead: Bulkhead) -> Self {
        BulkheadLayer { bulkhead }
    }

    /// The bulkhead this layer applies.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone())
    }
}

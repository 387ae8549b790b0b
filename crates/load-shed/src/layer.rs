//! [`LoadShedLayer`]: sheds a tower service's calls through a [`LoadShedder`].

use hardy_core::DefaultClassifier;
use tower_layer::Layer;

use crate::extract::{NoClient, SamePriority};
use crate::{LoadShedService, LoadShedder};

/// A tower layer shedding each wrapped service's calls through a [`LoadShedder`]; every
/// service it wraps shares the shedder's limit. Made by [`LoadShedder::layer`] or
/// [`LoadShedLayer::new`].
///
/// Requests have priority 0 and no client unless [`priority`](Self::priority) and
/// [`client`](Self::client) read them from each request; results are classified with
/// [`DefaultClassifier`] unless [`classify`](Self::classify) sets another. The
/// wrapped service's readiness is waited for, as any tower layer does, unless
/// [`shed_when_not_ready`](Self::shed_when_not_ready) sheds instead.
///
/// # Examples
///
/// ```
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
/// use hardy_load_shed::{LoadShedder, Priority};
///
/// struct Request { user: &'static str, critical: bool }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let api = LoadShedder::builder("api").priorities(2).fairness(0.8).build()?;
/// let mut service = ServiceBuilder::new()
///     .layer(
///         api.layer()
///             .priority(|r: &Request| if r.critical { Priority(0) } else { Priority(1) })
///             .client(|r: &Request| r.user),
///     )
///     .service_fn(|r: Request| async move { Ok::<_, BoxError>(r.user) });
/// let user = service.ready().await?.call(Request { user: "ana", critical: true }).await?;
/// assert_eq!(user, "ana");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LoadShedLayer<P = SamePriority, K = NoClient, C = DefaultClassifier> {
    shedder: LoadShedder,
    priority: P,
    client: K,
    classifier: C,
    shed_not_ready: bool,
}

impl LoadShedLayer {
    /// A layer shedding calls through `shedder`.
    pub fn new(shedder: LoadShedder) -> Self {
        LoadShedLayer {
            shedder,
            priority: SamePriority,
            client: NoClient,
            classifier: DefaultClassifier,
            shed_not_ready: false,
        }
    }
}

impl<P, K, C> LoadShedLayer<P, K, C> {
    /// Reads each request's priority with `priority` (a closure `Fn(&Req) -> Priority`).
    pub fn priority<Q>(self, priority: Q) -> LoadShedLayer<Q, K, C> {
        LoadShedLayer {
            shedder: self.shedder,
            priority,
            client: self.client,
            classifier: self.classifier,
            shed_not_ready: self.shed_not_ready,
        }
    }

    /// Reads each request's client with `client` (a closure `Fn(&Req) -> K` where
    /// `K: Hash`), for fair shares.
    pub fn client<L>(self, client: L) -> LoadShedLayer<P, L, C> {
        LoadShedLayer {
            shedder: self.shedder,
            priority: self.priority,
            client,
            classifier: self.classifier,
            shed_not_ready: self.shed_not_ready,
        }
    }

    /// Classifies results with `classifier` (a closure `Fn(&Result<T, E>) -> Outcome`).
    pub fn classify<D>(self, classifier: D) -> LoadShedLayer<P, K, D> {
        LoadShedLayer {
            shedder: self.shedder,
            priority: self.priority,
            client: self.client,
            classifier,
            shed_not_ready: self.shed_not_ready,
        }
    }

    /// Sheds a call when the wrapped service is not ready for it, as tower's
    /// `LoadShed` does, instead of waiting for its readiness.
    ///
    /// By default the shedder's service is ready when the wrapped one is: a caller
    /// (a server's connection, a `Buffer`) waits in `poll_ready` while the service
    /// behind is busy, and the shedder decides only once a call is made. Set, the
    /// service is always ready; a call made while the wrapped service was not ready
    /// at the last `poll_ready` is shed at once with [`ShedReason::NotReady`]
    /// (counted and reported like every shed call), and one made while it was ready
    /// is admitted or shed by the shedder as usual. Use it where the service behind
    /// has its own bound that shows as readiness (a `ConcurrencyLimit`, a `Buffer`
    /// that is full) and waiting for it would queue callers without limit.
    ///
    /// [`ShedReason::NotReady`]: hardy_core::ShedReason::NotReady
    pub fn shed_when_not_ready(mut self) -> Self {
        self.shed_not_ready = true;
        self
    }

    /// The shedder this layer applies.
    pub fn shedder(&self) -> &LoadShedder {
        &self.shedder
    }
}

impl<S, P: Clone, K: Clone, C: Clone> Layer<S> for LoadShedLayer<P, K, C> {
    type Service = LoadShedService<S, P, K, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let service = LoadShedService::new(
            inner,
            self.shedder.clone(),
            self.priority.clone(),
            self.client.clone(),
            self.classifier.clone(),
        );
        if self.shed_not_ready {
            service.shed_when_not_ready()
        } else {
            service
        }
    }
}

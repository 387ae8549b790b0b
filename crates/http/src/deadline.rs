//! Deadlines across hops: the time a caller has left, carried in a request header as
//! milliseconds, read into a [`Deadline`] on the way in and written on the way out.
//!
//! The header carries a budget, not an instant: the hosts' clocks need not agree.

use std::task::{Context, Poll};
use std::time::Duration;

use hardy_timeout::Deadline;
use http::{HeaderName, HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

/// The header a deadline travels in by default: `request-timeout-ms: 250`, the
/// caller's time left in whole milliseconds.
pub const REQUEST_TIMEOUT_MS: HeaderName = HeaderName::from_static("request-timeout-ms");

/// Reads the caller's time left from `request`'s header `name`: whole milliseconds,
/// digits only (at most 30 years). Anything else is ignored, not trusted.
#[must_use]
pub fn budget_in<B>(request: &Request<B>, name: &HeaderName) -> Option<Duration> {
    let value = request.headers().get(name)?.to_str().ok()?.trim();
    if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().map(Duration::from_millis)
}

/// On the way in: turns the header's budget into a [`Deadline`] in the request's
/// extensions, where a [`TimeoutLayer`](hardy_timeout::TimeoutLayer) with
/// `deadline_from(FromExtensions)` (and a [`PropagateDeadlineLayer`] on the calls
/// this request makes) finds it. A deadline already there (set by an outer layer) is
/// kept if it is earlier. A header that is not a whole number of milliseconds is
/// ignored.
///
/// A client can only shorten its own call this way: the timeouts beneath still apply
/// their own limits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_http::DeadlineLayer;
/// use hardy_timeout::Deadline;
/// use tower::{BoxError, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let left = ServiceBuilder::new()
///     .layer(DeadlineLayer::new())
///     .service_fn(|request: http::Request<()>| async move {
///         let deadline = request.extensions().get::<Deadline>().copied();
///         Ok::<_, BoxError>(deadline.map(Deadline::remaining))
///     });
/// let request = http::Request::builder()
///     .header("request-timeout-ms", "250")
///     .body(())?;
/// assert_eq!(left.oneshot(request).await?, Some(Duration::from_millis(250)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    header: HeaderName,
}

impl DeadlineLayer {
    /// Reads [`REQUEST_TIMEOUT_MS`].
    #[must_use]
    pub fn new() -> Self {
        DeadlineLayer {
            header: REQUEST_TIMEOUT_MS,
        }
    }

    /// Reads the header `name` instead.
    #[must_use]
    pub fn header(self, name: HeaderName) -> Self {
        DeadlineLayer { header: name }
    }
}

impl Default for DeadlineLayer {
    fn default() -> Self {
        DeadlineLayer::new()
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            header: self.header.clone(),
        }
    }
}

/// The service of a [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    header: HeaderName,
}

impl<S, B> Service<Request<B>> for DeadlineService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(budget) = budget_in(&request, &self.header) {
            let told = Deadline::after(budget);
            let extensions = request.extensions_mut();
            let deadline = match extensions.get::<Deadline>() {
                Some(earlier) => told.earliest(*earlier),
                None => told,
            };
            extensions.insert(deadline);
        }
        self.inner.call(request)
    }
}

/// On the way out: writes the time left until the request's [`Deadline`] (in its
/// extensions) into the header, in whole milliseconds rounded down, so the next hop
/// gives up when the caller does. With [`at_most`](Self::at_most) (the attempt's own
/// timeout), it tells the sooner of the two. A request without either is sent as it
/// is; a header already there is replaced when the time told is shorter.
///
/// Put it beneath the retry and the timeout, next to the client, so that each attempt
/// tells the time left when it is sent.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_http::PropagateDeadlineLayer;
/// use hardy_timeout::Deadline;
/// use tower::{BoxError, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let sent = ServiceBuilder::new()
///     .layer(PropagateDeadlineLayer::new())
///     .service_fn(|request: http::Request<()>| async move {
///         Ok::<_, BoxError>(request.headers().get("request-timeout-ms").cloned())
///     });
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(Deadline::after(Duration::from_millis(900)));
/// tokio::time::advance(Duration::from_millis(100)).await;
/// assert_eq!(sent.oneshot(request).await?.expect("written"), "800");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PropagateDeadlineLayer {
    header: HeaderName,
    at_most: Option<Duration>,
}

impl PropagateDeadlineLayer {
    /// Writes [`REQUEST_TIMEOUT_MS`].
    #[must_use]
    pub fn new() -> Self {
        PropagateDeadlineLayer {
            header: REQUEST_TIMEOUT_MS,
            at_most: None,
        }
    }

    /// Writes the header `name` instead.
    #[must_use]
    pub fn header(self, name: HeaderName) -> Self {
        PropagateDeadlineLayer {
            header: name,
            ..self
        }
    }

    /// Tells at most `limit`: the per-attempt timeout above this layer, which gives up
    /// on the attempt after that long whatever the caller's deadline.
    #[must_use]
    pub fn at_most(self, limit: Duration) -> Self {
        PropagateDeadlineLayer {
            at_most: Some(limit),
            ..self
        }
    }
}

impl Default for PropagateDeadlineLayer {
    fn default() -> Self {
        PropagateDeadlineLayer::new()
    }
}

impl<S> Layer<S> for PropagateDeadlineLayer {
    type Service = PropagateDeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateDeadlineService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`PropagateDeadlineLayer`].
#[derive(Debug, Clone)]
pub struct PropagateDeadlineService<S> {
    inner: S,
    layer: PropagateDeadlineLayer,
}

impl<S, B> Service<Request<B>> for PropagateDeadlineService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let header = &self.layer.header;
        let deadline = request
            .extensions()
            .get::<Deadline>()
            .map(|d| d.remaining());
        let left = match (deadline, self.layer.at_most) {
            (Some(left), Some(limit)) => Some(left.min(limit)),
            (left, limit) => left.or(limit),
        };
        if let Some(left) = left {
            let sooner = budget_in(&request, header).is_none_or(|told| left < told);
            if sooner {
                let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
                request
                    .headers_mut()
                    .insert(header.clone(), HeaderValue::from(millis));
            }
        }
        self.inner.call(request)
    }
}

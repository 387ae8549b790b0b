//! [`RateLimitHeadersLayer`]: a rate limit's standing told in each response, in the
//! IETF `RateLimit`/`RateLimit-Policy` fields and the common `X-RateLimit-*` trio.

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hardy_rate_limit::{KeyedRateLimiter, Quota, RateLimitConfig, RateLimiter};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};
use pin_project::pin_project;

use crate::problem::seconds_up;
use tower_layer::Layer;
use tower_service::Service;

/// `RateLimit-Policy`: the limit, `"name";q=<calls>;w=<seconds>`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: where it stands, `"name";r=<remaining>;t=<seconds until all are back>`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `X-RateLimit-Limit`: calls allowed per period.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`: calls that would be admitted at once.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`: seconds until every turn is back.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Which fields a [`RateLimitHeadersLayer`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fields {
    /// Both kinds (the default).
    #[default]
    Both,
    /// The IETF `RateLimit-Policy` and `RateLimit` fields only.
    Ietf,
    /// The `X-RateLimit-Limit`, `-Remaining` and `-Reset` trio only.
    XRateLimit,
}

/// A limiter whose standing the fields tell: a [`RateLimiter`], or a
/// [`KeyedRateLimiter`] with the function that reads each request's key
/// ([`RateLimitHeadersLayer::keyed`]).
pub trait LimitQuota {
    /// What the quota is read for: nothing for a limiter, the key for a keyed one.
    type Key;

    /// Where the limit stands for `key`; `None` when the limiter cannot tell without
    /// asking its store.
    fn quota(&self, key: &Self::Key) -> Option<Quota>;

    /// The limiter's settings.
    fn config(&self) -> &RateLimitConfig;
}

/// A [`LimitQuota`] that finds each request's key.
pub trait ReadQuota<Req>: LimitQuota {
    /// The key of `request`, read before the request goes on.
    fn key(&self, request: &Req) -> Self::Key;
}

impl LimitQuota for RateLimiter {
    type Key = ();

    fn quota(&self, (): &()) -> Option<Quota> {
        RateLimiter::quota(self)
    }

    fn config(&self) -> &RateLimitConfig {
        RateLimiter::config(self)
    }
}

impl<Req> ReadQuota<Req> for RateLimiter {
    fn key(&self, _: &Req) {}
}

/// A keyed limiter with the function that reads each request's key; made by
/// [`RateLimitHeadersLayer::keyed`].
#[derive(Debug, Clone)]
pub struct KeyedQuota<K, X> {
    limiter: KeyedRateLimiter<K>,
    key: X,
}

impl<K, X> LimitQuota for KeyedQuota<K, X>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Key = K;

    fn quota(&self, key: &K) -> Option<Quota> {
        self.limiter.quota(key)
    }

    fn config(&self) -> &RateLimitConfig {
        self.limiter.config()
    }
}

impl<Req, K, X> ReadQuota<Req> for KeyedQuota<K, X>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    X: Fn(&Req) -> K,
{
    fn key(&self, request: &Req) -> K {
        (self.key)(request)
    }
}

/// Tells clients where a rate limit stands, in every response: the IETF
/// `RateLimit-Policy` (`"api";q=100;w=60`: 100 calls a minute) and `RateLimit`
/// (`"api";r=42;t=35`: 42 calls left, all back in 35 s) fields, and `X-RateLimit-Limit`,
/// `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds from now, as the IETF
/// fields count).
///
/// Put it outside the [`RejectionLayer`](crate::RejectionLayer) and the limiter's
/// layer, so that refused calls (429) carry the fields too. The figures are read from
/// the limiter after the call took its turn. A limiter shared through a store cannot
/// tell where the fleet stands without a round trip: its responses carry the policy
/// and `X-RateLimit-Limit` only. With two limits on one route, the IETF fields list
/// both policies; the `X-RateLimit-*` trio tells the one with fewer calls left.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_http::{RateLimitHeadersLayer, RejectionLayer};
/// use hardy_rate_limit::RateLimiter;
/// use tower::{BoxError, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let api = RateLimiter::builder("api").per(100, Duration::from_secs(60)).build()?;
/// let service = ServiceBuilder::new()
///     .layer(RateLimitHeadersLayer::new(&api))
///     .layer(RejectionLayer::new())
///     .layer(api.layer())
///     .service_fn(|_: http::Request<()>| async {
///         Ok::<_, BoxError>(http::Response::new(String::from("ok")))
///     });
/// let response = service.oneshot(http::Request::new(())).await?;
/// assert_eq!(response.headers()["ratelimit-policy"], r#""api";q=100;w=60"#);
/// assert_eq!(response.headers()["ratelimit"], r#""api";r=99;t=1"#);
/// assert_eq!(response.headers()["x-ratelimit-remaining"], "99");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitHeadersLayer<Q> {
    quota: Q,
    fields: Fields,
    policy: Arc<str>,
}

impl RateLimitHeadersLayer<RateLimiter> {
    /// The fields of `limiter`, its policy named after it.
    #[must_use]
    pub fn new(limiter: &RateLimiter) -> Self {
        RateLimitHeadersLayer {
            policy: limiter.name().as_str().into(),
            quota: limiter.clone(),
            fields: Fields::Both,
        }
    }
}

impl<K> RateLimitHeadersLayer<KeyedQuota<K, ()>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// The fields of `limiter` for each request's key, read by `key` (the same function
    /// the limiter's layer reads it with).
    #[must_use]
    pub fn keyed<X>(
        limiter: &KeyedRateLimiter<K>,
        key: X,
    ) -> RateLimitHeadersLayer<KeyedQuota<K, X>> {
        RateLimitHeadersLayer {
            policy: limiter.name().as_str().into(),
            quota: KeyedQuota {
                limiter: limiter.clone(),
                key,
            },
            fields: Fields::Both,
        }
    }
}

impl<Q> RateLimitHeadersLayer<Q> {
    /// Which fields to write (default [`Fields::Both`]).
    #[must_use]
    pub fn fields(self, fields: Fields) -> Self {
        RateLimitHeadersLayer { fields, ..self }
    }

    /// The policy's name in the IETF fields (default: the limiter's name), for clients
    /// that must not learn the names of handles.
    #[must_use]
    pub fn policy_name(self, name: &str) -> Self {
        RateLimitHeadersLayer {
            policy: name.into(),
            ..self
        }
    }
}

impl<S, Q: Clone> Layer<S> for RateLimitHeadersLayer<Q> {
    type Service = RateLimitHeadersService<S, Q>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitHeadersService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`RateLimitHeadersLayer`].
#[derive(Debug, Clone)]
pub struct RateLimitHeadersService<S, Q> {
    inner: S,
    layer: RateLimitHeadersLayer<Q>,
}

impl<S, Q, ReqB, B> Service<Request<ReqB>> for RateLimitHeadersService<S, Q>
where
    S: Service<Request<ReqB>, Response = Response<B>>,
    Q: ReadQuota<Request<ReqB>> + Clone,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = RateLimitHeadersFuture<S::Future, Q, Q::Key>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let key = self.layer.quota.key(&request);
        RateLimitHeadersFuture {
            inner: self.inner.call(request),
            tell: Some((self.layer.clone(), key)),
        }
    }
}

/// The future of a [`RateLimitHeadersService`].
#[pin_project]
#[derive(Debug)]
pub struct RateLimitHeadersFuture<F, Q, K> {
    #[pin]
    inner: F,
    tell: Option<(RateLimitHeadersLayer<Q>, K)>,
}

impl<F, Q, B, E> Future for RateLimitHeadersFuture<F, Q, Q::Key>
where
    F: Future<Output = Result<Response<B>, E>>,
    Q: LimitQuota,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some((layer, key)) = this.tell.take() {
            let quota = layer.quota.quota(&key);
            write_fields(response.headers_mut(), &layer, quota);
        }
        Poll::Ready(Ok(response))
    }
}

/// Writes the fields of `layer`'s limit standing at `quota` (the policy alone when
/// `None`).
fn write_fields<Q: LimitQuota>(
    headers: &mut HeaderMap,
    layer: &RateLimitHeadersLayer<Q>,
    quota: Option<Quota>,
) {
    let config = layer.quota.config();
    let name = structured_string(&layer.policy);
    if layer.fields != Fields::XRateLimit {
        let window = seconds_up(config.period).max(1);
        append(
            headers,
            RATELIMIT_POLICY,
            format!("{name};q={};w={window}", config.limit),
        );
        if let Some(quota) = quota {
            let reset = seconds_up(quota.reset);
            append(
                headers,
                RATELIMIT,
                format!("{name};r={};t={reset}", quota.remaining),
            );
        }
    }
    if layer.fields == Fields::Ietf {
        return;
    }
    let fewer_left = |headers: &HeaderMap, remaining: u32| {
        headers
            .get(&X_RATELIMIT_REMAINING)
            .and_then(|value| value.to_str().ok()?.parse::<u32>().ok())
            .is_none_or(|told| remaining < told)
    };
    match quota {
        Some(quota) if fewer_left(headers, quota.remaining) => {
            headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(config.limit));
            headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(quota.remaining));
            headers.insert(
                X_RATELIMIT_RESET,
                HeaderValue::from(seconds_up(quota.reset)),
            );
        }
        Some(_) => {}
        None => {
            if !headers.contains_key(&X_RATELIMIT_LIMIT) {
                headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(config.limit));
            }
        }
    }
}

fn append(headers: &mut HeaderMap, name: HeaderName, value: String) {
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.append(name, value);
    }
}

/// `name` as a structured-field string (RFC 8941): quoted, `"` and `\` escaped,
/// characters outside printable ASCII replaced by `_`.
fn structured_string(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            ' '..='~' => quoted.push(c),
            _ => quoted.push('_'),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_structured_strings() {
        assert_eq!(structured_string("api"), r#""api""#);
        assert_eq!(structured_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(structured_string("plänt"), r#""pl_nt""#);
    }
}

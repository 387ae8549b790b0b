//! The client side: what an HTTP response means to a retry and a breaker, and the
//! server's `Retry-After`.

use std::time::{Duration, SystemTime};

use hardy_core::{AsRejection, Classify, DefaultClassifier, Outcome, Retryability};
use http::header::RETRY_AFTER;
use http::{HeaderMap, Method, Request, Response, StatusCode};

/// Classifies the results of an HTTP client for Hardy's retry and breaker:
///
/// | response | outcome | retried |
/// | --- | --- | --- |
/// | 1xx, 2xx, 3xx | success | no |
/// | 5xx, 408 Request Timeout, 429 Too Many Requests | failure | yes, after the response's `Retry-After` if it has one |
/// | other 4xx | ignored: the request was wrong, the server is fine | no |
/// | an error | as [`DefaultClassifier`]: a rejection by another layer as it says, any other error a retryable failure | |
///
/// A `Retry-After` that cannot be read (neither whole seconds nor an HTTP date) is
/// ignored, not trusted; a date in the past means now.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hardy_core::{Classify, Outcome, Retryability};
/// use hardy_http::ResponseClassifier;
///
/// let busy = http::Response::builder()
///     .status(503)
///     .header("retry-after", "7")
///     .body(())
///     .unwrap();
/// let outcome = ResponseClassifier.classify(&Ok::<_, std::io::Error>(busy));
/// assert_eq!(outcome, Outcome::Failure(Retryability::RetryAfter(Duration::from_secs(7))));
///
/// let missing = http::Response::builder().status(404).body(()).unwrap();
/// assert_eq!(ResponseClassifier.classify(&Ok::<_, std::io::Error>(missing)), Outcome::IGNORE);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseClassifier;

impl<B, E: AsRejection> Classify<Response<B>, E> for ResponseClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        let response = match result {
            Ok(response) => response,
            Err(_) => return DefaultClassifier.classify(result),
        };
        let status = response.status();
        if !(status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS)
        {
            return if status.is_client_error() {
                Outcome::IGNORE
            } else {
                Outcome::Success
            };
        }
        Outcome::Failure(match retry_after(response.headers(), SystemTime::now()) {
            Some(wait) => Retryability::RetryAfter(wait),
            None => Retryability::Retryable,
        })
    }
}

/// The wait a response's `Retry-After` asks for, read at `now`: whole seconds
/// (`120`) or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`, and the two obsolete
/// forms RFC 9110 still accepts); a date in the past is no wait. `None` when there is
/// no such header, or it cannot be read: a malformed value is ignored, not trusted.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use hardy_http::retry_after;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("retry-after", "120".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_secs(120)));
/// headers.insert("retry-after", "soon".parse().unwrap());
/// assert_eq!(retry_after(&headers, SystemTime::now()), None);
/// ```
#[must_use]
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A copy of `request` for another attempt: method, URI, version, headers, extensions
/// and body. For a retry's `clone_requests`, when the body can be cloned (a buffered
/// `Full<Bytes>`, a `String`).
///
/// Every method is repeated, POST too: use [`clone_idempotent`] unless the server
/// makes repeats safe (an idempotency key).
#[must_use]
pub fn clone_request<B: Clone>(request: &Request<B>) -> Option<Request<B>> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

/// A copy of `request` for another attempt if its method is idempotent (RFC 9110: GET,
/// HEAD, OPTIONS, TRACE, PUT, DELETE); `None` for POST, PATCH and others, so that a
/// retry sends them once.
///
/// # Examples
///
/// ```
/// use hardy_http::clone_idempotent;
///
/// let read = http::Request::get("/plants").body(String::new()).unwrap();
/// assert!(clone_idempotent(&read).is_some());
/// let water = http::Request::post("/water").body(String::from("100 ml")).unwrap();
/// assert!(clone_idempotent(&water).is_none());
/// ```
#[must_use]
pub fn clone_idempotent<B: Clone>(request: &Request<B>) -> Option<Request<B>> {
    let idempotent = [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ];
    if idempotent.contains(request.method()) {
        clone_request(request)
    } else {
        None
    }
}

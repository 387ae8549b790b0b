//! How a [`Rejection`] is answered over HTTP: its status, its `Retry-After`, and its
//! RFC 9457 problem details.

use std::time::Duration;

use hardy_core::Rejection;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

/// The media type of a problem details body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How much a rejection's response tells the client.
///
/// # Examples
///
/// ```
/// use hardy_core::{Name, Rejection};
/// use hardy_http::Problems;
///
/// let rejection = Rejection::RateLimited {
///     name: Name::from("partner-api"),
///     retry_after: std::time::Duration::from_millis(1500),
/// };
/// let response = Problems::Named.response::<String>(&rejection);
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.headers()["retry-after"], "2");
/// assert!(response.body().contains("\"handle\":\"partner-api\""));
///
/// let anonymous = Problems::Anonymous.response::<String>(&rejection);
/// assert!(!anonymous.body().contains("partner-api"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Problems {
    /// A problem details body naming the pattern that refused (`"pattern":
    /// "rate_limited"`) and its handle (`"handle": "partner-api"`), with a sentence
    /// saying why (`detail`): for clients of one's own, and for operators.
    #[default]
    Named,
    /// A problem details body with the status and its title only (and `retry_after`):
    /// for clients that must not learn the names of what is behind the service.
    Anonymous,
    /// No body: the status and `Retry-After` alone.
    Off,
}

impl Problems {
    /// The response answering `rejection`, its body made from text.
    ///
    /// | rejection | status | `Retry-After` |
    /// | --- | --- | --- |
    /// | `RateLimited` | 429 Too Many Requests | when a call would be admitted |
    /// | `CircuitOpen` | 503 Service Unavailable | until the breaker lets a probe through (none when forced open) |
    /// | `BulkheadFull` | 503 Service Unavailable | 1 s |
    /// | `Shed` | 503 Service Unavailable | the shedder's hint, else 1 s |
    /// | `PoolTimeout` | 503 Service Unavailable | 1 s |
    /// | `RetryBudgetExhausted` | 503 Service Unavailable | none |
    /// | `Timeout` | 504 Gateway Timeout | none |
    ///
    /// `Retry-After` is in whole seconds, rounded up (a wait of 1.2 s says 2).
    pub fn response<B: From<String>>(self, rejection: &Rejection) -> Response<B> {
        self.problem(status_of(rejection), retry_after_of(rejection), |problem| {
            problem.insert("detail".into(), rejection.to_string().into());
            problem.insert("pattern".into(), rejection.kind().as_str().into());
            problem.insert("handle".into(), rejection.name().as_str().into());
        })
    }

    /// A response with `status`, `Retry-After` when `retry_after` is known, and the
    /// problem details this level allows: type, title, status and `retry_after`, and
    /// what `named` adds only with [`Problems::Named`].
    pub(crate) fn problem<B: From<String>>(
        self,
        status: StatusCode,
        retry_after: Option<Duration>,
        named: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Response<B> {
        let body = (self != Problems::Off).then(|| {
            let mut problem = serde_json::Map::new();
            problem.insert("type".into(), "about:blank".into());
            problem.insert(
                "title".into(),
                status.canonical_reason().unwrap_or("Error").into(),
            );
            problem.insert("status".into(), status.as_u16().into());
            if self == Problems::Named {
                named(&mut problem);
            }
            if let Some(wait) = retry_after {
                problem.insert("retry_after".into(), wait.as_secs_f64().into());
            }
            serde_json::Value::Object(problem).to_string()
        });
        let has_body = body.is_some();
        let mut response = Response::new(B::from(body.unwrap_or_default()));
        *response.status_mut() = status;
        if let Some(wait) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds_up(wait)));
        }
        if has_body {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        }
        response
    }
}

/// The status that answers `rejection`.
#[must_use]
pub fn status_of(rejection: &Rejection) -> StatusCode {
    match rejection {
        Rejection::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Rejection::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// How long the client should wait before trying again, if the response says so.
fn retry_after_of(rejection: &Rejection) -> Option<Duration> {
    const SOON: Duration = Duration::from_secs(1);
    match rejection {
        Rejection::RateLimited { retry_after, .. } => Some(*retry_after),
        Rejection::CircuitOpen { retry_after, .. } => *retry_after,
        Rejection::Shed { retry_after, .. } => Some(retry_after.unwrap_or(SOON)),
        Rejection::BulkheadFull { .. } | Rejection::PoolTimeout { .. } => Some(SOON),
        _ => None,
    }
}

/// Whole seconds, rounded up: a client that waits that long finds the wait over.
pub(crate) fn seconds_up(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(seconds_up(Duration::ZERO), 0);
        assert_eq!(seconds_up(Duration::from_millis(1)), 1);
        assert_eq!(seconds_up(Duration::from_secs(2)), 2);
        assert_eq!(seconds_up(Duration::from_millis(2001)), 3);
    }
}

//! Hardy at the HTTP edge: a [`Rejection`](hardy_core::Rejection) answered as the HTTP
//! response it means.
//!
//! - [`Problems::response`]: 429 Too Many Requests for a rate limit; 503 Service
//!   Unavailable for an open breaker, a full bulkhead, a shed call, a pool timeout or a
//!   spent retry budget; 504 Gateway Timeout for a timeout; `Retry-After` in whole
//!   seconds where the rejection knows when to come back; an RFC 9457
//!   `application/problem+json` body naming the pattern and the handle, or not
//!   ([`Problems::Anonymous`]), or none ([`Problems::Off`]).
//! - [`RejectionLayer`]: a tower layer answering the rejections of the layers below;
//!   other errors pass through, or, with [`RejectionLayer::answer_all`], are answered
//!   with 500, so that the service's error type is `Infallible`, as axum wants.
//! - With the `axum` feature, a rejection is an axum `IntoResponse`.
//! - [`RateLimitHeadersLayer`]: the IETF `RateLimit-Policy` and `RateLimit` fields and
//!   the `X-RateLimit-*` trio, from the limiter's own state.
//! - [`key`]: keys for keyed rate limits and fair shedding — the peer's address, the
//!   client's behind trusted proxies only ([`key::ClientIp`]), a header, the route, one
//!   for all.
//! - Deadlines across hops: [`DeadlineLayer`] reads the caller's time left from a
//!   header, [`PropagateDeadlineLayer`] tells it to the next hop.
//! - The client side: [`ResponseClassifier`] tells Hardy's retry and breaker what a
//!   response means (5xx, 408 and 429 failures worth retrying, after the server's
//!   `Retry-After`; other 4xx ignored), [`retry_after`] reads that header in both its
//!   forms, and [`clone_idempotent`] copies requests for retries that must never repeat
//!   a POST.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `axum` | no | `IntoResponse` for [`Answer`]; peer addresses from `ConnectInfo`, routes from `MatchedPath` |

mod client;
mod deadline;
mod headers;
pub mod key;
mod layer;
mod problem;

pub use client::{ResponseClassifier, clone_idempotent, clone_request, retry_after};
pub use deadline::{
    DeadlineLayer, DeadlineService, PropagateDeadlineLayer, PropagateDeadlineService,
    REQUEST_TIMEOUT_MS, budget_in,
};
pub use headers::{
    Fields, KeyedQuota, LimitQuota, RATELIMIT, RATELIMIT_POLICY, RateLimitHeadersFuture,
    RateLimitHeadersLayer, RateLimitHeadersService, ReadQuota, X_RATELIMIT_LIMIT,
    X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};
pub use layer::{
    AnswerAllFuture, AnswerAllLayer, AnswerAllService, RejectionFuture, RejectionLayer,
    RejectionService,
};
pub use problem::{PROBLEM_JSON, Problems, status_of};

/// A rejection with the way to answer it: what an axum handler returns to answer a
/// rejection (`Err(Answer::new(rejection))`, with the `axum` feature).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The rejection answered.
    pub rejection: hardy_core::Rejection,
    /// How much the answer tells.
    pub problems: Problems,
}

impl Answer {
    /// `rejection`, answered with named problem details.
    #[must_use]
    pub fn new(rejection: hardy_core::Rejection) -> Self {
        Answer {
            rejection,
            problems: Problems::Named,
        }
    }
}

impl From<hardy_core::Rejection> for Answer {
    fn from(rejection: hardy_core::Rejection) -> Self {
        Answer::new(rejection)
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Answer {
    fn into_response(self) -> axum::response::Response {
        self.problems.response::<axum::body::Body>(&self.rejection)
    }
}

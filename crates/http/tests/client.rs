//! The client classifier and `Retry-After` parsing: malformed values are ignored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hardy_core::{Classify, Name, Outcome, Rejection, Retryability};
use hardy_http::{ResponseClassifier, retry_after};

fn response(status: u16, retry_after: Option<&str>) -> http::Response<()> {
    let mut builder = http::Response::builder().status(status);
    if let Some(value) = retry_after {
        builder = builder.header("retry-after", value);
    }
    builder.body(()).expect("a response")
}

fn classify(response: http::Response<()>) -> Outcome {
    ResponseClassifier.classify(&Ok::<_, std::io::Error>(response))
}

#[test]
fn statuses_are_classified() {
    for status in [200, 201, 204, 301, 304] {
        assert_eq!(
            classify(response(status, None)),
            Outcome::Success,
            "{status}"
        );
    }
    for status in [500, 502, 503, 504, 408, 429] {
        assert_eq!(
            classify(response(status, None)),
            Outcome::RETRYABLE_FAILURE,
            "{status}"
        );
    }
    for status in [400, 401, 403, 404, 409, 422] {
        assert_eq!(
            classify(response(status, None)),
            Outcome::IGNORE,
            "{status}"
        );
    }
    assert_eq!(
        classify(response(429, Some("3"))),
        Outcome::Failure(Retryability::RetryAfter(Duration::from_secs(3)))
    );
}

#[test]
fn errors_are_classified_as_the_default_classifier_does() {
    let refused: Result<http::Response<()>, hardy_core::Error<std::io::Error>> =
        Err(hardy_core::Error::Rejected(Rejection::CircuitOpen {
            name: Name::from("b"),
            retry_after: None,
        }));
    assert_eq!(
        ResponseClassifier.classify(&refused),
        hardy_core::DefaultClassifier.classify(&refused)
    );
    let failed: Result<http::Response<()>, std::io::Error> =
        Err(std::io::Error::other("connection reset"));
    assert_eq!(
        ResponseClassifier.classify(&failed),
        Outcome::RETRYABLE_FAILURE
    );
}

fn headers(value: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("retry-after", value.parse().expect("a header value"));
    headers
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    // Wed, 21 Oct 2015 07:28:00 GMT
    let date = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    let now = date - Duration::from_secs(90);
    assert_eq!(
        retry_after(&headers("120"), now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(retry_after(&headers(" 0 "), now), Some(Duration::ZERO));
    for form in [
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Wednesday, 21-Oct-15 07:28:00 GMT",
        "Wed Oct 21 07:28:00 2015",
    ] {
        assert_eq!(
            retry_after(&headers(form), now),
            Some(Duration::from_secs(90)),
            "{form}"
        );
    }
    let later = date + Duration::from_secs(10);
    assert_eq!(
        retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT"), later),
        Some(Duration::ZERO),
        "a date past is no wait"
    );
}

#[test]
fn malformed_retry_after_is_ignored() {
    let now = SystemTime::now();
    for value in [
        "soon",
        "-5",
        "1.5",
        "",
        "99999999999999999999999",
        "Wed, 32 Oct 2015 07:28:00 GMT",
    ] {
        assert_eq!(retry_after(&headers(value), now), None, "{value:?}");
    }
    assert_eq!(retry_after(&http::HeaderMap::new(), now), None);
    assert_eq!(
        classify(response(503, Some("tomorrow"))),
        Outcome::RETRYABLE_FAILURE,
        "a malformed hint is not trusted"
    );
}

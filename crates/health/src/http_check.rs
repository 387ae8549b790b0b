//! [`HttpCheck`]: GET a URL and expect a status.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::{CheckResult, HealthCheck};

/// Healthy when a GET of the URL answers with the expected status (200 unless set);
/// unhealthy with the status or the error otherwise. Plain HTTP/1.1 (`http://`); the
/// registry's timeout bounds the request. The body is read and dropped, so the
/// connection can be reused.
///
/// # Examples
///
/// ```
/// use hardy_health::HttpCheck;
///
/// let weather = HttpCheck::get("http://127.0.0.1:8080/status")?.expect_status(204);
/// assert_eq!(weather.expected_status(), 204);
/// assert!(HttpCheck::get("not a url").is_err());
/// # Ok::<(), hardy_health::InvalidUri>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpCheck {
    uri: hyper::Uri,
    expected: u16,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// A URL that does not parse; returned by [`HttpCheck::get`].
pub use http::uri::InvalidUri;

impl HttpCheck {
    /// Checks `uri` with GET, expecting 200.
    ///
    /// # Errors
    ///
    /// [`InvalidUri`] when `uri` does not parse.
    pub fn get(uri: &str) -> Result<Self, InvalidUri> {
        let uri: hyper::Uri = uri.parse()?;
        Ok(HttpCheck {
            uri,
            expected: 200,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Expects `status` instead of 200.
    #[must_use]
    pub fn expect_status(mut self, status: u16) -> Self {
        self.expected = status;
        self
    }

    /// The status expected.
    #[must_use]
    pub fn expected_status(&self) -> u16 {
        self.expected
    }
}

impl HealthCheck for HttpCheck {
    async fn check(&self) -> CheckResult {
        match self.client.get(self.uri.clone()).await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body to its end so the connection can be reused.
                let _ = response.into_body().collect().await;
                if status == self.expected {
                    CheckResult::healthy()
                } else {
                    CheckResult::unhealthy(format!(
                        "GET {}: status {status}, expected {}",
                        self.uri, self.expected
                    ))
                }
            }
            Err(error) => CheckResult::unhealthy(format!("GET {}: {error}", self.uri)),
        }
    }
}

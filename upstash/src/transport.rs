//! The HTTP exchange under the client: a [`Transport`] sends one `POST` and honours its timeout.
//! This crate ships [`ReqwestTransport`] (feature `reqwest`); the Cloudflare Worker implements the
//! trait over `worker::Fetch` in its own crate, so this one never depends on a runtime.

use std::time::Duration;

/// Default timeout of one HTTP exchange with the REST endpoint.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Headers every request carries besides `Authorization`: a JSON body, and base64
/// responses so binary values survive the JSON envelope (`Upstash-Encoding: base64`).
pub const FIXED_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("upstash-encoding", "base64"),
];

/// One HTTP `POST` the client wants sent, with [`FIXED_HEADERS`] and `authorization`.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Absolute URL.
    pub url: String,
    /// `Authorization` header value (`Bearer …`).
    pub authorization: String,
    /// JSON body.
    pub body: Vec<u8>,
    /// The transport must give up after this long and return [`TransportError::Timeout`].
    pub timeout: Duration,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Raw body.
    pub body: Vec<u8>,
}

/// Why an HTTP exchange did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No response within the request's timeout.
    #[error("timed out")]
    Timeout,
    /// Connection refused, reset, DNS, TLS, ...
    #[error("{0}")]
    Failed(String),
}

/// Sends one HTTP request. Implemented by `reqwest` (native) and `worker::Fetch` (wasm).
///
/// Futures are not required to be `Send`: the worker's are not.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends `req`, honouring `req.timeout`.
    ///
    /// # Errors
    /// [`TransportError`] when no HTTP response arrived.
    async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError>;
}

#[cfg(feature = "reqwest")]
pub use native::ReqwestTransport;

#[cfg(feature = "reqwest")]
mod native {
    use super::{HttpRequest, HttpResponse, Transport, TransportError, FIXED_HEADERS};

    /// `reqwest` transport with a keep-alive connection pool. Clone freely.
    #[derive(Debug, Clone, Default)]
    pub struct ReqwestTransport {
        client: reqwest::Client,
    }

    impl ReqwestTransport {
        /// Wraps a configured `reqwest::Client`.
        pub fn new(client: reqwest::Client) -> Self {
            Self { client }
        }
    }

    impl Transport for ReqwestTransport {
        async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
            let mut rb = self
                .client
                .post(&req.url)
                .timeout(req.timeout)
                .header("authorization", &req.authorization)
                .body(req.body);
            for (k, v) in FIXED_HEADERS {
                rb = rb.header(k, v);
            }
            let map = |e: reqwest::Error| {
                if e.is_timeout() {
                    TransportError::Timeout
                } else {
                    TransportError::Failed(e.to_string())
                }
            };
            let resp = rb.send().await.map_err(map)?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map_err(map)?.to_vec();
            Ok(HttpResponse { status, body })
        }
    }
}

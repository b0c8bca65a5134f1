//! What the handlers need from the runtime, behind [`Platform`]: the Redis REST transport, the
//! clock, randomness, the edge cache and the origin HTTP call; and the request and response
//! shapes the handlers work on. The worker glue implements it with `worker::Fetch`,
//! `worker::Cache` and `crypto.getRandomValues`; host tests implement it with fakes.

use std::time::Duration;

use serde::Serialize;
use upstash_rest::{Transport, TransportError};

use edgestock_api::ApiError;

/// An incoming request, reduced to what the handlers need.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `scheme://host[:port]` of the request URL (cache keys).
    pub url_origin: String,
    /// Path, not decoded.
    pub path: String,
    /// Query string without `?`, not decoded.
    pub query: String,
    /// Headers with lowercase names.
    pub headers: Vec<(String, String)>,
    /// Raw body (empty for GET).
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// First value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An outgoing response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body; empty for 204/304.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON response of a typed body.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        Self::bytes(status, "application/json", bytes)
    }

    /// A response with a body of `content_type`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// An error response in the one error shape.
    pub fn error(e: &ApiError) -> Self {
        Self::error_with_status(e.status(), e)
    }

    /// An error response with a status other than its code's (an origin answer passed through).
    pub fn error_with_status(status: u16, e: &ApiError) -> Self {
        let mut r = Self::json(status, &e.body());
        if let Some(s) = e.retry_after() {
            r.set_header("retry-after", &s.to_string());
        }
        r
    }

    /// First value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets header `name` (lowercase), replacing earlier values.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// A forwarded call to the origin (always `POST` with a JSON body).
#[derive(Debug, Clone)]
pub struct OriginRequest {
    /// Absolute URL.
    pub url: String,
    /// Headers to send (content type, signature, idempotency key).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Vec<u8>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What the origin answered.
#[derive(Debug, Clone)]
pub struct OriginResponse {
    /// HTTP status.
    pub status: u16,
    /// Raw body.
    pub body: Vec<u8>,
    /// Its `Retry-After`, if any.
    pub retry_after: Option<String>,
}

/// The runtime services the handlers use.
#[allow(async_fn_in_trait)]
pub trait Platform {
    /// The Redis REST transport.
    type Redis: Transport;
    /// A transport for one request.
    fn redis_transport(&self) -> Self::Redis;
    /// Wall clock, ms since the epoch.
    fn now_ms(&self) -> i64;
    /// 16 cryptographically random bytes.
    fn random_bytes(&self) -> [u8; 16];
    /// A cached response under `key`.
    async fn cache_get(&self, key: &str) -> Option<ApiResponse>;
    /// Caches `resp` under `key` (it carries its `Cache-Control`).
    async fn cache_put(&self, key: &str, resp: &ApiResponse);
    /// Sends `req` to the origin, honouring its timeout.
    async fn origin_post(&self, req: OriginRequest) -> Result<OriginResponse, TransportError>;
}

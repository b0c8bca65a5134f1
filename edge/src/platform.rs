//! What the handlers need from the runtime, behind [`Platform`]: the Redis REST transport, the
//! clock, randomness, the isolate's memory, the edge cache and the origin HTTP call; and the request and response
//! shapes the handlers work on. The worker glue implements it with `worker::Fetch`,
//! `worker::Cache` and `crypto.getRandomValues`; host tests implement it with fakes.

use std::time::Duration;

use serde::Serialize;
use upstash_rest::{Transport, TransportError};

use edgestock_api::ApiError;

use crate::cache::IsolateMemory;
use crate::telemetry::{RedisUsage, RequestRecord};

/// An incoming request: the `http` crate's, with the body read into memory. The worker glue
/// builds it from the Workers request (absolute URI, lowercase header names).
pub type ApiRequest = http::Request<Vec<u8>>;

/// An outgoing response: the `http` crate's, with the body in memory (empty for 204/304).
pub type ApiResponse = http::Response<Vec<u8>>;

/// What the handlers read of a request.
pub trait RequestExt {
    /// First value of header `name`, if it is text.
    fn header(&self, name: &str) -> Option<&str>;
    /// `scheme://host[:port]` of the request URL (cache keys).
    fn url_origin(&self) -> String;
    /// The query string without `?`, not decoded.
    fn query_str(&self) -> &str;
}

impl RequestExt for ApiRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }

    fn url_origin(&self) -> String {
        let uri = self.uri();
        match (uri.scheme_str(), uri.authority()) {
            (Some(s), Some(a)) => format!("{s}://{a}"),
            _ => String::new(),
        }
    }

    fn query_str(&self) -> &str {
        self.uri().query().unwrap_or("")
    }
}

/// Building and reading responses.
pub trait ResponseExt: Sized {
    /// A JSON response of a typed body.
    fn json<T: Serialize>(status: u16, body: &T) -> Self;
    /// A response with a body of `content_type`.
    fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self;
    /// A response without a body.
    fn empty(status: u16) -> Self;
    /// An error response in the one error shape.
    fn error(e: &ApiError) -> Self;
    /// An error response with a status other than its code's (an origin answer passed through).
    fn error_with_status(status: u16, e: &ApiError) -> Self;
    /// The status as a number.
    fn code(&self) -> u16;
    /// First value of header `name`, if it is text.
    fn header(&self, name: &str) -> Option<&str>;
    /// Sets header `name`, replacing earlier values (an invalid name or value is skipped).
    fn set_header(&mut self, name: &str, value: &str);
}

impl ResponseExt for ApiResponse {
    fn json<T: Serialize>(status: u16, body: &T) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        Self::bytes(status, "application/json", bytes)
    }

    fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        let mut r = Self::empty(status);
        *r.body_mut() = body;
        r.set_header("content-type", content_type);
        r
    }

    fn empty(status: u16) -> Self {
        let mut r = http::Response::new(Vec::new());
        *r.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        r
    }

    fn error(e: &ApiError) -> Self {
        Self::error_with_status(e.status(), e)
    }

    fn error_with_status(status: u16, e: &ApiError) -> Self {
        let mut r = Self::json(status, &e.body());
        if let Some(s) = e.retry_after() {
            r.set_header("retry-after", &s.to_string());
        }
        r
    }

    fn code(&self) -> u16 {
        self.status().as_u16()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }

    fn set_header(&mut self, name: &str, value: &str) {
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            self.headers_mut().insert(n, v);
        }
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
    type Redis: Transport + 'static;
    /// A transport for one request.
    fn redis_transport(&self) -> Self::Redis;
    /// Wall clock, ms since the epoch.
    fn now_ms(&self) -> i64;
    /// 16 cryptographically random bytes.
    fn random_bytes(&self) -> [u8; 16];
    /// Writes `message` to the operator's log (the worker's console).
    fn log_error(&self, message: &str);
    /// Runs `f` on this isolate's memory (kept between the requests an isolate serves).
    fn memory<R>(&self, f: impl FnOnce(&mut IsolateMemory) -> R) -> R;
    /// A response under `key` in the location's shared cache (the Cache API).
    async fn cache_get(&self, key: &str) -> Option<ApiResponse>;
    /// Puts `resp` under `key` in the location's shared cache (it carries its `Cache-Control`).
    async fn cache_put(&self, key: &str, resp: &ApiResponse);
    /// Like [`Platform::cache_put`], in the background: the response does not wait for it.
    fn cache_put_later(&self, key: String, resp: ApiResponse);
    /// Runs `work` to its end even when the client goes away (the Workers `waitUntil`), and
    /// answers its output; `None` when the runtime lost it. For work that must not stop half
    /// way, like the compensation of a reservation across shards.
    async fn to_completion<T: 'static>(
        &self,
        work: impl std::future::Future<Output = T> + 'static,
    ) -> Option<T>;
    /// Sends `req` to the origin, honouring its timeout.
    async fn origin_post(&self, req: OriginRequest) -> Result<OriginResponse, TransportError>;
    /// The Redis calls this request has made so far and their time.
    fn redis_usage(&self) -> RedisUsage;
    /// Records a finished request (an Analytics Engine data point when the dataset is bound, a
    /// JSON log line when `REQUEST_LOG` is on), without delaying its response.
    fn record(&self, record: &RequestRecord);
}

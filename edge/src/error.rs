//! The one error shape of the public API: `{"error": {"code", "message", ...details}}`, and the
//! mapping of Redis and origin failures onto it.

use serde_json::{json, Map, Value};
use upstash_rest::Error as RedisError;

/// An error answer: status, stable code, human message, extra fields and an optional
/// `Retry-After` (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code (`insufficient_stock`, `invalid_token`, ...).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Extra fields merged into the `error` object (`sku`, `available`, ...).
    pub details: Map<String, Value>,
    /// `Retry-After` in seconds, when the client should come back later.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }
    }

    /// Adds one detail field.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Sets `Retry-After` (seconds), also reported as `retry_after_seconds`.
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self.with("retry_after_seconds", seconds)
    }

    /// 400 `malformed_json`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(400, "malformed_json", message)
    }

    /// 422 `invalid_request` with the offending `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(422, "invalid_request", message).with("field", field)
    }

    /// 404 `reservation_not_found`.
    pub fn reservation_not_found() -> Self {
        Self::new(404, "reservation_not_found", "no such reservation")
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("code".into(), Value::from(self.code));
        obj.insert("message".into(), Value::from(self.message.as_str()));
        for (k, v) in &self.details {
            obj.insert(k.clone(), v.clone());
        }
        json!({ "error": obj })
    }

    /// A Redis (REST endpoint) failure: 503 `redis_unavailable` when unreachable, slow or down,
    /// 502 `redis_error` when it answered something we cannot use.
    pub fn from_redis(e: &RedisError) -> Self {
        if e.is_unavailable() {
            let message = match e {
                RedisError::Timeout => "redis did not answer in time".to_owned(),
                other => format!("redis is unavailable: {other}"),
            };
            Self::new(503, "redis_unavailable", message).retry_after(1)
        } else {
            Self::new(502, "redis_error", format!("redis call failed: {e}"))
        }
    }
}

/// `Retry-After` seconds for a wait in ms: rounded up, at least 1.
pub fn retry_after_seconds(ms: i64) -> u64 {
    let ms = u64::try_from(ms).unwrap_or(0);
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_sit_next_to_code_and_message() {
        let e = ApiError::new(409, "insufficient_stock", "not enough")
            .with("sku", "A")
            .with("available", 3);
        assert_eq!(
            e.body(),
            json!({"error": {"code": "insufficient_stock", "message": "not enough", "sku": "A", "available": 3}})
        );
    }

    #[test]
    fn redis_failures_map_to_503_or_502() {
        let e = ApiError::from_redis(&RedisError::Timeout);
        assert_eq!(
            (e.status, e.code, e.retry_after),
            (503, "redis_unavailable", Some(1))
        );
        let e = ApiError::from_redis(&RedisError::Transport("refused".into()));
        assert_eq!((e.status, e.code), (503, "redis_unavailable"));
        let e = ApiError::from_redis(&RedisError::Unavailable {
            status: 503,
            message: "down".into(),
        });
        assert_eq!(e.status, 503);
        let e = ApiError::from_redis(&RedisError::Unauthorized("bad token".into()));
        assert_eq!((e.status, e.code), (502, "redis_error"));
        let e = ApiError::from_redis(&RedisError::Redis("ERR x".into()));
        assert_eq!((e.status, e.code), (502, "redis_error"));
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        assert_eq!(retry_after_seconds(0), 1);
        assert_eq!(retry_after_seconds(-5), 1);
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(1000), 1);
        assert_eq!(retry_after_seconds(1001), 2);
        assert_eq!(retry_after_seconds(59_999), 60);
    }
}

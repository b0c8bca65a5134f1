//! The one error shape of both APIs, `{"error": {"code", "message", ...details}}`, and the one
//! enum of error codes. A code carries its HTTP status, so a handler names what went wrong and
//! never a number.

use serde::{Deserialize, Serialize};

mod code;
pub use code::ErrorCode;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The details an error may carry next to its code and message; absent ones are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetails {
    /// The SKU concerned (`insufficient_stock`, `unknown_sku`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Units available when refused (`insufficient_stock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// The location concerned (`location_unavailable`, `unknown_location`, and
    /// `insufficient_stock` of a pickup or of a late confirm short at its location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The offending field (`invalid_request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The item limit (`too_many_items`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<i64>,
    /// The per-item quantity limit (`invalid_quantity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_qty: Option<i64>,
    /// The batch-read limit (`too_many_skus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_skus: Option<i64>,
    /// The hold lifetime limit (`invalid_ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl_seconds: Option<i64>,
    /// The body size limit (`body_too_large`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<i64>,
    /// The latest possible expiry (`hold_limit_reached`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_expires_at: Option<String>,
    /// Its epoch-ms twin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_expires_at_ms: Option<i64>,
    /// The reservation's current status (`reservation_not_held`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Seconds to wait, the `Retry-After` header's twin (`rate_limited`, 503s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// The origin's own HTTP status (`origin_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_status: Option<u16>,
    /// The id of this request in the edge's log, also sent as `X-Request-Id` (5xx answers of
    /// the edge, whose internal cause is logged rather than shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The `error` object: a code, a human message and the details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable message; never internal text for a 5xx.
    pub message: String,
    /// Extra fields, flattened next to `code` and `message` (boxed: errors travel in `Result`s,
    /// which should stay small).
    #[serde(flatten)]
    pub details: Box<ErrorDetails>,
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Box::default(),
        }
    }

    /// The HTTP status of its code.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The `Retry-After` seconds it carries, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.details.retry_after_seconds
    }

    /// Changes the details in place: `ApiError::new(..).with(|d| d.sku = Some(..))`.
    #[must_use]
    pub fn with(mut self, f: impl FnOnce(&mut ErrorDetails)) -> Self {
        f(&mut self.details);
        self
    }

    /// 400 `malformed_json`.
    pub fn malformed_json(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedJson, message)
    }

    /// 422 `invalid_request` naming the offending `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with(|d| d.field = Some(field.to_owned()))
    }

    /// Sets `retry_after_seconds` (and so the `Retry-After` header the service sends).
    #[must_use]
    pub fn retry_after_secs(self, seconds: u64) -> Self {
        self.with(|d| d.retry_after_seconds = Some(seconds))
    }

    /// The body to send.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.clone(),
        }
    }

    /// The body to send.
    pub fn into_body(self) -> ErrorBody {
        ErrorBody { error: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_sit_flat_next_to_code_and_message_and_absent_ones_are_not_sent() {
        let e = ApiError::new(ErrorCode::InsufficientStock, "not enough").with(|d| {
            d.sku = Some("A".into());
            d.available = Some(3);
        });
        assert_eq!(e.status(), 409);
        assert_eq!(
            serde_json::to_value(e.clone().into_body()).unwrap(),
            serde_json::json!({"error": {"code": "insufficient_stock", "message": "not enough", "sku": "A", "available": 3}})
        );
        let back: ErrorBody =
            serde_json::from_value(serde_json::to_value(e.clone().into_body()).unwrap()).unwrap();
        assert_eq!(back.error, e);
    }
}

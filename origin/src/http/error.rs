//! The one error type of the HTTP API and its JSON shape:
//! `{"error": {"code", "message", ...details}}`. 5xx bodies never echo internal text; the cause is
//! logged instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::domain::Error as DomainError;

/// Everything a handler can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or bad credentials.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// 404: unknown resource.
    #[error("{0}")]
    NotFound(&'static str),
    /// 409 with a code (`reservation_expired`, ...).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// 422: invalid values.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
        /// Extra fields merged into the error object.
        details: Map<String, Value>,
    },
    /// 503: Redis (or a dependency) unreachable; the caller may retry.
    #[error("redis unavailable: {0}")]
    RedisUnavailable(String),
    /// 500: Redis answered something unexpected.
    #[error("redis error: {0}")]
    Redis(edgestock_core::rest::Error),
    /// 500 (or 503 for pool timeouts): database failure.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// 500: anything else.
    #[error(transparent)]
    Anyhow(#[from] anyhow::Error),
    /// 500: a fault injected by a test stopped the handler.
    #[error("fault injected")]
    FaultInjected,
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        let message = e.to_string();
        match e {
            DomainError::UnknownOrder => Self::NotFound("unknown order"),
            DomainError::UnknownReservation => Self::NotFound("unknown reservation"),
            DomainError::UnknownSku => Self::NotFound("unknown sku"),
            DomainError::ReservationExpired { .. } => Self::Conflict {
                code: "reservation_expired",
                message,
            },
            DomainError::CommittedWithoutOrder | DomainError::CommittedCancelOrder => {
                Self::Conflict {
                    code: "reservation_committed",
                    message,
                }
            }
            DomainError::IllegalTransition { .. } => Self::Conflict {
                code: "illegal_transition",
                message,
            },
            DomainError::IdempotencyKeyOfOtherConfirm
            | DomainError::IdempotencyKeyOfOtherReservation => {
                Self::unprocessable("idempotency_key_mismatch", message)
            }
            DomainError::ReservedSkuUnknown => Self::unprocessable("unknown_sku", message),
            DomainError::MovementIdReused => Self::unprocessable("movement_id_reused", message),
            DomainError::ChangeTooLarge => Self::unprocessable("invalid_body", message),
            DomainError::Redis(e) => e.into(),
            DomainError::Sqlx(e) => Self::Sqlx(e),
            DomainError::FaultInjected => Self::FaultInjected,
            DomainError::Internal(e) => Self::Anyhow(e),
        }
    }
}

/// Result of handlers and domain functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<edgestock_core::rest::Error> for Error {
    fn from(e: edgestock_core::rest::Error) -> Self {
        if e.is_unavailable() {
            Self::RedisUnavailable(e.to_string())
        } else {
            Self::Redis(e)
        }
    }
}

impl Error {
    /// 422 with a code and no details.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RedisUnavailable(_) | Self::Sqlx(sqlx::Error::PoolTimedOut) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Redis(_) | Self::Sqlx(_) | Self::Anyhow(_) | Self::FaultInjected => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::RedisUnavailable(_) | Self::Sqlx(sqlx::Error::PoolTimedOut) => "unavailable",
            _ => "internal",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let message = if status.is_server_error() {
            tracing::error!(error.cause_chain = ?self, error.message = %self, "request failed");
            match status {
                StatusCode::SERVICE_UNAVAILABLE => {
                    "a dependency is unavailable; retry later".into()
                }
                _ => "internal error".to_owned(),
            }
        } else {
            self.to_string()
        };
        let mut body = Map::new();
        body.insert("code".into(), self.code().into());
        body.insert("message".into(), message.into());
        if let Self::Unprocessable { details, .. } = self {
            body.extend(details);
        }
        let mut resp = (status, Json(json!({ "error": body }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        resp
    }
}

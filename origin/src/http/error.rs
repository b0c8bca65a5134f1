//! The errors handlers answer with, and their one JSON shape: each becomes an [`ErrorCode`] of
//! `edgestock-api` (which carries its HTTP status) in `{"error": {"code", "message", ...}}`.
//! Domain errors are mapped here and only here. 5xx bodies never echo internal text; the cause
//! is logged instead.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::{ApiError, ErrorCode};

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
        code: ErrorCode,
        /// Human text.
        message: String,
    },
    /// 422: invalid values.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: ErrorCode,
        /// Human text.
        message: String,
    },
    /// A 4xx error with its details, answered as it is.
    #[error("{0}")]
    Api(edgestock_api::ApiError),
    /// 503: Redis (or a dependency) unreachable; the caller may retry.
    #[error("redis unavailable: {0}")]
    RedisUnavailable(String),
    /// 500: Redis answered something unexpected.
    #[error("redis error: {0}")]
    Redis(upstash_rest::Error),
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
            DomainError::UnknownWebhook => Self::NotFound("unknown webhook"),
            DomainError::ReservationExpired { .. } => Self::Conflict {
                code: ErrorCode::ReservationExpired,
                message,
            },
            DomainError::CommittedWithoutOrder | DomainError::CommittedCancelOrder => {
                Self::Conflict {
                    code: ErrorCode::ReservationCommitted,
                    message,
                }
            }
            DomainError::IllegalTransition { from, .. } => Self::Api(
                edgestock_api::ApiError::new(ErrorCode::IllegalTransition, message)
                    .with(|d| d.status = Some(from.as_str().to_owned())),
            ),
            DomainError::AlreadyConfirmed => Self::Conflict {
                code: ErrorCode::AlreadyConfirmed,
                message,
            },
            DomainError::PaymentRefInUse => Self::Conflict {
                code: ErrorCode::PaymentRefInUse,
                message,
            },
            DomainError::OrderExists { status } => Self::Api(
                edgestock_api::ApiError::new(
                    match status {
                        crate::domain::lifecycle::OrderStatus::PendingPayment => {
                            ErrorCode::OrderPlaced
                        }
                        _ => ErrorCode::OrderConfirmed,
                    },
                    message,
                )
                .with(|d| d.status = Some(status.as_str().to_owned())),
            ),
            DomainError::RestockRequired => {
                Self::unprocessable(ErrorCode::RestockRequired, message)
            }
            DomainError::InsufficientStock {
                sku,
                available,
                location,
            } => Self::Api(
                edgestock_api::ApiError::new(ErrorCode::InsufficientStock, message).with(|d| {
                    d.sku = Some(sku);
                    d.available = Some(available);
                    d.location = location;
                }),
            ),
            DomainError::UnknownLocation { location } => Self::Api(
                edgestock_api::ApiError::new(ErrorCode::UnknownLocation, message)
                    .with(|d| d.location = Some(location)),
            ),
            DomainError::TooManyLocations => Self::unprocessable(ErrorCode::InvalidBody, message),
            DomainError::ReservedSkuUnknown => Self::unprocessable(ErrorCode::UnknownSku, message),
            DomainError::ReservedLocationUnknown => {
                Self::unprocessable(ErrorCode::UnknownLocation, message)
            }
            DomainError::MovementIdReused => {
                Self::unprocessable(ErrorCode::MovementIdReused, message)
            }
            DomainError::ChangeTooLarge => Self::unprocessable(ErrorCode::InvalidBody, message),
            DomainError::Redis(e) => e.into(),
            DomainError::Sqlx(e) => Self::Sqlx(e),
            DomainError::FaultInjected => Self::FaultInjected,
            DomainError::Internal(e) => Self::Anyhow(e),
        }
    }
}

/// Result of handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<upstash_rest::Error> for Error {
    fn from(e: upstash_rest::Error) -> Self {
        if e.is_unavailable() {
            Self::RedisUnavailable(e.to_string())
        } else {
            Self::Redis(e)
        }
    }
}

impl Error {
    /// 422 with a code.
    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    /// The code answered (its status comes with it).
    fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict { code, .. } | Self::Unprocessable { code, .. } => *code,
            Self::Api(e) => e.code,
            Self::RedisUnavailable(_) | Self::Sqlx(sqlx::Error::PoolTimedOut) => {
                ErrorCode::Unavailable
            }
            Self::Redis(_) | Self::Sqlx(_) | Self::Anyhow(_) | Self::FaultInjected => {
                ErrorCode::Internal
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
        let body = match self {
            Self::Api(e) if !status.is_server_error() => e.into_body(),
            _ => ApiError::new(code, message).into_body(),
        };
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        resp
    }
}

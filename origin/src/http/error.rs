//! The HTTP face of the domain error: each [`Error`] becomes an [`ErrorCode`] (which carries its
//! status) and the one JSON shape, `{"error": {"code", "message", ...details}}`. 5xx bodies never
//! echo internal text; the cause is logged instead. Nothing outside `http/` imports this module.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::{ApiError, ErrorCode};

pub use crate::error::{Error, Result, ResultExt};

/// The code a domain error is answered with.
fn code(e: &Error) -> ErrorCode {
    match e {
        Error::BadRequest(_) => ErrorCode::BadRequest,
        Error::Unauthorized => ErrorCode::Unauthorized,
        Error::NotFound(_) => ErrorCode::NotFound,
        Error::Conflict { code, .. } | Error::Unprocessable { code, .. } => *code,
        Error::RedisUnavailable(_) | Error::Sqlx(sqlx::Error::PoolTimedOut) => {
            ErrorCode::Unavailable
        }
        Error::Redis(_) | Error::Sqlx(_) | Error::Anyhow(_) | Error::FaultInjected => {
            ErrorCode::Internal
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = code(&self);
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
        let mut resp = api_error_response(&ApiError::new(code, message));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        resp
    }
}

/// The response of an [`ApiError`] (with `Retry-After` when it carries one).
pub(crate) fn api_error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, Json(e.body())).into_response();
    if let Some(s) = e.retry_after() {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
    }
    resp
}

//! The domain error of the origin. Domain modules return it; only `http/` turns it into a
//! response (`http/error.rs`), so the domain never speaks HTTP.

use edgestock_api::ErrorCode;

/// What the origin's domain operations fail with. Client mistakes name their [`ErrorCode`];
/// dependency failures keep their cause (logged, never shown). `http/` maps it to responses.
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

/// Result of handlers and domain functions.
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

    /// 409 with a code.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// Maps a unique/foreign-key violation of `constraint` to another error.
pub trait ResultExt<T> {
    /// When the error is a violation of `name`, replaces it with `f(err)`.
    ///
    /// # Errors
    /// The original or mapped error.
    fn on_constraint(
        self,
        name: &str,
        f: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> Error,
    ) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(
        self,
        name: &str,
        f: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> Error,
    ) -> Result<T> {
        self.map_err(|e| match e.into() {
            Error::Sqlx(sqlx::Error::Database(db)) if db.constraint() == Some(name) => f(db),
            e => e,
        })
    }
}

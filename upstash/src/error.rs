//! What can go wrong with one call.

use crate::transport::TransportError;

/// Everything that can go wrong with one call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Redis answered with an error; the text is Redis's own, verbatim (`NOSCRIPT …`, `ERR …`).
    #[error("redis error: {0}")]
    Redis(String),
    /// The REST endpoint refused the token (401/403).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The endpoint answered 5xx (for example the gateway cannot reach Redis).
    #[error("unavailable (HTTP {status}): {message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The `error` text of the body, or the raw body.
        message: String,
    },
    /// No HTTP response: connection failure.
    #[error("transport failure: {0}")]
    Transport(String),
    /// No HTTP response within the timeout.
    #[error("timed out")]
    Timeout,
    /// A response that does not follow the protocol.
    #[error("malformed reply: {0}")]
    Malformed(String),
}

impl Error {
    /// True for `NOSCRIPT` errors (case-insensitive, as the official client checks).
    pub fn is_noscript(&self) -> bool {
        matches!(self, Error::Redis(m) if m.to_ascii_lowercase().contains("noscript"))
    }

    /// True when the caller may retry later (Redis or the endpoint unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::Transport(_) | Error::Timeout
        )
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Timeout => Error::Timeout,
            TransportError::Failed(m) => Error::Transport(m),
        }
    }
}

//! The wire contract of edgestock, in one place.
//!
//! Every request and response body of the public edge API ([`edge`]) and the backend-facing
//! origin API ([`origin`], its webhooks in [`webhooks`]) is a serde type here, and every error
//! any of them answers is an [`ErrorCode`], which knows its HTTP status. The edge, the origin and the tests all use these
//! types, so a field or a code is named once.
//!
//! With the `openapi` feature the types derive utoipa schemas and [`openapi`] builds the
//! OpenAPI 3.1 documents checked in under `openapi/` (a golden test fails when they drift).
//! The wasm edge builds without it.

pub mod edge;
mod error;
pub mod origin;
pub mod webhooks;

#[cfg(feature = "openapi")]
pub mod openapi;

pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetails};

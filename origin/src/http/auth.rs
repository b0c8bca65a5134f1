//! Authentication, one credential per caller and never another's: backend calls carry
//! `Authorization: Bearer <ORIGIN_API_KEY>`; the edge's forwarded calls carry its HMAC signature
//! ([`crate::signature`]) and nothing else opens them; admin calls carry `Bearer <ADMIN_API_KEY>`;
//! the scraper of `/metrics` carries `Bearer <METRICS_TOKEN>` (unset, `/metrics` is off: 404).

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::error::Error;
use super::MAX_BODY_BYTES;
use crate::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::state::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn same(a: &str, b: &str) -> bool {
    !b.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Lets a request through with the backend key only (an edge signature is refused here: a
/// shopper's browser must never reach the backend's routes through the edge).
pub async fn require_backend(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if bearer(req.headers()).is_some_and(|k| same(k, state.config.api_key.expose_secret())) {
        return next.run(req).await;
    }
    Error::Unauthorized.into_response()
}

/// Lets a request through with a valid, fresh edge signature only (the backend key is refused
/// here: the edge's routes act for a shopper, with a shopper's rights).
pub async fn require_edge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let (Some(ts), Some(sig)) = (
        headers
            .get(TIMESTAMP_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    ) else {
        return Error::Unauthorized.into_response();
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return Error::BadRequest("body too large or unreadable".into()).into_response();
    };
    let checked = signature::verify(
        state.config.edge_secret.expose_secret().as_bytes(),
        parts.method.as_str(),
        parts.uri.path(),
        &ts,
        &bytes,
        &sig,
        signature::unix_now(),
    );
    if let Err(e) = checked {
        tracing::info!(reason = %e, "edge signature refused");
        return Error::Unauthorized.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Lets a request through with the admin key.
pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if bearer(req.headers()).is_some_and(|k| same(k, state.config.admin_api_key.expose_secret())) {
        next.run(req).await
    } else {
        Error::Unauthorized.into_response()
    }
}

/// Lets a request through with the metrics token; without a configured token the route is off.
pub async fn require_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = state.config.metrics_token.as_ref() else {
        return Error::NotFound("metrics are off: set METRICS_TOKEN to serve them").into_response();
    };
    if bearer(req.headers()).is_some_and(|k| same(k, token.expose_secret())) {
        next.run(req).await
    } else {
        Error::Unauthorized.into_response()
    }
}

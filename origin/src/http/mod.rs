//! The HTTP API (`docs/design.md`): one module per resource, each with its own router, merged here.

use edgestock_api::{ApiError, ErrorCode};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

mod admin;
pub mod auth;
pub mod error;
mod events;
mod locations;
mod ops;
mod orders;
mod webhooks;

/// The OpenAPI document of this API: the operations come from the handlers' own
/// `#[utoipa::path]` declarations (utoipa-axum), the schemas and the document's info from
/// `edgestock-api`. `openapi/origin.json` is this document (a golden test checks it).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, paths) = orders::backend_router()
        .merge(orders::edge_router())
        .merge(admin::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(ops::router())
        .merge(ops::metrics_router())
        .split_for_parts();
    let mut doc = edgestock_api::openapi::origin_base();
    doc.merge(paths);
    doc
}

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole application: API routes, auth, metrics, tracing, timeouts and body limits.
pub fn app(state: AppState) -> Router {
    let backend = Router::from(orders::backend_router()).route_layer(
        middleware::from_fn_with_state(state.clone(), auth::require_backend),
    );
    let edge = Router::from(orders::edge_router()).route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_edge,
    ));
    let admin = Router::from(
        admin::router()
            .merge(webhooks::router())
            .merge(events::router()),
    )
    .route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_admin,
    ));
    let metrics = Router::from(ops::metrics_router()).route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_metrics,
    ));
    Router::new()
        .merge(backend)
        .merge(edge)
        .merge(admin)
        .merge(metrics)
        .merge(Router::from(ops::router()))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or(req.uri().path(), MatchedPath::as_str);
            tracing::info_span!("http", method = %req.method(), route = %route)
        }))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(15),
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

/// Puts every error the framework answers by itself (unknown route, wrong method, a query or body
/// it cannot parse, the body limit, the request timeout) into the one JSON error shape, so a
/// client never has to handle plain text or an empty body.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let (code, fallback) = match status.as_u16() {
        400 => (ErrorCode::BadRequest, "malformed request"),
        404 => (ErrorCode::NotFound, "no such route"),
        405 => (
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route",
        ),
        413 => (ErrorCode::BodyTooLarge, "the body is over 64 KiB"),
        415 => (
            ErrorCode::UnsupportedMediaType,
            "the body must be application/json",
        ),
        422 => (ErrorCode::InvalidRequest, "invalid request"),
        503 => (ErrorCode::Unavailable, "the request timed out"),
        s if s >= 500 => (ErrorCode::Internal, "internal error"),
        _ => (ErrorCode::BadRequest, "request refused"),
    };
    // 4xx framework texts describe the client's mistake; 5xx texts are never echoed.
    let message = if status.is_client_error() && !text.is_empty() {
        text
    } else {
        fallback.to_owned()
    };
    let body = serde_json::to_vec(&ApiError::new(code, message).into_body()).unwrap_or_default();
    let mut out = Response::from_parts(parts, axum::body::Body::from(body));
    out.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    out.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
    out
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    state.metrics.observe_request(
        &method,
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    /// Golden file: `openapi/origin.json` is exactly what the handlers' declarations and the
    /// `edgestock-api` types generate. Regenerate with
    /// `UPDATE_OPENAPI=1 cargo test -p origin --lib openapi`.
    #[test]
    fn the_checked_in_openapi_document_is_what_the_code_generates() {
        let generated = edgestock_api::openapi::to_json(&super::openapi());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/origin.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).expect("write the golden file");
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} differs from what the code generates; run \
             `UPDATE_OPENAPI=1 cargo test -p origin --lib openapi` and commit the result",
            path.display()
        );
    }
}

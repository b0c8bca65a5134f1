//! The HTTP API (DESIGN.md §5): one module per resource, each with its own router, merged here.

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
mod ops;
mod orders;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole application: API routes, auth, metrics, tracing, timeouts and body limits.
pub fn app(state: AppState) -> Router {
    let backend = orders::router().route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_backend,
    ));
    let admin =
        admin::router()
            .merge(events::router())
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_admin,
            ));
    Router::new()
        .merge(backend)
        .merge(admin)
        .merge(ops::router())
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
        .with_state(state)
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

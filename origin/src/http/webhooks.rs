//! Admin API of webhook subscriptions (see [`crate::domain::webhooks`] for the delivery).
//! Needs `ADMIN_API_KEY`. A refused field answers 422 `invalid_request` naming it, and nothing
//! is stored.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::webhooks::{
    CreateWebhook, CreatedWebhook, WebhookAttempts, WebhookReplay, Webhooks,
};
use edgestock_api::ApiError;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{Error, Result};
use super::orders::parse_json;
use crate::domain::webhooks::{self, target, Target};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(replay_webhook))
        .routes(routes!(webhook_attempts))
}

fn refused(e: target::Invalid) -> Error {
    Error::Api(ApiError::invalid(e.field, e.message))
}

/// An id that is no UUID names no webhook.
fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| Error::NotFound("unknown webhook"))
}

/// Subscribes a URL to event types, optionally for some SKUs only. The answer carries the
/// signing secret, shown this once.
#[utoipa::path(post, path = "/v1/admin/webhooks", tag = "admin", security(("adminApiKey" = [])),
    request_body = edgestock_api::webhooks::CreateWebhook,
    responses(
        (status = 201, description = "Subscribed; `secret` is shown only here", body = edgestock_api::webhooks::CreatedWebhook),
        (status = 400, description = "`bad_request`", body = edgestock_api::ErrorBody),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_request` with `field` (`url`, `event_types`, `skus`), `invalid_body`", body = edgestock_api::ErrorBody)))]
async fn create_webhook(State(state): State<AppState>, body: Bytes) -> Result<Response> {
    let req: CreateWebhook = parse_json(&body)?;
    let target = Target {
        url: target::check_url(&req.url, state.config.webhook_allow_insecure).map_err(refused)?,
        event_types: target::check_types(&req.event_types).map_err(refused)?,
        skus: target::check_skus(req.skus.as_deref()).map_err(refused)?,
    };
    let (webhook, secret) = webhooks::create(&state.db, &target).await?;
    tracing::info!(webhook_id = %webhook.id, "webhook endpoint created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { webhook, secret }),
    )
        .into_response())
}

/// The subscriptions, oldest first, at most 1,000 (never their secrets).
#[utoipa::path(get, path = "/v1/admin/webhooks", tag = "admin", security(("adminApiKey" = [])),
    responses(
        (status = 200, description = "The subscriptions", body = edgestock_api::webhooks::Webhooks),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody)))]
async fn list_webhooks(State(state): State<AppState>) -> Result<Response> {
    let webhooks = webhooks::list(&state.db).await?;
    Ok(Json(Webhooks { webhooks }).into_response())
}

/// Deletes a subscription with its pending deliveries and its delivery log.
#[utoipa::path(delete, path = "/v1/admin/webhooks/{id}", tag = "admin",
    params(("id" = String, Path)), security(("adminApiKey" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody)))]
async fn delete_webhook(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    webhooks::delete(&state.db, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct ReplayQuery {
    since: Option<String>,
}

/// Sends again every event the subscription wants that happened at or after `since`
/// (RFC 3339), oldest first, at most 10,000 per call; enables a disabled subscription again.
#[utoipa::path(post, path = "/v1/admin/webhooks/{id}/replay", tag = "admin",
    params(("id" = String, Path), ("since" = String, Query, description = "RFC 3339 time")),
    security(("adminApiKey" = [])),
    responses(
        (status = 200, description = "Queued", body = edgestock_api::webhooks::WebhookReplay),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_request` with `field` `since`", body = edgestock_api::ErrorBody)))]
async fn replay_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReplayQuery>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let since = q
        .since
        .as_deref()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .ok_or_else(|| {
            Error::Api(ApiError::invalid(
                "since",
                "since must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z",
            ))
        })?;
    let queued = webhooks::replay(&state.db, id, since).await?;
    Ok(Json(WebhookReplay {
        queued,
        truncated: queued >= webhooks::MAX_REPLAY,
    })
    .into_response())
}

/// The delivery log: the newest 100 attempts (status, latency, error).
#[utoipa::path(get, path = "/v1/admin/webhooks/{id}/attempts", tag = "admin",
    params(("id" = String, Path)), security(("adminApiKey" = [])),
    responses(
        (status = 200, description = "Newest first", body = edgestock_api::webhooks::WebhookAttempts),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody)))]
async fn webhook_attempts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let attempts = webhooks::attempts(&state.db, parse_id(&id)?).await?;
    Ok(Json(WebhookAttempts { attempts }).into_response())
}

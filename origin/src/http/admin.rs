//! Admin API: SKUs, adjustments, seeding and reconcile (see [`crate::domain::stock`] for how a
//! stock change reaches Redis). Needs `ADMIN_API_KEY`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::origin::{
    self as api, CreateAdjustment, PutSku, Reconcile, RedisApply, SeedResult, SkuView,
};
use edgestock_api::ErrorCode;
use edgestock_core::domain::{Location, Sku};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{Error, Result};
use super::orders::parse_json;
use crate::domain::ledger::MovementKind;
use crate::domain::stock::{self, Adjusted, Adjustment, RedisState, SkuSpec};
use crate::domain::{seed, shards};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_sku))
        .routes(routes!(create_adjustment))
        .routes(routes!(seed_redis))
        .routes(routes!(reconcile))
        .merge(super::locations::router())
}

pub(super) const MAX_UNITS: i64 = 1_000_000_000;

pub(super) fn parse_sku(s: &str) -> Result<Sku> {
    Sku::parse(s).map_err(|e| Error::unprocessable(ErrorCode::InvalidSku, e.to_string()))
}

/// `applied` when Redis took the change now, `pending` when the outbox worker will.
pub(super) fn redis_label(r: RedisState) -> RedisApply {
    match r {
        RedisState::Applied => RedisApply::Applied,
        RedisState::Pending => RedisApply::Pending,
    }
}

/// The wire name of a movement kind.
fn wire_kind(k: MovementKind) -> api::MovementKind {
    match k {
        MovementKind::Initial => api::MovementKind::Initial,
        MovementKind::Restock => api::MovementKind::Restock,
        MovementKind::Return => api::MovementKind::Return,
        MovementKind::Adjustment => api::MovementKind::Adjustment,
        MovementKind::Sale => api::MovementKind::Sale,
        MovementKind::Cancellation => api::MovementKind::Cancellation,
        MovementKind::Transfer => api::MovementKind::Transfer,
    }
}

/// Creates or updates a SKU; `on_hand` becomes a ledger movement for the difference.
#[utoipa::path(put, path = "/v1/admin/skus/{sku}", tag = "admin",
    params(("sku" = String, Path)), security(("adminApiKey" = [])),
    request_body = edgestock_api::origin::PutSku,
    responses(
        (status = 201, description = "Created", body = edgestock_api::origin::SkuView),
        (status = 200, description = "Updated", body = edgestock_api::origin::SkuView),
        (status = 400, description = "`bad_request`", body = edgestock_api::ErrorBody),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 413, description = "`body_too_large`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_sku`, `invalid_body`", body = edgestock_api::ErrorBody)))]
async fn put_sku(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let sku = parse_sku(&sku)?;
    let req: PutSku = parse_json(&body)?;
    if req.name.trim().is_empty() || req.name.len() > 200 || req.name.chars().any(char::is_control)
    {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "name must be 1..=200 bytes without control characters",
        ));
    }
    if !(0..=MAX_UNITS).contains(&req.on_hand)
        || !(0..=MAX_UNITS).contains(&req.low_stock_threshold)
    {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "on_hand and low_stock_threshold must be in 0..=1e9",
        ));
    }
    let spec = SkuSpec {
        name: req.name,
        on_hand: req.on_hand,
        low_stock_threshold: req.low_stock_threshold,
        require_customer: req.require_customer,
    };
    let written = stock::put_sku(&state, &sku, &spec).await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = SkuView {
        sku: sku.to_string(),
        name: spec.name,
        on_hand: spec.on_hand,
        low_stock_threshold: spec.low_stock_threshold,
        require_customer: written.require_customer,
        movement_id: written.movement_id,
        redis: redis_label(written.redis),
    };
    Ok((status, Json(view)).into_response())
}

/// Appends a restock, return or correction; idempotent by `movement_id` (201, then 200).
#[utoipa::path(post, path = "/v1/admin/skus/{sku}/adjustments", tag = "admin",
    params(("sku" = String, Path)), security(("adminApiKey" = [])),
    request_body = edgestock_api::origin::CreateAdjustment,
    responses(
        (status = 201, description = "Applied", body = edgestock_api::origin::Adjustment),
        (status = 200, description = "Replay of the same movement", body = edgestock_api::origin::Adjustment),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_body`, `invalid_location`, `unknown_location`, `movement_id_reused`", body = edgestock_api::ErrorBody)))]
async fn create_adjustment(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let sku = parse_sku(&sku)?;
    let req: CreateAdjustment = parse_json(&body)?;
    if req.delta == 0 || req.delta.abs() > MAX_UNITS {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "delta must be non-zero and at most 1e9 in size",
        ));
    }
    let location = match req.location.as_deref() {
        Some(l) => super::locations::parse_location(l, "location")?,
        None => Location::default_location(),
    };
    let mid_ok = !req.movement_id.is_empty()
        && req.movement_id.len() <= 128
        && req
            .movement_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !mid_ok || req.reason.len() > 200 || req.reason.chars().any(char::is_control) {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "movement_id must match [A-Za-z0-9._:-]{1,128}; reason at most 200 bytes without control characters",
        ));
    }
    let adjustment = Adjustment {
        delta: req.delta,
        reason: req.reason,
        movement_id: req.movement_id,
        location,
    };
    let (status, replay, redis) = match stock::adjust(&state, &sku, &adjustment).await? {
        Adjusted::Created(r) => (StatusCode::CREATED, false, redis_label(r)),
        Adjusted::Replayed => (StatusCode::OK, true, RedisApply::SeeReconcile),
    };
    let body = api::Adjustment {
        sku: sku.to_string(),
        kind: wire_kind(adjustment.kind()),
        movement_id: adjustment.movement_id,
        location: adjustment.location.to_string(),
        delta: adjustment.delta,
        reason: adjustment.reason,
        replay,
        redis,
    };
    Ok((status, Json(body)).into_response())
}

/// Loads the location settings and every SKU at every location into Redis from the ledger (see
/// [`crate::domain::seed`] for the rule).
#[utoipa::path(post, path = "/v1/admin/seed", tag = "admin", security(("adminApiKey" = [])),
    responses((status = 200, description = "Seeded", body = edgestock_api::origin::SeedResult),
              (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody)))]
async fn seed_redis(State(state): State<AppState>) -> Result<Response> {
    let skus = seed::seed_all(&state).await?;
    let pins = seed::repin_placed(&state).await?;
    shards::mark_all_seeded(&state).await?;
    Ok(Json(SeedResult {
        seeded: skus.len(),
        skus,
        repinned: pins.repinned,
        repin_short: pins.short,
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
struct ReconcileQuery {
    #[serde(default)]
    repair: bool,
    sku: Option<String>,
}

/// Reports drift between the ledger and Redis per (SKU, location) and of the location settings;
/// `?repair=true` rewrites the settings and reseeds drifting locations.
#[utoipa::path(get, path = "/v1/admin/reconcile", tag = "admin", security(("adminApiKey" = [])),
    params(("repair" = Option<bool>, Query), ("sku" = Option<String>, Query)),
    responses((status = 200, description = "The comparison", body = edgestock_api::origin::Reconcile),
              (status = 400, description = "`bad_request`", body = edgestock_api::ErrorBody),
              (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
              (status = 422, description = "`invalid_query`", body = edgestock_api::ErrorBody)))]
async fn reconcile(
    State(state): State<AppState>,
    Query(q): Query<ReconcileQuery>,
) -> Result<Response> {
    let (settings_drift, skus) = seed::reconcile(&state, q.repair, q.sku.as_deref()).await?;
    let drifting = skus
        .iter()
        .filter(|s| s.locations.iter().any(|l| l.drift != 0))
        .count();
    // A repair that returned has reseeded every drifting SKU: none is left drifting.
    let left = if q.repair { 0 } else { drifting };
    state
        .metrics
        .reconciled(left, time::OffsetDateTime::now_utc().unix_timestamp());
    let repinned = if q.repair {
        seed::repin_placed(&state).await?.repinned
    } else {
        0
    };
    Ok(Json(Reconcile {
        skus,
        drifting,
        settings_drift,
        repair: q.repair,
        repinned,
    })
    .into_response())
}

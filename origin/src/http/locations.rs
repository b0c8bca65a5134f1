//! Admin API for stock locations: their settings, a SKU's levels per location, and transfers
//! between locations (see [`crate::domain::locations`] and [`crate::domain::transfer`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::origin::{
    CreateTransfer, LocationKind, LocationView, Locations, PutLocation, RedisApply, SkuLocations,
    Transfer,
};
use edgestock_api::{ApiError, ErrorCode};
use edgestock_core::domain::Location;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{parse_sku, redis_label, MAX_UNITS};
use super::error::{Error, Result};
use super::orders::parse_json;
use crate::domain::locations::{self, LocationRow, LocationSpec};
use crate::domain::transfer::{self, TransferSpec, Transferred};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_location, get_location))
        .routes(routes!(list_locations))
        .routes(routes!(sku_locations))
        .routes(routes!(create_transfer))
}

/// 422 `invalid_location` naming `field`, or the parsed code.
pub(super) fn parse_location(s: &str, field: &str) -> Result<Location> {
    Location::parse(s).map_err(|e| {
        Error::Api(
            ApiError::new(ErrorCode::InvalidLocation, format!("{field}: {e}"))
                .with(|d| d.field = Some(field.to_owned())),
        )
    })
}

/// 422 `invalid_body` naming `field`.
fn invalid_field(field: &str, message: &str) -> Error {
    Error::Api(
        ApiError::new(ErrorCode::InvalidBody, message).with(|d| d.field = Some(field.to_owned())),
    )
}

fn view(r: LocationRow) -> LocationView {
    LocationView {
        kind: if r.kind == "store" {
            LocationKind::Store
        } else {
            LocationKind::Warehouse
        },
        code: r.code,
        name: r.name,
        priority: r.priority,
        active: r.active,
        ships: r.ships,
        pickup: r.pickup,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Creates or updates a location; its settings reach Redis before the answer (a change applies
/// to every reserve that starts after it).
#[utoipa::path(put, path = "/v1/admin/locations/{code}", tag = "admin",
    params(("code" = String, Path)), security(("adminApiKey" = [])),
    request_body = edgestock_api::origin::PutLocation,
    responses(
        (status = 201, description = "Created", body = edgestock_api::origin::LocationView),
        (status = 200, description = "Updated", body = edgestock_api::origin::LocationView),
        (status = 400, description = "`bad_request`", body = edgestock_api::ErrorBody),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_location`, `invalid_body` (also a 65th location)", body = edgestock_api::ErrorBody),
        (status = 503, description = "`unavailable`: saved in Postgres, not yet in Redis (the next PUT, seed or reconcile writes it)", body = edgestock_api::ErrorBody)))]
async fn put_location(
    State(state): State<AppState>,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let code = parse_location(&code, "code")?;
    let req: PutLocation = parse_json(&body)?;
    if req.name.trim().is_empty() || req.name.len() > 200 || req.name.chars().any(char::is_control)
    {
        return Err(invalid_field(
            "name",
            "name must be 1..=200 bytes without control characters",
        ));
    }
    let spec = LocationSpec {
        name: req.name,
        kind: match req.kind {
            LocationKind::Warehouse => "warehouse",
            LocationKind::Store => "store",
        },
        priority: req.priority,
        active: req.active,
        ships: req.ships,
        pickup: req.pickup,
    };
    let (created, row) = locations::put(&state, &code, &spec).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(row))).into_response())
}

/// One location.
#[utoipa::path(get, path = "/v1/admin/locations/{code}", tag = "admin",
    params(("code" = String, Path)), security(("adminApiKey" = [])),
    responses(
        (status = 200, description = "The location", body = edgestock_api::origin::LocationView),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_location`", body = edgestock_api::ErrorBody)))]
async fn get_location(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response> {
    let code = parse_location(&code, "code")?;
    match locations::get(&state.db, code.as_str()).await? {
        Some(row) => Ok(Json(view(row)).into_response()),
        None => Err(Error::NotFound("unknown location")),
    }
}

/// Every location, by priority, then code in byte order.
#[utoipa::path(get, path = "/v1/admin/locations", tag = "admin", security(("adminApiKey" = [])),
    responses(
        (status = 200, description = "The locations", body = edgestock_api::origin::Locations),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody)))]
async fn list_locations(State(state): State<AppState>) -> Result<Response> {
    let rows = locations::list(&state.db).await?;
    Ok(Json(Locations {
        locations: rows.into_iter().map(view).collect(),
    })
    .into_response())
}

/// A SKU's levels at each location: on-hand per the ledger, held and available per Redis,
/// committed (placed, unpaid orders) per Postgres.
#[utoipa::path(get, path = "/v1/admin/skus/{sku}/locations", tag = "admin",
    params(("sku" = String, Path)), security(("adminApiKey" = [])),
    responses(
        (status = 200, description = "The levels", body = edgestock_api::origin::SkuLocations),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_sku`", body = edgestock_api::ErrorBody),
        (status = 503, description = "`unavailable` (Redis)", body = edgestock_api::ErrorBody)))]
async fn sku_locations(State(state): State<AppState>, Path(sku): Path<String>) -> Result<Response> {
    let sku = parse_sku(&sku)?;
    let levels = locations::sku_levels(&state, &sku).await?;
    Ok(Json(SkuLocations {
        sku: sku.to_string(),
        locations: levels,
    })
    .into_response())
}

/// Moves units of a SKU from one location to another, exactly once by `movement_id` (201, then
/// 200 for a replay).
#[utoipa::path(post, path = "/v1/admin/skus/{sku}/transfers", tag = "admin",
    params(("sku" = String, Path)), security(("adminApiKey" = [])),
    request_body = edgestock_api::origin::CreateTransfer,
    responses(
        (status = 201, description = "Moved (or left to the outbox: `redis: pending`)", body = edgestock_api::origin::Transfer),
        (status = 200, description = "Replay of the same transfer", body = edgestock_api::origin::Transfer),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found` (unknown SKU)", body = edgestock_api::ErrorBody),
        (status = 409, description = "`insufficient_stock` at `from` (with `sku`, `available`, `location`)", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_body` (with `field`), `invalid_location`, `unknown_location`, `invalid_sku`, `movement_id_reused`", body = edgestock_api::ErrorBody)))]
async fn create_transfer(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let sku = parse_sku(&sku)?;
    let req: CreateTransfer = parse_json(&body)?;
    let from = parse_location(&req.from, "from")?;
    let to = parse_location(&req.to, "to")?;
    if from == to {
        return Err(invalid_field(
            "to",
            "from and to must be two different locations",
        ));
    }
    if !(1..=MAX_UNITS).contains(&req.qty) {
        return Err(invalid_field("qty", "qty must be in 1..=1e9"));
    }
    let mid_ok = !req.movement_id.is_empty()
        && req.movement_id.len() <= 120
        && req
            .movement_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !mid_ok {
        return Err(invalid_field(
            "movement_id",
            "movement_id must match [A-Za-z0-9._:-]{1,120}",
        ));
    }
    let spec = TransferSpec {
        from,
        to,
        qty: u32::try_from(req.qty).map_err(|_| invalid_field("qty", "qty too large"))?,
        movement_id: req.movement_id,
    };
    let (status, replay, redis) = match transfer::transfer(&state, &sku, &spec).await? {
        Transferred::Created(r) => (StatusCode::CREATED, false, redis_label(r)),
        Transferred::Replayed => (StatusCode::OK, true, RedisApply::SeeReconcile),
    };
    let body = Transfer {
        sku: sku.to_string(),
        movement_id: spec.movement_id,
        from: spec.from.to_string(),
        to: spec.to.to_string(),
        qty: req.qty,
        replay,
        redis,
    };
    Ok((status, Json(body)).into_response())
}

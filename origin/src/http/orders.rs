//! The order lifecycle over HTTP (`docs/design.md`).
//!
//! Backend routes (`Authorization: Bearer <ORIGIN_API_KEY>` only): `POST /v1/orders` (confirm),
//! `GET /v1/orders/{id}`, `POST /v1/orders/{id}/cancel`. Edge routes (the edge's HMAC signature
//! only, never the backend key): `POST /v1/reservations/{id}/place`,
//! `POST /v1/reservations/{id}/release`, `POST /v1/reservations/{id}/order`. Neither credential
//! opens the other's routes: a shopper's browser can never confirm, nor cancel a placed order.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::origin::{self as api, CancelOrder, CreateOrder};
use edgestock_api::ErrorCode;
use time::format_description::well_known::Rfc3339;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{Error, Result};
use crate::domain::cancel;
use crate::domain::confirm::{self, ConfirmRequest, Confirmed};
use crate::domain::lifecycle::OrderStatus;
use crate::domain::orders;
use crate::domain::place::{self, Placed};
use crate::state::AppState;

/// The backend's routes.
pub(crate) fn backend_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
}

/// The routes the edge forwards a shopper's calls to.
pub(crate) fn edge_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order))
        .routes(routes!(release_reservation))
        .routes(routes!(reservation_order))
}

fn status(s: OrderStatus) -> api::OrderStatus {
    match s {
        OrderStatus::PendingPayment => api::OrderStatus::PendingPayment,
        OrderStatus::Confirmed => api::OrderStatus::Confirmed,
        OrderStatus::Cancelled => api::OrderStatus::Cancelled,
        OrderStatus::Expired => api::OrderStatus::Expired,
        OrderStatus::NeedsAttention => api::OrderStatus::NeedsAttention,
    }
}

/// The order's lines: its allocated parts grouped by SKU in line order, `qty` the SKU's total.
fn items(o: &orders::Order) -> Vec<api::OrderItem> {
    let mut out: Vec<api::OrderItem> = Vec::new();
    for part in &o.items {
        let allocation = api::Allocation {
            location: part.location.clone(),
            qty: u32::try_from(part.qty).unwrap_or(0),
        };
        match out.iter_mut().find(|i| i.sku == part.sku) {
            Some(line) => {
                line.qty = line.qty.saturating_add(part.qty);
                line.allocation.push(allocation);
            }
            None => out.push(api::OrderItem {
                sku: part.sku.clone(),
                qty: part.qty,
                allocation: vec![allocation],
            }),
        }
    }
    out
}

/// The wire form of an order (backend).
fn wire(o: orders::Order) -> api::Order {
    api::Order {
        order_id: o.order_id,
        status: status(o.status),
        items: items(&o),
        reservation_id: o.reservation_id,
        customer_ref: o.customer_ref,
        payment_ref: o.payment_ref,
        created_at: o.created_at,
        payment_deadline: o.payment_deadline,
        confirmed_at: o.confirmed_at,
        late: o.late,
        commit_applied: o.commit_applied,
    }
}

/// The shopper's view of an order (edge).
fn placed(o: orders::Order) -> api::PlacedOrder {
    let deadline = o.payment_deadline;
    api::PlacedOrder {
        order_id: o.order_id,
        status: status(o.status),
        items: items(&o),
        reservation_id: o.reservation_id,
        payment_deadline: deadline.and_then(|d| d.format(&Rfc3339).ok()),
        payment_deadline_ms: deadline.map(|d| (d.unix_timestamp_nanos() / 1_000_000) as i64),
    }
}

/// Parses a JSON body into `T` with the API's error shape.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            Error::unprocessable(ErrorCode::InvalidBody, e.to_string())
        }
        _ => Error::BadRequest(format!("malformed JSON: {e}")),
    })
}

/// An optional JSON body: empty means `T::default()`.
fn parse_optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(body)
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// A reference field: at most 256 bytes, at least 1 when required, no control characters (a
/// NUL would make Postgres fail, and none belongs in a reference).
fn reference(name: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            format!("{name} must be 1-256 characters without control characters"),
        ));
    }
    Ok(())
}

/// Confirms a payment: a placed order (or a still-held reservation) becomes `CONFIRMED`.
#[utoipa::path(post, path = "/v1/orders", tag = "orders",
    security(("originApiKey" = [])),
    request_body = edgestock_api::origin::CreateOrder,
    responses(
        (status = 201, description = "Confirmed by this call (`late: true` past the deadline)", body = edgestock_api::origin::Order),
        (status = 200, description = "Confirmed before with the same `payment_ref` (or a `NEEDS_ATTENTION` order, when its commit is still short)", body = edgestock_api::origin::Order),
        (status = 400, description = "`bad_request`", body = edgestock_api::ErrorBody),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 409, description = "`already_confirmed`, `payment_ref_in_use`, `insufficient_stock` (a late confirm: refund), `illegal_transition` (cancelled), `reservation_committed`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_body`, `unknown_sku`", body = edgestock_api::ErrorBody),
        (status = 503, description = "`unavailable`", body = edgestock_api::ErrorBody)))]
async fn create_order(State(state): State<AppState>, body: Bytes) -> Result<Response> {
    let req: CreateOrder = parse_json(&body)?;
    if !valid_id(&req.reservation_id) {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "reservation_id is malformed",
        ));
    }
    reference("payment_ref", &req.payment_ref)?;
    if let Some(c) = &req.customer_ref {
        reference("customer_ref", c)?;
    }
    let req = ConfirmRequest {
        reservation_id: req.reservation_id,
        payment_ref: req.payment_ref,
        customer_ref: req.customer_ref,
    };
    Ok(match confirm::confirm(&state, &req).await? {
        Confirmed::Created(o) => (StatusCode::CREATED, Json(wire(o))),
        Confirmed::Existing(o) => (StatusCode::OK, Json(wire(o))),
    }
    .into_response())
}

fn order_id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| Error::NotFound("unknown order"))
}

/// The order with its items and status.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path)), security(("originApiKey" = [])),
    responses(
        (status = 200, description = "The order", body = edgestock_api::origin::Order),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody)))]
async fn get_order(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let order = orders::by_id(&state.db, order_id(&id)?)
        .await?
        .ok_or(Error::NotFound("unknown order"))?;
    Ok(Json(wire(order)).into_response())
}

/// Cancels an order (backend). A placed one releases its hold; a confirmed one needs
/// `restock`; a `NEEDS_ATTENTION` one is closed as refunded. Idempotent.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = String, Path)), security(("originApiKey" = [])),
    request_body = edgestock_api::origin::CancelOrder,
    responses(
        (status = 200, description = "Cancelled", body = edgestock_api::origin::Order),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 409, description = "`illegal_transition` (an expired order)", body = edgestock_api::ErrorBody),
        (status = 422, description = "`restock_required`, `invalid_body`", body = edgestock_api::ErrorBody)))]
async fn cancel_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let b: CancelOrder = parse_optional_json(&body)?;
    let order = cancel::cancel_order(&state, order_id(&id)?, b.restock).await?;
    Ok(Json(wire(order)).into_response())
}

/// Places the order of a held reservation (edge-forwarded): `PENDING_PAYMENT` until its
/// payment deadline, fixed now. Placing again answers the same order.
#[utoipa::path(post, path = "/v1/reservations/{id}/place", tag = "edge",
    params(("id" = String, Path)), security(("edgeSignature" = [])),
    responses(
        (status = 201, description = "Placed", body = edgestock_api::origin::PlacedOrder),
        (status = 200, description = "Placed before (in its current status)", body = edgestock_api::origin::PlacedOrder),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 409, description = "`reservation_expired`, `reservation_committed`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_body`, `unknown_sku`", body = edgestock_api::ErrorBody),
        (status = 503, description = "`unavailable`", body = edgestock_api::ErrorBody)))]
async fn place_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    if !valid_id(&id) {
        return Err(Error::NotFound("unknown reservation"));
    }
    let _: edgestock_api::edge::ConfirmRequest = parse_optional_json(&body)?;
    Ok(match place::place(&state, &id).await? {
        Placed::Created(o) => (StatusCode::CREATED, Json(placed(o))),
        Placed::Existing(o) => (StatusCode::OK, Json(placed(o))),
    }
    .into_response())
}

/// Releases a `held` reservation for its shopper (edge-forwarded). A placed or confirmed order
/// is refused: the merchant cancels those.
#[utoipa::path(post, path = "/v1/reservations/{id}/release", tag = "edge",
    params(("id" = String, Path)), security(("edgeSignature" = [])),
    responses(
        (status = 200, description = "Released (or already over)", body = edgestock_api::origin::ReservationCancelled),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 409, description = "`order_placed`, `order_confirmed`, `reservation_committed`", body = edgestock_api::ErrorBody)))]
async fn release_reservation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    if !valid_id(&id) {
        return Err(Error::NotFound("unknown reservation"));
    }
    let r = cancel::release_reservation(&state, &id).await?;
    Ok(Json(api::ReservationCancelled {
        reservation_id: r.reservation_id,
        status: r.status,
    })
    .into_response())
}

/// The order of a reservation, as its shopper sees it (edge-forwarded, for polling; a signed
/// `POST` like every call the edge makes, with an empty body).
#[utoipa::path(post, path = "/v1/reservations/{id}/order", tag = "edge",
    params(("id" = String, Path)), security(("edgeSignature" = [])),
    responses(
        (status = 200, description = "Its order", body = edgestock_api::origin::PlacedOrder),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`: no order (yet)", body = edgestock_api::ErrorBody)))]
async fn reservation_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    if !valid_id(&id) {
        return Err(Error::NotFound("unknown reservation"));
    }
    let o = orders::by_reservation(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("no order for this reservation"))?;
    Ok(Json(placed(o)).into_response())
}

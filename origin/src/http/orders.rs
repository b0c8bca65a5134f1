//! `POST /v1/orders`, `GET /v1/orders/{id}`, `POST /v1/orders/{id}/cancel` and
//! `POST /v1/reservations/{id}/cancel` (`docs/design.md`): backend key or edge signature.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::origin::{self as api, CreateOrder};
use edgestock_api::ErrorCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{Error, Result};
use crate::domain::cancel::{self, Cancelled};
use crate::domain::confirm::{self, ConfirmRequest, Confirmed};
use crate::domain::lifecycle::OrderStatus;
use crate::domain::orders;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(cancel_reservation))
}

/// The wire form of an order.
fn wire(o: orders::Order) -> api::Order {
    api::Order {
        order_id: o.order_id,
        reservation_id: o.reservation_id,
        status: match o.status {
            OrderStatus::Pending => api::OrderStatus::Pending,
            OrderStatus::Confirmed => api::OrderStatus::Confirmed,
            OrderStatus::Cancelled => api::OrderStatus::Cancelled,
            OrderStatus::NeedsAttention => api::OrderStatus::NeedsAttention,
        },
        customer_ref: o.customer_ref,
        payment_ref: o.payment_ref,
        items: o
            .items
            .into_iter()
            .map(|i| api::OrderItem {
                sku: i.sku,
                qty: i.qty,
            })
            .collect(),
        created_at: o.created_at,
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

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn short_text(name: &str, v: Option<String>) -> Result<Option<String>> {
    match v {
        Some(s) if s.len() > 256 => Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            format!("{name} is longer than 256 bytes"),
        )),
        v => Ok(v),
    }
}

/// Confirms a held reservation into an order (201; 200 with the same order on a retry; 202
/// when recorded but Redis could not be updated yet, which the outbox finishes).
#[utoipa::path(post, path = "/v1/orders", tag = "orders",
    params(("Idempotency-Key" = Option<String>, Header)),
    security(("originApiKey" = []), ("edgeSignature" = [])),
    request_body = edgestock_api::origin::CreateOrder,
    responses(
        (status = 201, description = "Order created and applied in Redis", body = edgestock_api::origin::Order),
        (status = 200, description = "The order an earlier confirm created", body = edgestock_api::origin::Order),
        (status = 202, description = "Recorded as `PENDING`; the outbox finishes it", body = edgestock_api::origin::Order),
        (status = 400, description = "`bad_request`", body = edgestock_api::ErrorBody),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 409, description = "`reservation_expired`, `reservation_committed`", body = edgestock_api::ErrorBody),
        (status = 422, description = "`invalid_body`, `idempotency_key_mismatch`", body = edgestock_api::ErrorBody),
        (status = 503, description = "`unavailable`", body = edgestock_api::ErrorBody)))]
async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let req: CreateOrder = parse_json(&body)?;
    if !valid_id(&req.reservation_id) {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "reservation_id is malformed",
        ));
    }
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 255 => Some(k.to_owned()),
            _ => {
                return Err(Error::BadRequest(
                    "Idempotency-Key must be 1..=255 visible ASCII characters".into(),
                ))
            }
        },
    };
    let req = ConfirmRequest {
        reservation_id: req.reservation_id,
        customer_ref: short_text("customer_ref", req.customer_ref)?,
        payment_ref: short_text("payment_ref", req.payment_ref)?,
        idempotency_key,
    };
    Ok(match confirm::confirm(&state, &req).await? {
        Confirmed::Created(o) if o.status == OrderStatus::Pending => {
            (StatusCode::ACCEPTED, Json(wire(o)))
        }
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

/// Cancels an order; its units go back through the ledger. Idempotent.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = String, Path)), security(("originApiKey" = []), ("edgeSignature" = [])),
    responses(
        (status = 200, description = "Cancelled", body = edgestock_api::origin::Order),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody)))]
async fn cancel_order(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let order = cancel::cancel_order(&state, order_id(&id)?).await?;
    Ok(Json(wire(order)).into_response())
}

/// Cancels a reservation (edge-forwarded): releases its hold, or cancels its order if it has one.
#[utoipa::path(post, path = "/v1/reservations/{id}/cancel", tag = "orders",
    params(("id" = String, Path)), security(("originApiKey" = []), ("edgeSignature" = [])),
    responses(
        (status = 200, description = "Cancelled order or released hold", body = edgestock_api::origin::CancelResult),
        (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
        (status = 404, description = "`not_found`", body = edgestock_api::ErrorBody),
        (status = 409, description = "`reservation_committed`", body = edgestock_api::ErrorBody)))]
async fn cancel_reservation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    if !valid_id(&id) {
        return Err(Error::NotFound("unknown reservation"));
    }
    let out = match cancel::cancel_reservation(&state, &id).await? {
        Cancelled::Order(o) => api::CancelResult::Order(wire(o)),
        Cancelled::Reservation {
            reservation_id,
            status,
        } => api::CancelResult::Reservation(api::ReservationCancelled {
            reservation_id,
            status,
        }),
    };
    Ok(Json(out).into_response())
}

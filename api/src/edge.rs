//! Bodies of the public edge API (the Cloudflare Worker), as browsers see them.
//!
//! Times are RFC 3339 UTC strings with an `*_ms` epoch-milliseconds twin where a browser counts
//! down. Request bodies reject unknown fields; the end-to-end contract test checks that every
//! response body is exactly its typed form (nothing missing, nothing extra).

use serde::{Deserialize, Serialize};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// `edgestock-edge`.
    pub service: String,
    /// The crate version.
    pub version: String,
}

/// A SKU's badge: `GET /v1/stock/{sku}`, and each item of a batch read.
///
/// `available` is present only at or below the low-stock threshold, unless the deployment
/// exposes exact counts. A batch read answers a never-stocked SKU as `{sku, status: "unknown"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stock {
    /// The SKU.
    pub sku: String,
    /// The badge.
    pub status: StockStatus,
    /// Threshold at or below which the badge is `low_stock` (absent for `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_stock_threshold: Option<i64>,
    /// Exact units available (see above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// With `?locations=true` (single read only): the active pickup locations, each with its own
    /// badge under the SKU's threshold ("available at Store 12").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<LocationStock>>,
}

/// One pickup location's badge for a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationStock {
    /// The location code (pass it as `pickup_location` to reserve there).
    pub location: String,
    /// Its display name.
    pub name: String,
    /// The badge there.
    pub status: StockStatus,
    /// Exact units there, under the same rule as the SKU's `available`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
}

/// A badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StockStatus {
    /// More than the threshold.
    InStock,
    /// At or below the threshold, above zero.
    LowStock,
    /// Nothing available.
    SoldOut,
    /// Never stocked (batch reads only; a single read answers 404 `unknown_sku`).
    Unknown,
}

/// `GET /v1/stock?sku=a&sku=b…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StockList {
    /// One badge per requested SKU, in request order.
    pub items: Vec<Stock>,
}

/// One line of a reserve request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReservationItem {
    /// The SKU.
    pub sku: String,
    /// Units, 1 to `MAX_QTY_PER_ITEM` (out of bounds is 422 `invalid_quantity`).
    pub qty: i64,
}

/// Units of a line held at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allocation {
    /// The location code.
    pub location: String,
    /// Units there.
    pub qty: u32,
}

/// One line of a reservation or an order, with where its units are held: the same shape in the
/// 201 of a reserve, `GET /v1/reservations/{id}` and the origin's orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AllocatedItem {
    /// The SKU.
    pub sku: String,
    /// Units of the line (the sum of its allocation).
    pub qty: u32,
    /// Where they are held, in allocation order (priority, or the pickup location).
    pub allocation: Vec<Allocation>,
}

/// `POST /v1/reservations` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// 1 to `MAX_ITEMS` lines, each SKU once.
    pub items: Vec<ReservationItem>,
    /// Take every line from this location, which must offer pickup (absent: ship, allocating
    /// each line over the shipping locations by priority).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup_location: Option<String>,
    /// The storefront's cart id (rate-limited per cart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<String>,
    /// Hold lifetime, default `DEFAULT_HOLD_SECONDS`, 1 to `MAX_HOLD_SECONDS` (out of bounds is
    /// 422 `invalid_ttl`, so any integer parses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<i64>,
}

/// A reservation's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Units held until `expires_at`.
    Held,
    /// Pinned by a confirm in progress.
    Confirming,
    /// Confirmed into an order.
    Committed,
    /// Given back by the shopper or a cancel.
    Released,
    /// Expired.
    Expired,
}

/// 201 (200 on an idempotent replay) of `POST /v1/reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reservation {
    /// Reservation id.
    pub reservation_id: String,
    /// Bearer token for the reservation's routes.
    pub token: String,
    /// `held`.
    pub status: ReservationStatus,
    /// The lines held, each with its allocation.
    pub items: Vec<AllocatedItem>,
    /// Creation time.
    pub created_at: String,
    /// Its epoch-ms twin.
    pub created_at_ms: i64,
    /// Expiry.
    pub expires_at: String,
    /// Its epoch-ms twin.
    pub expires_at_ms: i64,
    /// The hold lifetime granted.
    pub ttl_seconds: u32,
}

/// `GET /v1/reservations/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReservationView {
    /// Reservation id.
    pub reservation_id: String,
    /// Status (a held reservation past its expiry reads `expired`).
    pub status: ReservationStatus,
    /// The lines, each with its allocation.
    pub items: Vec<AllocatedItem>,
    /// Creation time.
    pub created_at: String,
    /// Its epoch-ms twin.
    pub created_at_ms: i64,
    /// Expiry.
    pub expires_at: String,
    /// Its epoch-ms twin.
    pub expires_at_ms: i64,
    /// The latest expiry extensions can reach.
    pub max_expires_at: String,
    /// Its epoch-ms twin.
    pub max_expires_at_ms: i64,
    /// Its order, once placed (absent before), so the browser can poll for `CONFIRMED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderSummary>,
}

/// A placed reservation's order, as `GET /v1/reservations/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderSummary {
    /// Order id.
    pub order_id: String,
    /// `PENDING_PAYMENT`, `CONFIRMED`, `CANCELLED`, `EXPIRED` or `NEEDS_ATTENTION`.
    pub status: crate::origin::OrderStatus,
    /// The payment deadline (`null` for an order confirmed straight from the hold).
    pub payment_deadline: Option<String>,
    /// Its epoch-ms twin.
    pub payment_deadline_ms: Option<i64>,
}

/// `POST /v1/reservations/{id}/extend` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Seconds added to the current expiry, 1 to `MAX_HOLD_SECONDS` (capped at creation +
    /// `MAX_HOLD_SECONDS`).
    pub seconds: i64,
}

/// 200 of `POST /v1/reservations/{id}/extend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Extension {
    /// Reservation id.
    pub reservation_id: String,
    /// `held`.
    pub status: ReservationStatus,
    /// New expiry.
    pub expires_at: String,
    /// Its epoch-ms twin.
    pub expires_at_ms: i64,
    /// The latest expiry extensions can reach.
    pub max_expires_at: String,
    /// Its epoch-ms twin.
    pub max_expires_at_ms: i64,
}

/// 200 of `DELETE /v1/reservations/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    /// Reservation id.
    pub reservation_id: String,
    /// `released` or `expired`.
    pub status: ReservationStatus,
    /// False when it had already ended (the call is idempotent).
    pub released: bool,
}

/// `POST /v1/reservations/{id}/confirm` body (optional), forwarded to the origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {}

/// `POST /v1/reservations/{id}/cancel` body (optional), forwarded to the origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why (free text, kept in logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_badge_hides_available_unless_given_and_unknown_has_no_threshold() {
        let s = Stock {
            sku: "A".into(),
            status: StockStatus::InStock,
            low_stock_threshold: Some(5),
            available: None,
            locations: None,
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"sku": "A", "status": "in_stock", "low_stock_threshold": 5})
        );
        let u = Stock {
            sku: "B".into(),
            status: StockStatus::Unknown,
            low_stock_threshold: None,
            available: None,
            locations: None,
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"sku": "B", "status": "unknown"})
        );
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let ok: ReserveRequest =
            serde_json::from_value(json!({"items": [{"sku": "A", "qty": 1}], "ttl_seconds": 60}))
                .unwrap();
        assert_eq!(ok.items[0].qty, 1);
        assert!(serde_json::from_value::<ReserveRequest>(json!({"items": [], "x": 1})).is_err());
        assert!(serde_json::from_value::<ExtendRequest>(json!({"seconds": 1, "y": 2})).is_err());
    }

    #[test]
    fn a_reservation_round_trips_with_the_documented_field_names() {
        let v = json!({
            "reservation_id": "r1", "token": "t", "status": "held",
            "items": [{"sku": "A", "qty": 2, "allocation": [{"location": "wh-1", "qty": 1}, {"location": "default", "qty": 1}]}],
            "created_at": "2026-01-01T00:00:00.000Z", "created_at_ms": 0,
            "expires_at": "2026-01-01T00:10:00.000Z", "expires_at_ms": 600000,
            "ttl_seconds": 600
        });
        let r: Reservation = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }
}

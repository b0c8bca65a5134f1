//! Bodies of the backend-facing origin API (orders, admin, events, operations).
//!
//! Order times are RFC 3339 UTC. Request bodies reject unknown fields; the end-to-end contract
//! test checks that every response body is exactly its typed form.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

mod locations;

pub use locations::*;

/// `GET /healthz` of the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /readyz`: 200 when both are reachable, 503 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// Postgres answered.
    pub postgres: bool,
    /// Redis (through its REST endpoint) answered.
    pub redis: bool,
}

/// `POST /v1/orders` body: the checkout backend confirms a payment for a placed order (or a
/// still-held reservation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// The reservation (its order placed by the shopper, or still held).
    pub reservation_id: String,
    /// The payment provider's reference: 1-256 characters, no control characters. It confirms
    /// one order only; confirming again with it answers the same order.
    pub payment_ref: String,
    /// The storefront's customer reference (at most 256 characters, no control characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
}

/// `POST /v1/orders/{id}/cancel` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    /// Required for a `CONFIRMED` order: `true` puts the units back on sale (a `cancellation`
    /// movement), `false` writes none (the goods left; a later return is an adjustment).
    /// Ignored for other statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restock: Option<bool>,
}

/// An order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed by the shopper; its units are held until `payment_deadline`.
    PendingPayment,
    /// Confirmed by the backend; the units are sold (`commit_applied` says whether Redis took
    /// the commit yet; the outbox finishes it either way).
    Confirmed,
    /// Cancelled by the backend.
    Cancelled,
    /// Not paid by its deadline; its units went back on sale.
    Expired,
    /// The commit found no units: an operator decides (never silently oversold).
    NeedsAttention,
}

/// The units of an order line taken at one location: the edge's type, so both APIs (and their
/// OpenAPI documents) have one `Allocation`.
pub use crate::edge::Allocation;

/// One order line: a SKU, its total units and where they were allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderItem {
    /// The SKU.
    pub sku: String,
    /// Units: the sum of the allocation.
    pub qty: i32,
    /// Where the units come from, in allocation order (one part per location; an order placed
    /// before locations existed shows one part at `default`).
    #[serde(default)]
    pub allocation: Vec<Allocation>,
}

/// An order: `POST /v1/orders`, `GET /v1/orders/{id}`, a cancel's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// Order id.
    pub order_id: Uuid,
    /// Its reservation.
    pub reservation_id: String,
    /// Status.
    pub status: OrderStatus,
    /// The backend's customer reference (`null` when none).
    pub customer_ref: Option<String>,
    /// The payment reference it was confirmed with (`null` before).
    pub payment_ref: Option<String>,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Creation time (placed, or confirmed straight from a hold).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// The payment deadline fixed when it was placed (`null` for an order confirmed straight
    /// from a hold).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub payment_deadline: Option<OffsetDateTime>,
    /// When the backend confirmed it (`null` before).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub confirmed_at: Option<OffsetDateTime>,
    /// Confirmed after its payment deadline: the units came from what was available then.
    pub late: bool,
    /// Redis took the commit (`false`: the outbox applies it; the order is confirmed anyway).
    pub commit_applied: bool,
}

/// An order as its shopper sees it: 201 / 200 of the edge-signed
/// `POST /v1/reservations/{id}/place`, and `POST /v1/reservations/{id}/order`. No payment or
/// customer data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacedOrder {
    /// Order id.
    pub order_id: Uuid,
    /// Its reservation.
    pub reservation_id: String,
    /// Status.
    pub status: OrderStatus,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// The payment deadline, fixed when placed (`null` for an order the backend confirmed
    /// straight from the hold).
    pub payment_deadline: Option<String>,
    /// Its epoch-ms twin, for a countdown.
    pub payment_deadline_ms: Option<i64>,
}

/// A hold released by the edge-signed `POST /v1/reservations/{id}/release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReservationCancelled {
    /// The reservation.
    pub reservation_id: String,
    /// `released` or `expired`.
    pub status: String,
}

/// `PUT /v1/admin/skus/{sku}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutSku {
    /// Display name.
    pub name: String,
    /// Units on hand; on an existing SKU the difference is written as a ledger adjustment.
    pub on_hand: i64,
    /// Badge threshold.
    pub low_stock_threshold: i64,
    /// Reserving needs a verified customer (a drop that needs a login); absent: unchanged (false
    /// for a new SKU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_customer: Option<bool>,
}

/// Whether Redis took a change yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RedisApply {
    /// Applied in Redis by this call.
    #[serde(rename = "applied")]
    Applied,
    /// Left to the outbox worker (Redis unreachable or busy).
    #[serde(rename = "pending")]
    Pending,
    /// A replay whose Redis effect is unknown here: reconcile tells.
    #[serde(rename = "see reconcile")]
    SeeReconcile,
}

/// 200 / 201 of `PUT /v1/admin/skus/{sku}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkuView {
    /// The SKU.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Units on hand per the ledger.
    pub on_hand: i64,
    /// Badge threshold.
    pub low_stock_threshold: i64,
    /// Reserving needs a verified customer (the edge answers 401 `customer_required` without).
    pub require_customer: bool,
    /// The movement this call wrote (`null` when on-hand did not change).
    pub movement_id: Option<String>,
    /// Whether Redis took the change.
    pub redis: RedisApply,
}

/// `POST /v1/admin/skus/{sku}/adjustments` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAdjustment {
    /// Signed units (restock > 0, shrinkage < 0).
    pub delta: i64,
    /// `restock`, `return`, or any text (an adjustment).
    pub reason: String,
    /// Idempotency key of the movement.
    pub movement_id: String,
    /// The location whose stock changes (absent: `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A ledger movement's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MovementKind {
    /// First stock of a new SKU.
    Initial,
    /// Goods received.
    Restock,
    /// Customer return.
    Return,
    /// Correction, either sign.
    Adjustment,
    /// Units sold by an order.
    Sale,
    /// Units given back by a cancelled order.
    Cancellation,
    /// Units moved between two locations (one movement out, one in).
    Transfer,
}

/// 201 (200 on replay) of `POST /v1/admin/skus/{sku}/adjustments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Adjustment {
    /// The SKU.
    pub sku: String,
    /// Its movement id.
    pub movement_id: String,
    /// The location whose stock changed.
    pub location: String,
    /// Signed units.
    pub delta: i64,
    /// The movement kind derived from the reason.
    pub kind: MovementKind,
    /// The reason given.
    pub reason: String,
    /// True when this movement id was applied before.
    pub replay: bool,
    /// Whether Redis took it.
    pub redis: RedisApply,
}

/// `POST /v1/admin/seed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeedResult {
    /// SKUs loaded.
    pub seeded: usize,
    /// Each SKU's state after seeding.
    pub skus: Vec<SkuDrift>,
    /// Placed, unpaid orders whose holds Redis had lost, held again until their deadline.
    pub repinned: usize,
    /// Placed orders whose units were no longer available to hold again (their confirm will be
    /// late: it takes what is available then, or the backend refunds).
    pub repin_short: usize,
}

/// `GET /v1/admin/reconcile[?repair=true]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reconcile {
    /// Every SKU.
    pub skus: Vec<SkuDrift>,
    /// How many SKUs drift at any location.
    pub drifting: usize,
    /// Whether Redis's location settings differed from Postgres's (repaired with `repair`).
    #[serde(default)]
    pub settings_drift: bool,
    /// Whether drifting SKUs were reseeded.
    pub repair: bool,
    /// With `repair`: placed orders whose lost holds were pinned again.
    pub repinned: usize,
}

/// One audit-trail entry: a hold event copied from Redis, or a ledger movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// `hold` or `ledger`.
    pub source: String,
    /// Event type or movement kind.
    pub kind: String,
    /// The SKU.
    pub sku: String,
    /// Reservation id, for hold events.
    pub reservation_id: Option<String>,
    /// Order id, for sales and cancellations.
    pub order_id: Option<Uuid>,
    /// Movement id, for ledger entries.
    pub movement_id: Option<String>,
    /// The location: of a ledger entry, a hold event or a stock event (`null` for level events,
    /// which are about the SKU's shipping sum, and for events copied before locations).
    pub location: Option<String>,
    /// Units (signed for movements).
    pub qty: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
}

/// `GET /v1/events`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Events {
    /// The page.
    pub events: Vec<AuditEntry>,
    /// Cursor of the next (older) page; `null` at the end.
    pub next_before: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_order_keeps_null_refs_and_upper_case_status() {
        let v = json!({
            "order_id": "0190f0a2-0000-7000-8000-000000000001",
            "reservation_id": "r1", "status": "NEEDS_ATTENTION",
            "customer_ref": null, "payment_ref": null,
            "items": [{"sku": "A", "qty": 3, "allocation": [
                {"location": "default", "qty": 1}, {"location": "store-1", "qty": 2}]}],
            "created_at": "2026-01-01T00:00:00Z",
            "payment_deadline": null, "confirmed_at": "2026-01-01T00:10:00Z",
            "late": true, "commit_applied": false
        });
        let o: Order = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(o.status, OrderStatus::NeedsAttention);
        assert_eq!(serde_json::to_value(&o).unwrap(), v);
    }

    #[test]
    fn the_payment_step_spells_its_statuses_in_upper_snake_case() {
        assert_eq!(
            serde_json::to_value(OrderStatus::PendingPayment).unwrap(),
            json!("PENDING_PAYMENT")
        );
        assert_eq!(
            serde_json::to_value(OrderStatus::Expired).unwrap(),
            json!("EXPIRED")
        );
    }

    #[test]
    fn a_confirm_needs_a_payment_ref_and_takes_nothing_else_unknown() {
        assert!(serde_json::from_value::<CreateOrder>(json!({"reservation_id": "r"})).is_err());
        assert!(serde_json::from_value::<CreateOrder>(
            json!({"reservation_id": "r", "payment_ref": "p", "amount": 1})
        )
        .is_err());
    }

    #[test]
    fn redis_apply_spells_see_reconcile_with_a_space() {
        assert_eq!(
            serde_json::to_value(RedisApply::SeeReconcile).unwrap(),
            json!("see reconcile")
        );
    }
}

//! Bodies of the location routes of the admin API (`/v1/admin/locations`, a SKU's levels per
//! location, transfers) and the per-location drift of reconcile.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::RedisApply;

/// What a location is: a label only, nothing behaves differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LocationKind {
    /// A warehouse.
    Warehouse,
    /// A store.
    Store,
}

fn yes() -> bool {
    true
}

/// `PUT /v1/admin/locations/{code}` body: the whole settings of a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutLocation {
    /// Display name (1-200 bytes, no control characters).
    pub name: String,
    /// `warehouse` or `store` (a label).
    pub kind: LocationKind,
    /// Lower is allocated first by a shipping reserve (ties: code in byte order). Default 0.
    #[serde(default)]
    pub priority: i32,
    /// Reserves may take units there (default `true`). An inactive location keeps its stock.
    #[serde(default = "yes")]
    pub active: bool,
    /// Its units count toward shipping reserves and the SKU-wide numbers (default `true`).
    #[serde(default = "yes")]
    pub ships: bool,
    /// Shoppers may reserve there for pickup (default `false`).
    #[serde(default)]
    pub pickup: bool,
}

/// A location: 200 / 201 of `PUT /v1/admin/locations/{code}`, `GET /v1/admin/locations/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationView {
    /// The code (`^[A-Za-z0-9._:-]{1,64}$`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// `warehouse` or `store`.
    pub kind: LocationKind,
    /// Allocation priority (lower first).
    pub priority: i32,
    /// Reserves may take units there.
    pub active: bool,
    /// Counts toward shipping.
    pub ships: bool,
    /// Offers pickup.
    pub pickup: bool,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

/// `GET /v1/admin/locations`: every location, by priority then code (byte order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Locations {
    /// The locations (at most 64).
    pub locations: Vec<LocationView>,
}

/// One location's numbers for a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkuLocationLevel {
    /// The location.
    pub location: String,
    /// Units on hand there per the ledger.
    pub on_hand: i64,
    /// Units held there by live holds (Redis).
    pub held: i64,
    /// Units of placed, unpaid (`PENDING_PAYMENT`) orders there (Postgres).
    pub committed: i64,
    /// Units a reserve could take there now: Redis on-hand minus held.
    pub available: i64,
}

/// `GET /v1/admin/skus/{sku}/locations`: the SKU's levels at every location (by priority, then
/// code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkuLocations {
    /// The SKU.
    pub sku: String,
    /// One entry per location.
    pub locations: Vec<SkuLocationLevel>,
}

/// `POST /v1/admin/skus/{sku}/transfers` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    /// The location the units leave (it may be inactive).
    pub from: String,
    /// The location they arrive at (another one).
    pub to: String,
    /// Units (1..=1e9), at most what is available at `from`.
    pub qty: i64,
    /// Idempotency key (`[A-Za-z0-9._:-]{1,120}`); the ledger movements are
    /// `<movement_id>:from` and `<movement_id>:to`.
    pub movement_id: String,
}

/// 201 (200 on replay) of `POST /v1/admin/skus/{sku}/transfers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transfer {
    /// The SKU.
    pub sku: String,
    /// The transfer's movement id.
    pub movement_id: String,
    /// Where the units left.
    pub from: String,
    /// Where they arrived.
    pub to: String,
    /// Units moved.
    pub qty: i64,
    /// True when this movement id was applied before.
    pub replay: bool,
    /// Whether Redis took it.
    pub redis: RedisApply,
}

/// One (SKU, location)'s comparison of the ledger and Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationDrift {
    /// The location.
    pub location: String,
    /// Ledger on-hand there (all movements).
    pub ledger_on_hand: i64,
    /// What Redis should hold there now (movements already applied).
    pub expected_redis_on_hand: i64,
    /// Movements there still pending in the outbox.
    pub pending_movements: i64,
    /// Redis on-hand there (`null` when Redis has no counters for it).
    pub redis_on_hand: Option<i64>,
    /// Units held there by live holds in Redis.
    pub redis_reserved: i64,
    /// `redis_on_hand - expected_redis_on_hand` (missing: `-expected`).
    pub drift: i64,
    /// True when this call reseeded it.
    pub repaired: bool,
}

/// One SKU's comparison of the ledger and Redis. The top-level numbers are the `default`
/// location's (what they meant before locations existed); `locations` has every location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkuDrift {
    /// The SKU.
    pub sku: String,
    /// Ledger on-hand (all movements).
    pub ledger_on_hand: i64,
    /// What Redis should hold now (movements already applied).
    pub expected_redis_on_hand: i64,
    /// Movements still pending in the outbox.
    pub pending_movements: i64,
    /// Redis on-hand (`null` when Redis does not know the SKU).
    pub redis_on_hand: Option<i64>,
    /// Units held by live holds in Redis.
    pub redis_reserved: i64,
    /// `redis_on_hand - expected_redis_on_hand` (missing SKU: `-expected`).
    pub drift: i64,
    /// True when this call reseeded the SKU's `default` location.
    pub repaired: bool,
    /// Every location the ledger or Redis has for the SKU, `default` first.
    #[serde(default)]
    pub locations: Vec<LocationDrift>,
}

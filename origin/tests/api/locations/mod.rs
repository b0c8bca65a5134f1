//! Stock per location: the settings, the ledger per location, transfers, reconcile and the
//! migration of existing data to `default`.

mod crud;
mod ledger;
mod migration;
mod reconcile;
mod transfers;

use edgestock_core::domain::Sku;
use serde_json::{json, Value};

use crate::helpers::{TestApp, ADMIN_KEY};

/// `PUT /v1/admin/locations/{code}` with `body`.
pub(crate) async fn put_location(app: &TestApp, code: &str, body: &Value) -> (u16, Value) {
    app.put(&format!("/v1/admin/locations/{code}"), ADMIN_KEY, body)
        .await
}

/// Creates shipping warehouse `code` with `priority`.
pub(crate) async fn warehouse(app: &TestApp, code: &str, priority: i32) {
    let (s, body) = put_location(
        app,
        code,
        &json!({"name": format!("Warehouse {code}"), "kind": "warehouse", "priority": priority}),
    )
    .await;
    assert!(s == 201 || s == 200, "{s} {body}");
}

/// Adjusts `sku` at `location` by `delta` (movement `movement_id`).
pub(crate) async fn adjust_at(
    app: &TestApp,
    sku: &str,
    location: &str,
    delta: i64,
    movement_id: &str,
) -> (u16, Value) {
    app.post(
        &format!("/v1/admin/skus/{sku}/adjustments"),
        ADMIN_KEY,
        &json!({"delta": delta, "reason": "restock", "movement_id": movement_id, "location": location}),
    )
    .await
}

/// Redis `(on_hand, reserved)` of `sku` at `location` (zeros when it has no counters there).
pub(crate) async fn level_at(app: &TestApp, sku: &str, location: &str) -> (i64, i64) {
    let all = app
        .state
        .redis
        .stock_by_location(&Sku::parse(sku).unwrap())
        .await
        .unwrap();
    all.iter()
        .find(|l| l.location.as_str() == location)
        .map_or((0, 0), |l| (l.on_hand, l.reserved))
}

/// Ledger on-hand of `sku` at `location`.
pub(crate) async fn ledger_at(app: &TestApp, sku: &str, location: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "select coalesce(sum(qty), 0)::int8 from stock_movements where sku = $1 and location = $2",
    )
    .bind(sku)
    .bind(location)
    .fetch_one(&app.state.db)
    .await
    .unwrap()
}

/// How many movements the ledger has.
pub(crate) async fn movements(app: &TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from stock_movements")
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// Holds `qty` of `sku` for shipping (or for pickup at `pickup`); returns the reservation id.
pub(crate) async fn reserve_for(
    app: &TestApp,
    sku: &str,
    qty: u32,
    pickup: Option<&str>,
) -> String {
    crate::helpers::reserve_at(&app.state.redis, sku, qty, pickup).await
}

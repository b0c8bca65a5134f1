//! The confirm protocol (DESIGN.md §7): pin → one Postgres transaction (order, items, sale
//! movements, outbox row) → commit script → outbox row done.
//!
//! Safe to retry: a second confirm of a reservation finds its order (fast path, or the unique
//! `reservation_id` constraint inside the transaction) and returns it. Safe to crash: before the
//! Postgres commit nothing is recorded and the pinned hold simply expires after its grace period;
//! after it, the outbox row is applied by the worker.

use edgestock_core::scripts::PinOutcome;
use serde_json::Map;
use uuid::Uuid;

use crate::fault::FaultPoint;
use crate::http::error::{Error, Result, ResultExt};
use crate::ledger;
use crate::orders::{self, NewOrder, Order, OrderItem};
use crate::outbox::{self, OrderPayload, OutboxKind, PayloadItem};
use crate::state::AppState;

/// A confirm request.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    /// The held reservation.
    pub reservation_id: String,
    /// Caller's customer reference.
    pub customer_ref: Option<String>,
    /// Caller's payment reference.
    pub payment_ref: Option<String>,
    /// `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
}

/// The result: a new order (201) or the one an earlier confirm wrote (200).
#[derive(Debug)]
pub enum Confirmed {
    /// Recorded by this call.
    Created(Order),
    /// Recorded before.
    Existing(Order),
}

fn check_key(order: &Order, key: Option<&str>) -> Result<()> {
    match (key, order.idempotency_key.as_deref()) {
        (Some(k), Some(stored)) if k != stored => Err(Error::unprocessable(
            "idempotency_key_mismatch",
            "this reservation was confirmed with another Idempotency-Key",
        )),
        _ => Ok(()),
    }
}

async fn existing(state: &AppState, req: &ConfirmRequest) -> Result<Option<Order>> {
    let order = orders::by_reservation(&state.db, &req.reservation_id).await?;
    if let Some(o) = &order {
        check_key(o, req.idempotency_key.as_deref())?;
        state.metrics.order("replayed");
    }
    Ok(order)
}

/// Runs the whole protocol.
///
/// # Errors
/// 404 unknown reservation, 409 `reservation_expired`, 422 reused idempotency key or unknown SKU,
/// 503 when Redis is unreachable before anything was recorded.
#[tracing::instrument(skip_all, fields(reservation = %req.reservation_id))]
pub async fn confirm(state: &AppState, req: &ConfirmRequest) -> Result<Confirmed> {
    if let Some(o) = existing(state, req).await? {
        return Ok(Confirmed::Existing(o));
    }
    let grace_ms = state.config.pin_grace.as_millis() as u64;
    let (pin, items) = state.redis.pin(&req.reservation_id, grace_ms).await?;
    match pin {
        PinOutcome::Pinned { .. } => state.metrics.reservation("pinned"),
        PinOutcome::NotFound => {
            state.metrics.reservation("not_found");
            return Err(Error::NotFound("unknown reservation"));
        }
        PinOutcome::Expired { status } => {
            state.metrics.reservation("expired");
            return Err(Error::Conflict {
                code: "reservation_expired",
                message: format!("the reservation is {status}"),
            });
        }
        PinOutcome::Committed => {
            // Another confirm recorded and applied it between our lookup and the pin.
            return match existing(state, req).await? {
                Some(o) => Ok(Confirmed::Existing(o)),
                None => Err(Error::Conflict {
                    code: "reservation_committed",
                    message: "the reservation was committed without an order here".into(),
                }),
            };
        }
    }
    if state.faults.hit(FaultPoint::AfterPin) {
        return Err(Error::FaultInjected);
    }
    let lines: Vec<OrderItem> = items
        .iter()
        .map(|i| OrderItem {
            sku: i.sku.as_str().to_owned(),
            qty: i32::try_from(i.qty).unwrap_or(i32::MAX),
        })
        .collect();
    let Some((order_id, outbox_id)) = record(state, req, &lines).await? else {
        return match existing(state, req).await? {
            Some(o) => Ok(Confirmed::Existing(o)),
            None => Err(Error::Anyhow(anyhow::anyhow!(
                "order vanished after a conflict"
            ))),
        };
    };
    state.metrics.order("created");
    if state.faults.hit(FaultPoint::AfterPgCommit) {
        return Err(Error::FaultInjected);
    }
    // Best effort: when Redis is down the row stays for the worker and the order stays PENDING.
    if let Err(e) = outbox::apply_one(state, outbox_id).await {
        tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
    }
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("order {order_id} not found after insert"))?;
    Ok(Confirmed::Created(order))
}

/// Step 2: one transaction inserting the outbox row, the order, its items and sale movements.
/// `None` when an order for the reservation already exists (nothing written).
async fn record(
    state: &AppState,
    req: &ConfirmRequest,
    lines: &[OrderItem],
) -> Result<Option<(Uuid, i64)>> {
    let order_id = Uuid::now_v7();
    let payload = OrderPayload {
        order_id,
        reservation_id: req.reservation_id.clone(),
        items: lines
            .iter()
            .map(|l| PayloadItem {
                sku: l.sku.clone(),
                qty: l.qty,
                movement_id: None,
            })
            .collect(),
    };
    let payload = serde_json::to_value(&payload).map_err(anyhow::Error::from)?;
    let mut tx = state.db.begin().await?;
    let outbox_id = outbox::insert(
        &mut tx,
        OutboxKind::Commit,
        &payload,
        state.config.outbox_grace,
    )
    .await?;
    let inserted = orders::insert(
        &mut tx,
        &NewOrder {
            id: order_id,
            reservation_id: &req.reservation_id,
            customer_ref: req.customer_ref.as_deref(),
            payment_ref: req.payment_ref.as_deref(),
            idempotency_key: req.idempotency_key.as_deref(),
            commit_outbox_id: outbox_id,
        },
    )
    .await
    .on_constraint("orders_idempotency_key_key", |_| {
        Error::unprocessable(
            "idempotency_key_mismatch",
            "this Idempotency-Key was used for another reservation",
        )
    })?;
    if !inserted {
        tx.rollback().await?;
        return Ok(None);
    }
    orders::insert_items(&mut tx, order_id, lines)
        .await
        .on_constraint("order_items_sku_fkey", |_| Error::Unprocessable {
            code: "unknown_sku",
            message: "a reserved SKU is not in the catalogue".into(),
            details: Map::new(),
        })?;
    ledger::append_sales(&mut tx, order_id, lines, outbox_id).await?;
    tx.commit().await?;
    Ok(Some((order_id, outbox_id)))
}

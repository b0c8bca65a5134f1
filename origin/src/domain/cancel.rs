//! Cancelling (backend) and releasing (shopper), under the reservation's lock like every other
//! transition. What a cancel does in Redis depends on the order's status and on `restock`: see
//! [`CancelPlan`] in [`super::lifecycle`].

use edgestock_core::scripts::ReleaseOutcome;
use uuid::Uuid;

use super::error::{Error, Result};
use super::ledger::{self, MovementKind, NewMovement};
use super::lifecycle::{self, CancelPlan, OrderEvent, OrderStatus};
use super::orders::{self, Order};
use super::outbox::{self, Effect, OrderPayload, PayloadItem};
use crate::fault::FaultPoint;
use crate::state::AppState;

/// Cancels order `id` (backend). `restock` is required for a confirmed order: `true` puts the
/// units back on sale (a `cancellation` movement), `false` writes none (the goods left).
/// Idempotent for a cancelled order.
///
/// # Errors
/// [`Error::UnknownOrder`], [`Error::RestockRequired`], [`Error::IllegalTransition`] (an expired
/// order); database failures.
#[tracing::instrument(skip(state))]
pub async fn cancel_order(state: &AppState, id: Uuid, restock: Option<bool>) -> Result<Order> {
    let order = orders::by_id(&state.db, id)
        .await?
        .ok_or(Error::UnknownOrder)?;
    let mut tx = state.db.begin().await?;
    lifecycle::lock_reservation(&mut tx, &order.reservation_id).await?;
    // Lock order: the reservation, then the commit's outbox row, then the order (the outbox
    // worker takes the row before the order too).
    let commit_done = match order.commit_outbox_id {
        Some(row) => {
            sqlx::query_scalar!(
                r#"select done_at is not null as "done!" from outbox where id = $1 for update"#,
                row
            )
            .fetch_one(&mut *tx)
            .await?
        }
        None => false,
    };
    let order = orders::by_id_in(&mut tx, id)
        .await?
        .ok_or(Error::UnknownOrder)?;
    let plan = CancelPlan::for_order(order.status, commit_done, restock)?;
    let lines: Vec<PayloadItem> = order
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| PayloadItem {
            sku: it.sku.clone(),
            qty: it.qty,
            location: it.location.clone(),
            movement_id: Some(format!("cancel:{id}:{}", i + 1)),
        })
        .collect();
    let payload = OrderPayload {
        order_id: id,
        reservation_id: order.reservation_id.clone(),
        items: lines.clone(),
    };
    // The outbox row to run now, and the one the cancellation movements link to (if any).
    let (run, movements_row) = match plan {
        CancelPlan::AlreadyCancelled => {
            tx.rollback().await?;
            return Ok(order);
        }
        CancelPlan::KeepSold => (None, None),
        CancelPlan::ReleaseHold => {
            let row = outbox::insert(
                &mut tx,
                &Effect::Release(payload),
                state.config.outbox_grace,
            )
            .await?;
            (Some(row), None)
        }
        CancelPlan::NothingInRedis => (None, order.commit_outbox_id),
        CancelPlan::RewriteCommit => {
            let row = order
                .commit_outbox_id
                .ok_or_else(|| anyhow::anyhow!("a confirmed order without its commit row"))?;
            outbox::rewrite_as_release(&mut tx, row, payload).await?;
            (Some(row), Some(row))
        }
        CancelPlan::Restock => {
            let row = outbox::insert(
                &mut tx,
                &Effect::Restock(payload),
                state.config.outbox_grace,
            )
            .await?;
            (Some(row), Some(row))
        }
    };
    if let Some(row) = movements_row {
        for line in &lines {
            ledger::append(
                &mut tx,
                &NewMovement {
                    movement_id: line.movement_id.as_deref().unwrap_or_default(),
                    sku: &line.sku,
                    location: &line.location,
                    kind: MovementKind::Cancellation,
                    qty: line.qty,
                    reason: Some("order cancelled"),
                    order_id: Some(id),
                    outbox_id: Some(row),
                },
            )
            .await?;
        }
    }
    lifecycle::transition(&mut tx, id, order.status, OrderEvent::Cancel).await?;
    tx.commit().await?;
    state.metrics.order("cancelled");
    if let Some(row) = run {
        if let Err(e) = outbox::apply_one(state, row).await {
            tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
        }
    }
    orders::by_id(&state.db, id)
        .await?
        .ok_or(Error::UnknownOrder)
}

/// Result of a shopper's release.
#[derive(Debug)]
pub struct Released {
    /// The reservation.
    pub reservation_id: String,
    /// `released` or `expired`.
    pub status: String,
}

/// Releases a `held` reservation for the shopper (edge-forwarded cancel). Under the
/// reservation's lock, so it never interleaves with a place or a confirm: a reservation with an
/// order is refused (409 `order_placed` / `order_confirmed`; only the merchant cancels those),
/// and a pin left by a place that died before recording its order is released with the hold.
///
/// # Errors
/// [`Error::UnknownReservation`], [`Error::OrderExists`], [`Error::CommittedWithoutOrder`],
/// [`Error::Redis`].
#[tracing::instrument(skip(state))]
pub async fn release_reservation(state: &AppState, reservation_id: &str) -> Result<Released> {
    let mut tx = state.db.begin().await?;
    lifecycle::lock_reservation(&mut tx, reservation_id).await?;
    if let Some(o) = orders::by_reservation_in(&mut tx, reservation_id).await? {
        return match o.status {
            // Already over: the hold went back when the order was cancelled or expired.
            OrderStatus::Cancelled | OrderStatus::Expired => Ok(Released {
                reservation_id: reservation_id.to_owned(),
                status: if o.status == OrderStatus::Expired {
                    "expired"
                } else {
                    "released"
                }
                .to_owned(),
            }),
            status => Err(Error::OrderExists { status }),
        };
    }
    state.faults.wait(FaultPoint::BeforeRelease).await;
    // No order and none being recorded (we hold the lock): a `confirming` hold is a dead
    // place's pin, safe to release.
    let out = state.redis.release(reservation_id, true).await?;
    tx.rollback().await?;
    match out {
        ReleaseOutcome::Released { status, .. } => {
            state.metrics.reservation("released");
            Ok(Released {
                reservation_id: reservation_id.to_owned(),
                status: status.as_str().to_owned(),
            })
        }
        ReleaseOutcome::NotFound => Err(Error::UnknownReservation),
        ReleaseOutcome::Committed | ReleaseOutcome::Confirming => Err(Error::CommittedWithoutOrder),
    }
}

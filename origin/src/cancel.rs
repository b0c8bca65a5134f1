//! Cancelling: an order gives its units back through the ledger (record-then-apply, like
//! confirm); a reservation without an order just releases its hold.
//!
//! | order status | ledger | Redis effect (outbox) |
//! |---|---|---|
//! | `PENDING` (commit not applied) | cancellation movements | the commit row is rewritten into a `release` of the hold (if the commit ran after all, the release restocks instead) |
//! | `CONFIRMED` | cancellation movements | a new `restock` row: adjust +qty per line, by movement id |
//! | `NEEDS_ATTENTION` | cancellation movements | none: Redis never took the units |
//! | `CANCELLED` | nothing (idempotent) | nothing |

use edgestock_api::ErrorCode;
use edgestock_core::scripts::ReleaseOutcome;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ledger::{self, MovementKind, NewMovement};
use crate::orders::{self, Order, OrderStatus};
use crate::outbox::{self, OrderPayload, OutboxKind, PayloadItem};
use crate::state::AppState;

/// Cancels order `id`; idempotent.
///
/// # Errors
/// 404 unknown order; database failures.
#[tracing::instrument(skip(state))]
pub async fn cancel_order(state: &AppState, id: Uuid) -> Result<Order> {
    let order = orders::by_id(&state.db, id)
        .await?
        .ok_or(Error::NotFound("unknown order"))?;
    let mut tx = state.db.begin().await?;
    // Lock order: outbox row first, then the order, the same order the outbox worker uses.
    let commit_done = sqlx::query_scalar!(
        r#"select done_at is not null as "done!" from outbox where id = $1 for update"#,
        order.commit_outbox_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let status = sqlx::query_scalar!(
        r#"select status as "status: OrderStatus" from orders where id = $1 for update"#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    let lines: Vec<PayloadItem> = order
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| PayloadItem {
            sku: it.sku.clone(),
            qty: it.qty,
            movement_id: Some(format!("cancel:{id}:{}", i + 1)),
        })
        .collect();
    let payload = serde_json::to_value(OrderPayload {
        order_id: id,
        reservation_id: order.reservation_id.clone(),
        items: lines.clone(),
    })
    .map_err(anyhow::Error::from)?;
    let apply = match status {
        OrderStatus::Cancelled => {
            tx.rollback().await?;
            return Ok(order);
        }
        OrderStatus::NeedsAttention => {
            // Linked to the not-applied commit row: reconcile counts neither sale nor return.
            Some((order.commit_outbox_id, false))
        }
        OrderStatus::Pending if !commit_done => {
            sqlx::query!(
                r#"update outbox set kind = 'release', payload = $2, next_attempt_at = now() where id = $1"#,
                order.commit_outbox_id,
                payload
            )
            .execute(&mut *tx)
            .await?;
            Some((order.commit_outbox_id, true))
        }
        OrderStatus::Pending | OrderStatus::Confirmed => {
            let row = outbox::insert(
                &mut tx,
                OutboxKind::Restock,
                &payload,
                state.config.outbox_grace,
            )
            .await?;
            Some((row, true))
        }
    };
    let (outbox_id, run) = apply.unwrap_or((order.commit_outbox_id, false));
    for line in &lines {
        ledger::append(
            &mut tx,
            &NewMovement {
                movement_id: line.movement_id.as_deref().unwrap_or_default(),
                sku: &line.sku,
                kind: MovementKind::Cancellation,
                qty: line.qty,
                reason: Some("order cancelled"),
                order_id: Some(id),
                outbox_id: Some(outbox_id),
            },
        )
        .await?;
    }
    sqlx::query!(
        r#"update orders set status = 'CANCELLED', updated_at = now() where id = $1"#,
        id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state.metrics.order("cancelled");
    if run {
        if let Err(e) = outbox::apply_one(state, outbox_id).await {
            tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
        }
    }
    orders::by_id(&state.db, id)
        .await?
        .ok_or(Error::NotFound("unknown order"))
}

/// Result of cancelling a reservation.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Cancelled {
    /// It had an order, which was cancelled.
    Order(Order),
    /// Its hold was released (or had already ended).
    Reservation {
        /// The reservation.
        reservation_id: String,
        /// `released` or `expired`.
        status: String,
    },
}

/// Cancels a reservation: its order if it has one, else releases the hold (even a pinned one).
///
/// # Errors
/// 404 unknown, 409 committed without an order, 503 Redis unreachable.
#[tracing::instrument(skip(state))]
pub async fn cancel_reservation(state: &AppState, reservation_id: &str) -> Result<Cancelled> {
    if let Some(o) = orders::by_reservation(&state.db, reservation_id).await? {
        return Ok(Cancelled::Order(cancel_order(state, o.order_id).await?));
    }
    match state.redis.release(reservation_id, true).await? {
        ReleaseOutcome::Released { status, .. } => {
            state.metrics.reservation("released");
            Ok(Cancelled::Reservation {
                reservation_id: reservation_id.to_owned(),
                status: status.as_str().to_owned(),
            })
        }
        ReleaseOutcome::NotFound => Err(Error::NotFound("unknown reservation")),
        ReleaseOutcome::Committed | ReleaseOutcome::Confirming => {
            // An order is being recorded right now: cancel it once it exists.
            match orders::by_reservation(&state.db, reservation_id).await? {
                Some(o) => Ok(Cancelled::Order(cancel_order(state, o.order_id).await?)),
                None => Err(Error::Conflict {
                    code: ErrorCode::ReservationCommitted,
                    message: "the reservation is committed; cancel its order".into(),
                }),
            }
        }
    }
}

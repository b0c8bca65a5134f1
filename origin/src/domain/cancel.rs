//! Cancelling: an order gives its units back through the ledger (record-then-apply, like
//! confirm); a reservation without an order just releases its hold. What the cancel does in
//! Redis depends on the order's status: see [`CancelPlan`] in [`super::lifecycle`].

use edgestock_core::scripts::ReleaseOutcome;
use uuid::Uuid;

use super::error::{Error, Result};
use super::ledger::{self, MovementKind, NewMovement};
use super::lifecycle::{self, CancelPlan, OrderEvent};
use super::orders::{self, Order};
use super::outbox::{self, Effect, OrderPayload, PayloadItem};
use crate::state::AppState;

/// Cancels order `id`; idempotent.
///
/// # Errors
/// [`Error::UnknownOrder`]; database failures.
#[tracing::instrument(skip(state))]
pub async fn cancel_order(state: &AppState, id: Uuid) -> Result<Order> {
    let order = orders::by_id(&state.db, id)
        .await?
        .ok_or(Error::UnknownOrder)?;
    let mut tx = state.db.begin().await?;
    // Lock order: outbox row first, then the order, the same order the outbox worker uses.
    let commit_done = sqlx::query_scalar!(
        r#"select done_at is not null as "done!" from outbox where id = $1 for update"#,
        order.commit_outbox_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let status = lifecycle::lock_status(&mut tx, id).await?;
    status.next(OrderEvent::Cancel)?;
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
    let payload = OrderPayload {
        order_id: id,
        reservation_id: order.reservation_id.clone(),
        items: lines.clone(),
    };
    // The outbox row the cancellation movements link to, and whether it must run now.
    let (outbox_id, run) = match CancelPlan::for_order(status, commit_done) {
        CancelPlan::AlreadyCancelled => {
            tx.rollback().await?;
            return Ok(order);
        }
        CancelPlan::NothingInRedis => (order.commit_outbox_id, false),
        CancelPlan::ReleaseHold => {
            outbox::rewrite_as_release(&mut tx, order.commit_outbox_id, payload).await?;
            (order.commit_outbox_id, true)
        }
        CancelPlan::Restock => {
            let effect = Effect::Restock(payload);
            let row = outbox::insert(&mut tx, &effect, state.config.outbox_grace).await?;
            (row, true)
        }
    };
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
    lifecycle::mark_cancelled(&mut tx, id).await?;
    tx.commit().await?;
    state.metrics.order("cancelled");
    if run {
        if let Err(e) = outbox::apply_one(state, outbox_id).await {
            tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
        }
    }
    orders::by_id(&state.db, id)
        .await?
        .ok_or(Error::UnknownOrder)
}

/// Result of cancelling a reservation.
#[derive(Debug)]
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
/// [`Error::UnknownReservation`], [`Error::CommittedCancelOrder`] (committed without an order
/// yet), [`Error::Redis`].
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
        ReleaseOutcome::NotFound => Err(Error::UnknownReservation),
        ReleaseOutcome::Committed | ReleaseOutcome::Confirming => {
            // An order is being recorded right now: cancel it once it exists.
            match orders::by_reservation(&state.db, reservation_id).await? {
                Some(o) => Ok(Cancelled::Order(cancel_order(state, o.order_id).await?)),
                None => Err(Error::CommittedCancelOrder),
            }
        }
    }
}

//! Placing an order (the lifecycle, step 1): the shopper's "place order", forwarded by the edge.
//!
//! Under the reservation's lock: an order that exists is answered as it is (placing again
//! returns the same order and deadline); otherwise the hold is pinned in Redis with a payment
//! deadline fixed once, and the order recorded `PENDING_PAYMENT`. If recording fails, the
//! transaction is rolled back and only then, the rollback being definite, the pin is undone in
//! the same request: a refused place never keeps units held past the shopper's hold.

use edgestock_core::scripts::{Item, PinOutcome};
use uuid::Uuid;

use super::error::{Error, Result, ResultExt};
use super::lifecycle::{self, Lines, OrderStatus};
use super::orders::Order;
use crate::fault::FaultPoint;
use crate::state::AppState;

/// The result: a new order (201) or the one placed before (200).
#[derive(Debug)]
pub enum Placed {
    /// Recorded by this call.
    Created(Order),
    /// Placed (or moved on) before.
    Existing(Order),
}

/// Places reservation `reservation_id`'s order.
///
/// # Errors
/// [`Error::UnknownReservation`], [`Error::ReservationExpired`], [`Error::CommittedWithoutOrder`],
/// [`Error::ReservedSkuUnknown`], [`Error::Redis`] (nothing changed), database failures.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn place(state: &AppState, reservation_id: &str) -> Result<Placed> {
    let mut tx = state.db.begin().await?;
    lifecycle::lock_reservation(&mut tx, reservation_id).await?;
    if let Some(o) = super::orders::by_reservation_in(&mut tx, reservation_id).await? {
        tx.rollback().await?;
        state.metrics.order("place_replayed");
        return Ok(Placed::Existing(o));
    }
    let window_ms = state.config.payment_window.as_millis() as u64;
    let grace_ms = state.config.confirm_grace.as_millis() as u64;
    let (pin, items) = state.redis.pin(reservation_id, window_ms, grace_ms).await?;
    let in_secs = match pin {
        PinOutcome::Pinned {
            deadline_ms,
            now_ms,
            ..
        } => (deadline_ms - now_ms) as f64 / 1000.0,
        PinOutcome::NotFound => return Err(Error::UnknownReservation),
        PinOutcome::Expired { status } => {
            return Err(Error::ReservationExpired {
                status: status.as_str().to_owned(),
            })
        }
        PinOutcome::Committed => return Err(Error::CommittedWithoutOrder),
    };
    state.metrics.reservation("pinned");
    state.faults.wait(FaultPoint::AfterPin).await;
    if state.faults.hit(FaultPoint::AfterPin) {
        // The process "dies": the transaction is dropped, the pin stays until its deadline.
        return Err(Error::FaultInjected);
    }
    let lines = super::orders::lines_of(&items);
    let (skus, qtys, locations) = Lines::columns(&lines);
    let order_id = Uuid::now_v7();
    let recorded = lifecycle::insert_placed(
        &mut tx,
        order_id,
        reservation_id,
        in_secs,
        &Lines {
            skus: &skus,
            qtys: &qtys,
            locations: &locations,
        },
    )
    .await
    .on_constraint("order_items_sku_fkey", |_| Error::ReservedSkuUnknown)
    .on_constraint("order_items_location_fkey", |_| {
        Error::ReservedLocationUnknown
    });
    let recorded = match recorded {
        Ok(r) => r,
        Err(e) => {
            undo_pin(state, tx, reservation_id, &items).await;
            return Err(e);
        }
    };
    if state.faults.hit(FaultPoint::BeforePlaceCommit) {
        undo_pin(state, tx, reservation_id, &items).await;
        return Err(Error::FaultInjected);
    }
    // A failed COMMIT is not a definite rollback (the server may have committed): the pin stays
    // and expires at its deadline plus grace; a retry finds the order if it was written.
    tx.commit().await?;
    state.metrics.order("placed");
    Ok(Placed::Created(Order {
        order_id,
        reservation_id: reservation_id.to_owned(),
        status: OrderStatus::PendingPayment,
        customer_ref: None,
        payment_ref: None,
        items: lines,
        created_at: recorded.created_at,
        payment_deadline: recorded.payment_deadline,
        confirmed_at: None,
        late: false,
        commit_applied: false,
        commit_outbox_id: None,
    }))
}

/// Rolls the transaction back and, once that is definite, puts the hold back as it was.
pub(super) async fn undo_pin(
    state: &AppState,
    tx: sqlx::Transaction<'_, sqlx::Postgres>,
    reservation_id: &str,
    items: &[Item],
) {
    if let Err(e) = tx.rollback().await {
        tracing::warn!(error = %e, "rollback not confirmed; the pin stays until its deadline");
        return;
    }
    match state.redis.unpin(reservation_id, items).await {
        Ok(_) => state.metrics.reservation("unpinned"),
        Err(e) => tracing::warn!(error = %e, "undoing the pin failed; it stays until its deadline"),
    }
}

//! Confirming an order (the lifecycle, step 2): the checkout backend says the payment is there.
//!
//! Everything happens under the reservation's lock, and Postgres's clock decides whether the
//! payment deadline has passed:
//! - a placed order (`PENDING_PAYMENT`) before its deadline: one statement marks it `CONFIRMED`,
//!   writes its sale movements and the outbox row "commit reservation R"; the commit is then
//!   applied inline (or by the outbox worker when Redis is down: `commit_applied` says which);
//! - a `held` reservation without an order: its hold is pinned (so it cannot expire while the
//!   order is recorded), then the order is inserted `CONFIRMED` the same way; a failed record
//!   undoes the pin after a definite rollback;
//! - past the deadline (or an `EXPIRED` order, or a hold already gone) it is a **late** confirm:
//!   the commit runs while the transaction is still open, taking the units from what is available
//!   all-or-nothing; when that comes up short the transaction is rolled back and the backend gets
//!   409 `insufficient_stock` (it refunds). When Redis cannot be asked, the order is recorded and
//!   the outbox decides (`NEEDS_ATTENTION` if it is short), so the backend still gets an answer;
//! - confirming again with the same `payment_ref` answers the order (200); another one is 409
//!   `already_confirmed`; a `NEEDS_ATTENTION` order confirmed again retries its commit (after a
//!   restock covered it, it becomes `CONFIRMED`).
//!
//! Natural keys make it idempotent: one order per `reservation_id`, one per `payment_ref`.

use edgestock_core::domain::ReservationStatus;
use edgestock_core::scripts::{CommitOutcome, PinOutcome};
use uuid::Uuid;

use super::error::{Error, Result, ResultExt};
use super::ledger;
use super::lifecycle::{self, Lines, OrderEvent, OrderStatus};
use super::orders::{self, items_of, lines_of, Order, OrderItem};
use super::outbox::{self, Applied, Attempt, Effect, OrderPayload, PayloadItem};
use crate::fault::FaultPoint;
use crate::state::AppState;

/// A confirm request (validated by the HTTP layer).
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    /// The reservation (placed or still held).
    pub reservation_id: String,
    /// The backend's payment reference: identifies the payment, confirms one order only.
    pub payment_ref: String,
    /// The backend's customer reference.
    pub customer_ref: Option<String>,
}

/// The result: confirmed by this call (201) or before with the same payment (200).
#[derive(Debug)]
pub enum Confirmed {
    /// Confirmed by this call.
    Created(Order),
    /// Confirmed before with this `payment_ref`.
    Existing(Order),
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Runs the confirm.
///
/// # Errors
/// [`Error::UnknownReservation`], [`Error::AlreadyConfirmed`], [`Error::PaymentRefInUse`],
/// [`Error::IllegalTransition`] (a cancelled order), [`Error::InsufficientStock`] (a late confirm
/// that came up short), [`Error::CommittedWithoutOrder`], [`Error::ReservedSkuUnknown`],
/// [`Error::Redis`] when Redis is unreachable and nothing was recorded.
#[tracing::instrument(level = "debug", skip_all, fields(reservation = %req.reservation_id))]
pub async fn confirm(state: &AppState, req: &ConfirmRequest) -> Result<Confirmed> {
    let mut tx: Tx = state.db.begin().await?;
    lifecycle::lock_reservation(&mut tx, &req.reservation_id).await?;
    let Some(order) = orders::by_reservation_in(&mut tx, &req.reservation_id).await? else {
        return confirm_hold(state, tx, req).await;
    };
    let same_payment = order.payment_ref.as_deref() == Some(req.payment_ref.as_str());
    match order.status {
        OrderStatus::Confirmed if same_payment => {
            tx.rollback().await?;
            state.metrics.order("replayed");
            Ok(Confirmed::Existing(order))
        }
        OrderStatus::NeedsAttention if same_payment => resolve(state, tx, order).await,
        OrderStatus::Confirmed | OrderStatus::NeedsAttention => Err(Error::AlreadyConfirmed),
        OrderStatus::Cancelled => Err(Error::IllegalTransition {
            from: OrderStatus::Cancelled,
            event: OrderEvent::Confirm,
        }),
        OrderStatus::PendingPayment | OrderStatus::Expired => {
            let late = match (order.status, order.payment_deadline) {
                (OrderStatus::PendingPayment, Some(d)) => lifecycle::past(&mut tx, d).await?,
                _ => true,
            };
            confirm_placed(state, tx, req, order, late).await
        }
    }
}

fn payload(order_id: Uuid, reservation_id: &str, lines: &[OrderItem]) -> Effect {
    Effect::Commit(OrderPayload {
        order_id,
        reservation_id: reservation_id.to_owned(),
        items: lines
            .iter()
            .map(|l| PayloadItem {
                sku: l.sku.clone(),
                qty: l.qty,
                location: l.location.clone(),
                movement_id: None,
            })
            .collect(),
    })
}

/// A placed (or expired) order confirmed.
async fn confirm_placed(
    state: &AppState,
    mut tx: Tx,
    req: &ConfirmRequest,
    order: Order,
    late: bool,
) -> Result<Confirmed> {
    let effect = payload(order.order_id, &order.reservation_id, &order.items);
    let (outbox_id, confirmed_at) = lifecycle::confirm_placed(
        &mut tx,
        order.order_id,
        order.status,
        &req.payment_ref,
        req.customer_ref.as_deref(),
        late,
        effect.to_json()?,
        state.config.outbox_grace.as_secs_f64(),
    )
    .await
    .on_constraint("orders_payment_ref_key", |_| Error::PaymentRefInUse)?;
    let confirmed = Order {
        status: OrderStatus::Confirmed,
        payment_ref: Some(req.payment_ref.clone()),
        customer_ref: req.customer_ref.clone(),
        confirmed_at: Some(confirmed_at),
        late,
        commit_outbox_id: Some(outbox_id),
        ..order
    };
    if late {
        return commit_late(state, tx, confirmed, effect).await;
    }
    tx.commit().await?;
    finish(state, confirmed, effect).await
}

/// A held reservation without an order, confirmed straight away.
async fn confirm_hold(state: &AppState, tx: Tx, req: &ConfirmRequest) -> Result<Confirmed> {
    let grace_ms = state.config.confirm_grace.as_millis() as u64;
    let (pin, items) = state.redis.pin(&req.reservation_id, 0, grace_ms).await?;
    let late = match pin {
        PinOutcome::Pinned { .. } => false,
        // The shopper gave the units back: nothing was placed, nothing to pay for.
        PinOutcome::Expired {
            status: ReservationStatus::Released,
        } => {
            return Err(Error::ReservationExpired {
                status: "released".into(),
            })
        }
        // The hold ran out: a late confirm takes the units from what is available.
        PinOutcome::Expired { .. } => true,
        PinOutcome::NotFound => return Err(Error::UnknownReservation),
        PinOutcome::Committed => return Err(Error::CommittedWithoutOrder),
    };
    state.faults.wait(FaultPoint::AfterPin).await;
    if state.faults.hit(FaultPoint::AfterPin) {
        return Err(Error::FaultInjected);
    }
    let lines = lines_of(&items);
    let order_id = Uuid::now_v7();
    let effect = payload(order_id, &req.reservation_id, &lines);
    let (skus, qtys, locations) = Lines::columns(&lines);
    let mut tx = tx;
    let recorded = lifecycle::insert_confirmed(
        &mut tx,
        order_id,
        &req.reservation_id,
        &req.payment_ref,
        req.customer_ref.as_deref(),
        late,
        effect.to_json()?,
        state.config.outbox_grace.as_secs_f64(),
        &Lines {
            skus: &skus,
            qtys: &qtys,
            locations: &locations,
        },
    )
    .await
    .on_constraint("orders_payment_ref_key", |_| Error::PaymentRefInUse)
    .on_constraint("order_items_sku_fkey", |_| Error::ReservedSkuUnknown)
    .on_constraint("stock_movements_sku_fkey", |_| Error::ReservedSkuUnknown)
    .on_constraint("order_items_location_fkey", |_| {
        Error::ReservedLocationUnknown
    })
    .on_constraint("stock_movements_location_fkey", |_| {
        Error::ReservedLocationUnknown
    });
    let recorded = match recorded {
        Ok(r) => r,
        Err(e) => {
            if !late {
                super::place::undo_pin(state, tx, &req.reservation_id, &items).await;
            }
            return Err(e);
        }
    };
    let order = Order {
        order_id,
        reservation_id: req.reservation_id.clone(),
        status: OrderStatus::Confirmed,
        customer_ref: req.customer_ref.clone(),
        payment_ref: Some(req.payment_ref.clone()),
        items: lines,
        created_at: recorded.created_at,
        payment_deadline: None,
        confirmed_at: recorded.confirmed_at,
        late,
        commit_applied: false,
        commit_outbox_id: recorded.outbox_id,
    };
    if late {
        return commit_late(state, tx, order, effect).await;
    }
    tx.commit().await?;
    finish(state, order, effect).await
}

/// Step 3 after the commit of the transaction: applies the commit inline (best effort: when
/// Redis is down the row stays for the worker and `commit_applied` stays false).
async fn finish(state: &AppState, mut order: Order, effect: Effect) -> Result<Confirmed> {
    state.metrics.order("confirmed");
    if state.faults.hit(FaultPoint::AfterPgCommit) {
        return Err(Error::FaultInjected);
    }
    let outbox_id = order
        .commit_outbox_id
        .ok_or_else(|| anyhow::anyhow!("a confirmed order without its commit row"))?;
    match outbox::apply_commit(state, outbox_id, effect).await {
        Ok(Attempt::Done(Applied::Applied)) => order.commit_applied = true,
        Ok(Attempt::Done(Applied::Short { .. })) => {
            order.status = OrderStatus::Confirmed.next(OrderEvent::CommitShort)?;
        }
        Ok(Attempt::Failed(_)) => {}
        // The worker holds the row right now: read what it decided.
        Ok(Attempt::Skipped) => {
            order = orders::by_id(&state.db, order.order_id)
                .await?
                .ok_or(Error::UnknownOrder)?;
        }
        Err(e) => tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry"),
    }
    Ok(Confirmed::Created(order))
}

/// A late confirm: the commit runs inside the still-open transaction (holding the SKUs' shared
/// locks, as every outbox apply does), so a short answer rolls everything back.
async fn commit_late(
    state: &AppState,
    mut tx: Tx,
    mut order: Order,
    effect: Effect,
) -> Result<Confirmed> {
    for sku in effect.skus() {
        ledger::lock_sku(&mut tx, &sku, false).await?;
    }
    let outbox_id = order
        .commit_outbox_id
        .ok_or_else(|| anyhow::anyhow!("a confirmed order without its commit row"))?;
    let items = items_of(&order.items)?;
    match state.redis.commit(&order.reservation_id, &items).await {
        Ok(CommitOutcome::Short {
            sku,
            available,
            location,
        }) => {
            tx.rollback().await?;
            state.metrics.order("late_short");
            Err(Error::InsufficientStock {
                sku: sku.to_string(),
                available,
                location: Some(location.to_string()),
            })
        }
        Ok(_) => {
            lifecycle::mark_commit_applied(&mut tx, outbox_id, order.order_id).await?;
            tx.commit().await?;
            state.metrics.order("confirmed_late");
            order.commit_applied = true;
            Ok(Confirmed::Created(order))
        }
        Err(e) => {
            // Unknown whether Redis took it: record the order and let the outbox decide (the
            // commit is idempotent; short means NEEDS_ATTENTION).
            tracing::warn!(error = %e, "late commit not answered; the outbox decides");
            tx.commit().await?;
            state.metrics.order("confirmed_late");
            Ok(Confirmed::Created(order))
        }
    }
}

/// A `NEEDS_ATTENTION` order confirmed again with its own payment: retries its commit now.
async fn resolve(state: &AppState, mut tx: Tx, order: Order) -> Result<Confirmed> {
    let outbox_id = order
        .commit_outbox_id
        .ok_or_else(|| anyhow::anyhow!("an order needing attention without its commit row"))?;
    let effect = payload(order.order_id, &order.reservation_id, &order.items);
    for sku in effect.skus() {
        ledger::lock_sku(&mut tx, &sku, false).await?;
    }
    let items = items_of(&order.items)?;
    match state.redis.commit(&order.reservation_id, &items).await? {
        CommitOutcome::Short {
            sku,
            available,
            location,
        } => {
            tx.rollback().await?;
            Err(Error::InsufficientStock {
                sku: sku.to_string(),
                available,
                location: Some(location.to_string()),
            })
        }
        _ => {
            lifecycle::resolve_confirmed(&mut tx, order.order_id, outbox_id).await?;
            tx.commit().await?;
            state.metrics.order("resolved");
            Ok(Confirmed::Created(Order {
                status: OrderStatus::Confirmed,
                commit_applied: true,
                ..order
            }))
        }
    }
}

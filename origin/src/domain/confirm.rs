//! The confirm protocol (`docs/design.md`): pin → one Postgres transaction (order, items, sale
//! movements, outbox row) → commit script → outbox row done.
//!
//! Safe to retry: a second confirm of a reservation finds its order (when the pin refuses or
//! Redis is unreachable, or through the unique `reservation_id` constraint of the insert) and
//! returns it. Safe to crash: before the Postgres commit nothing is recorded and the pinned hold
//! simply expires after its grace period; after it, the outbox row is applied by the worker.

use edgestock_core::scripts::PinOutcome;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::{Error, Result, ResultExt};
use super::lifecycle::{OrderEvent, OrderStatus};
use super::orders::{self, Order, OrderItem};
use super::outbox::{self, Applied, Attempt, Effect, OrderPayload, PayloadItem};
use crate::fault::FaultPoint;
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
        (Some(k), Some(stored)) if k != stored => Err(Error::IdempotencyKeyOfOtherConfirm),
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
/// The happy path is one Redis call for the pin, one Postgres statement recording the order,
/// and the inline apply (one transaction of three statements around the Redis commit); the
/// response is built from what was written, not re-read. Looking up an earlier order of the
/// reservation happens only off the happy path: when the pin refuses (committed, expired,
/// unknown), when Redis is unreachable, or when the insert finds the reservation taken.
///
/// # Errors
/// [`Error::UnknownReservation`], [`Error::ReservationExpired`], [`Error::CommittedWithoutOrder`],
/// a reused idempotency key, [`Error::ReservedSkuUnknown`], and [`Error::Redis`] when Redis is
/// unreachable and nothing was recorded for the reservation.
#[tracing::instrument(level = "debug", skip_all, fields(reservation = %req.reservation_id))]
pub async fn confirm(state: &AppState, req: &ConfirmRequest) -> Result<Confirmed> {
    let grace_ms = state.config.pin_grace.as_millis() as u64;
    let (pin, items) = match state.redis.pin(&req.reservation_id, grace_ms).await {
        Ok(pinned) => pinned,
        // A retry of a recorded confirm still gets its order while Redis is down.
        Err(e) => {
            return match existing(state, req).await? {
                Some(o) => Ok(Confirmed::Existing(o)),
                None => Err(e.into()),
            }
        }
    };
    match pin {
        PinOutcome::Pinned { .. } => state.metrics.reservation("pinned"),
        PinOutcome::NotFound => {
            if let Some(o) = existing(state, req).await? {
                return Ok(Confirmed::Existing(o));
            }
            state.metrics.reservation("not_found");
            return Err(Error::UnknownReservation);
        }
        PinOutcome::Expired { status } => {
            // Cancelled orders release their hold: a retry still gets the order.
            if let Some(o) = existing(state, req).await? {
                return Ok(Confirmed::Existing(o));
            }
            state.metrics.reservation("expired");
            return Err(Error::ReservationExpired {
                status: status.as_str().to_owned(),
            });
        }
        PinOutcome::Committed => {
            // Recorded and applied by an earlier confirm.
            return match existing(state, req).await? {
                Some(o) => Ok(Confirmed::Existing(o)),
                None => Err(Error::CommittedWithoutOrder),
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
    let order_id = Uuid::now_v7();
    let effect = Effect::Commit(OrderPayload {
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
    });
    let Some(recorded) = record(state, req, order_id, &effect, &lines).await? else {
        return match existing(state, req).await? {
            Some(o) => Ok(Confirmed::Existing(o)),
            None => Err(anyhow::anyhow!("order vanished after a conflict").into()),
        };
    };
    state.metrics.order("created");
    if state.faults.hit(FaultPoint::AfterPgCommit) {
        return Err(Error::FaultInjected);
    }
    // Best effort: when Redis is down the row stays for the worker and the order stays PENDING.
    let status = match outbox::apply_commit(state, recorded.outbox_id, effect).await {
        Ok(Attempt::Done(Applied::Applied)) => {
            Some(OrderStatus::Pending.next(OrderEvent::CommitApplied)?)
        }
        Ok(Attempt::Done(Applied::Short { .. })) => {
            Some(OrderStatus::Pending.next(OrderEvent::CommitShort)?)
        }
        Ok(Attempt::Failed(_)) => Some(OrderStatus::Pending),
        // The worker holds the row right now: read what it decided.
        Ok(Attempt::Skipped) => None,
        Err(e) => {
            tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
            None
        }
    };
    let order = match status {
        Some(status) => Order {
            order_id,
            reservation_id: req.reservation_id.clone(),
            status,
            customer_ref: req.customer_ref.clone(),
            payment_ref: req.payment_ref.clone(),
            items: lines,
            created_at: recorded.created_at,
            idempotency_key: req.idempotency_key.clone(),
            commit_outbox_id: recorded.outbox_id,
        },
        None => orders::by_id(&state.db, order_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {order_id} not found after insert"))?,
    };
    Ok(Confirmed::Created(order))
}

/// What [`record`] wrote.
struct Recorded {
    outbox_id: i64,
    created_at: OffsetDateTime,
}

/// Step 2: ONE statement (so one implicit transaction and one round trip) inserting the order,
/// its outbox row, its items and its sale movements (`sale:<order>:<line>`). Foreign keys are
/// checked at the end of the statement, so the order may name the outbox row it inserts.
/// `None` when an order for the reservation already exists: then nothing is written (the
/// outbox row, the items and the movements are inserted only from the order that was).
async fn record(
    state: &AppState,
    req: &ConfirmRequest,
    order_id: Uuid,
    effect: &Effect,
    lines: &[OrderItem],
) -> Result<Option<Recorded>> {
    let payload = effect.to_json()?;
    let line_no: Vec<i32> = (1..=lines.len() as i32).collect();
    let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    let qtys: Vec<i32> = lines.iter().map(|l| l.qty).collect();
    let row = sqlx::query!(
        r#"with ob as (select nextval('outbox_id_seq') as id),
           o as (
               insert into orders (id, reservation_id, status, customer_ref, payment_ref,
                                   idempotency_key, commit_outbox_id)
               select $1, $2, 'PENDING', $3, $4, $5, ob.id from ob
               on conflict (reservation_id) do nothing
               returning id, commit_outbox_id, created_at
           ),
           x as (
               insert into outbox (id, kind, payload, next_attempt_at)
               select o.commit_outbox_id, 'commit', $6, now() + make_interval(secs => $7) from o
           ),
           lines as (
               select * from unnest($8::int4[], $9::text[], $10::int4[]) as t(line, sku, qty)
           ),
           i as (
               insert into order_items (order_id, line, sku, qty)
               select o.id, l.line, l.sku, l.qty from o, lines l
           ),
           m as (
               insert into stock_movements (movement_id, sku, kind, qty, order_id, outbox_id)
               select 'sale:' || o.id || ':' || l.line, l.sku, 'sale', -l.qty, o.id, o.commit_outbox_id
               from o, lines l
           )
           select commit_outbox_id as "outbox_id!", created_at as "created_at!" from o"#,
        order_id,
        req.reservation_id,
        req.customer_ref.as_deref(),
        req.payment_ref.as_deref(),
        req.idempotency_key.as_deref(),
        payload,
        state.config.outbox_grace.as_secs_f64(),
        &line_no,
        &skus as &[&str],
        &qtys
    )
    .fetch_optional(&state.db)
    .await
    .on_constraint("orders_idempotency_key_key", |_| {
        Error::IdempotencyKeyOfOtherReservation
    })
    .on_constraint("order_items_sku_fkey", |_| Error::ReservedSkuUnknown)?;
    Ok(row.map(|r| Recorded {
        outbox_id: r.outbox_id,
        created_at: r.created_at,
    }))
}

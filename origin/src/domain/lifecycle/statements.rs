//! The lock that serialises one reservation's lifecycle, and the only statements that write
//! `orders.status` (each guarded in SQL on the status it expects).

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{OrderEvent, OrderStatus};
use crate::domain::error::{Error, Result};

/// Takes the advisory lock of reservation `id` for the rest of the transaction: place, confirm,
/// cancel and expiry of one reservation run one at a time.
///
/// # Errors
/// Database failures.
pub async fn lock_reservation(tx: &mut Transaction<'_, Postgres>, id: &str) -> Result<()> {
    sqlx::query!(
        r#"select pg_advisory_xact_lock(hashtextextended('edgestock-rsv:' || $1, 0))"#,
        id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// True when `deadline` has passed by Postgres's clock.
///
/// # Errors
/// Database failures.
pub async fn past(
    tx: &mut Transaction<'_, Postgres>,
    deadline: time::OffsetDateTime,
) -> Result<bool> {
    Ok(
        sqlx::query_scalar!(r#"select now() > $1 as "past!""#, deadline)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Moves order `id` from `from` to `from.next(event)`, guarded in SQL on `from`.
///
/// # Errors
/// [`Error::IllegalTransition`] when the table forbids it or the order is no longer in `from`;
/// database failures.
pub async fn transition(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    from: OrderStatus,
    event: OrderEvent,
) -> Result<OrderStatus> {
    let to = from.next(event)?;
    let n = sqlx::query!(
        r#"update orders set status = $3, updated_at = now() where id = $1 and status = $2"#,
        id,
        from as OrderStatus,
        to as OrderStatus
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::IllegalTransition { from, event });
    }
    Ok(to)
}

/// The outbox applied order `order_id`'s commit: one statement marks the row done and sets
/// `commit_applied` (the status does not change: the order is confirmed already).
///
/// # Errors
/// Database failures.
pub async fn mark_commit_applied(
    tx: &mut Transaction<'_, Postgres>,
    outbox_id: i64,
    order_id: Uuid,
) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        r#"with done as (
               update outbox set done_at = now(), outcome = 'applied', attempts = attempts + 1
               where id = $1
           )
           update orders set commit_applied = true, updated_at = now()
           where id = $2 and not commit_applied"#,
        outbox_id,
        order_id
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// [`OrderEvent::CommitShort`]: a confirmed order whose commit found no units. True when the
/// order moved (it was still `CONFIRMED`; a cancelled one stays cancelled).
///
/// # Errors
/// Database failures.
pub async fn mark_needs_attention(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        r#"update orders set status = 'NEEDS_ATTENTION', updated_at = now()
           where id = $1 and status = 'CONFIRMED' and not commit_applied"#,
        order_id
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// What a recording statement wrote.
#[derive(Debug, Clone, Copy)]
pub struct Recorded {
    /// The order.
    pub order_id: Uuid,
    /// Its commit row (confirm) — none for a placed order.
    pub outbox_id: Option<i64>,
    /// The order's creation time.
    pub created_at: time::OffsetDateTime,
    /// The payment deadline (placed orders).
    pub payment_deadline: Option<time::OffsetDateTime>,
    /// When confirmed (confirm).
    pub confirmed_at: Option<time::OffsetDateTime>,
}

/// Lines of an order as the recording statements take them.
#[derive(Debug)]
pub struct Lines<'a> {
    /// SKUs, in line order.
    pub skus: &'a [&'a str],
    /// Quantities, in line order.
    pub qtys: &'a [i32],
    /// Locations, in line order.
    pub locations: &'a [&'a str],
}

impl Lines<'_> {
    /// The columns of `parts`, in line order: SKUs, quantities, locations.
    pub fn columns(parts: &[crate::domain::orders::OrderItem]) -> (Vec<&str>, Vec<i32>, Vec<&str>) {
        (
            parts.iter().map(|l| l.sku.as_str()).collect(),
            parts.iter().map(|l| l.qty).collect(),
            parts.iter().map(|l| l.location.as_str()).collect(),
        )
    }
}

/// Place (step 1): inserts the order `PENDING_PAYMENT` and its items, the deadline `deadline_in`
/// seconds from Postgres's now. No stock movement: units are sold at confirm.
///
/// # Errors
/// Database failures (a reserved SKU missing from the catalogue is the items' foreign key).
pub async fn insert_placed(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    reservation_id: &str,
    deadline_in_secs: f64,
    lines: &Lines<'_>,
) -> Result<Recorded> {
    let line_no: Vec<i32> = (1..=lines.skus.len() as i32).collect();
    let row = sqlx::query!(
        r#"with o as (
               insert into orders (id, reservation_id, status, payment_deadline)
               values ($1, $2, 'PENDING_PAYMENT', now() + make_interval(secs => $3))
               returning id, created_at, payment_deadline
           ),
           i as (
               insert into order_items (order_id, line, sku, qty, location)
               select o.id, l.line, l.sku, l.qty, l.location
               from o, unnest($4::int4[], $5::text[], $6::int4[], $7::text[])
                       as l(line, sku, qty, location)
           )
           select created_at as "created_at!", payment_deadline as "payment_deadline!" from o"#,
        order_id,
        reservation_id,
        deadline_in_secs,
        &line_no,
        lines.skus as &[&str],
        lines.qtys,
        lines.locations as &[&str]
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(Recorded {
        order_id,
        outbox_id: None,
        created_at: row.created_at,
        payment_deadline: Some(row.payment_deadline),
        confirmed_at: None,
    })
}

/// Confirm (step 2) of a held reservation without an order: ONE statement inserting the order
/// `CONFIRMED`, its commit outbox row, its items and its sale movements (`sale:<order>:<line>`).
/// Foreign keys are checked at the end of the statement, so the order may name the outbox row
/// it inserts.
///
/// # Errors
/// Database failures (`orders_payment_ref_key`: the payment reference confirmed another order).
#[allow(clippy::too_many_arguments)]
pub async fn insert_confirmed(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    reservation_id: &str,
    payment_ref: &str,
    customer_ref: Option<&str>,
    late: bool,
    commit_payload: serde_json::Value,
    outbox_delay_secs: f64,
    lines: &Lines<'_>,
) -> Result<Recorded> {
    let line_no: Vec<i32> = (1..=lines.skus.len() as i32).collect();
    let row = sqlx::query!(
        r#"with ob as (select nextval('outbox_id_seq') as id),
           o as (
               insert into orders (id, reservation_id, status, customer_ref, payment_ref,
                                   commit_outbox_id, confirmed_at, late)
               select $1, $2, 'CONFIRMED', $3, $4, ob.id, now(), $5 from ob
               returning id, commit_outbox_id, created_at, confirmed_at
           ),
           x as (
               insert into outbox (id, kind, payload, next_attempt_at)
               select o.commit_outbox_id, 'commit', $6, now() + make_interval(secs => $7) from o
           ),
           lines as (
               select * from unnest($8::int4[], $9::text[], $10::int4[], $11::text[])
                   as t(line, sku, qty, location)
           ),
           i as (
               insert into order_items (order_id, line, sku, qty, location)
               select o.id, l.line, l.sku, l.qty, l.location from o, lines l
           ),
           m as (
               insert into stock_movements (movement_id, sku, kind, qty, order_id, outbox_id, location)
               select 'sale:' || o.id || ':' || l.line, l.sku, 'sale', -l.qty, o.id,
                      o.commit_outbox_id, l.location
               from o, lines l
           )
           select commit_outbox_id as "outbox_id!", created_at as "created_at!",
                  confirmed_at as "confirmed_at!" from o"#,
        order_id,
        reservation_id,
        customer_ref,
        payment_ref,
        late,
        commit_payload,
        outbox_delay_secs,
        &line_no,
        lines.skus as &[&str],
        lines.qtys,
        lines.locations as &[&str]
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(Recorded {
        order_id,
        outbox_id: Some(row.outbox_id),
        created_at: row.created_at,
        payment_deadline: None,
        confirmed_at: Some(row.confirmed_at),
    })
}

/// Confirm (step 2) of a placed (or expired) order `order_id` in status `from`: ONE statement
/// moving it to `CONFIRMED` with the payment reference, inserting its commit outbox row and its
/// sale movements.
///
/// # Errors
/// [`Error::IllegalTransition`] when the order is not in `from`; database failures
/// (`orders_payment_ref_key`).
#[allow(clippy::too_many_arguments)]
pub async fn confirm_placed(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    from: OrderStatus,
    payment_ref: &str,
    customer_ref: Option<&str>,
    late: bool,
    commit_payload: serde_json::Value,
    outbox_delay_secs: f64,
) -> Result<(i64, time::OffsetDateTime)> {
    from.next(OrderEvent::Confirm)?;
    let row = sqlx::query!(
        r#"with ob as (select nextval('outbox_id_seq') as id),
           x as (
               insert into outbox (id, kind, payload, next_attempt_at)
               select ob.id, 'commit', $2, now() + make_interval(secs => $3) from ob
           ),
           o as (
               update orders set status = 'CONFIRMED', payment_ref = $4, customer_ref = $5,
                      late = $6, confirmed_at = now(), updated_at = now(),
                      commit_outbox_id = (select id from ob)
               where id = $1 and status = $7
               returning id, commit_outbox_id, confirmed_at
           ),
           m as (
               insert into stock_movements (movement_id, sku, kind, qty, order_id, outbox_id, location)
               select 'sale:' || o.id || ':' || i.line, i.sku, 'sale', -i.qty, o.id,
                      o.commit_outbox_id, i.location
               from o join order_items i on i.order_id = o.id
           )
           select commit_outbox_id as "outbox_id!", confirmed_at as "confirmed_at!" from o"#,
        order_id,
        commit_payload,
        outbox_delay_secs,
        payment_ref,
        customer_ref,
        late,
        from as OrderStatus
    )
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => Ok((r.outbox_id, r.confirmed_at)),
        None => Err(Error::IllegalTransition {
            from,
            event: OrderEvent::Confirm,
        }),
    }
}

/// A `NEEDS_ATTENTION` order whose commit now applied (a restock covered it): its commit row is
/// marked applied (the sale movements link to it, so reconcile counts them again) and the order
/// is `CONFIRMED`, in one statement.
///
/// # Errors
/// [`Error::IllegalTransition`] when the order is no longer `NEEDS_ATTENTION`.
pub async fn resolve_confirmed(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    outbox_id: i64,
) -> Result<()> {
    let n = sqlx::query!(
        r#"with done as (
               update outbox set done_at = now(), outcome = 'applied', attempts = attempts + 1
               where id = $2
           )
           update orders set status = 'CONFIRMED', commit_applied = true, updated_at = now()
           where id = $1 and status = 'NEEDS_ATTENTION'"#,
        order_id,
        outbox_id
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::IllegalTransition {
            from: OrderStatus::NeedsAttention,
            event: OrderEvent::Confirm,
        });
    }
    Ok(())
}

/// [`OrderEvent::Expire`] of placed order `order_id`, only if its deadline plus `grace_secs` has
/// passed by Postgres's clock (checked in the statement, under the caller's lock). True when the
/// order moved.
///
/// # Errors
/// Database failures.
pub async fn expire_if_due(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    grace_secs: f64,
) -> Result<bool> {
    OrderStatus::PendingPayment.next(OrderEvent::Expire)?;
    let n = sqlx::query!(
        r#"update orders set status = 'EXPIRED', updated_at = now()
           where id = $1 and status = 'PENDING_PAYMENT'
             and payment_deadline + make_interval(secs => $2) < now()"#,
        order_id,
        grace_secs
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

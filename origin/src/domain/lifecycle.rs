//! The order lifecycle: the statuses, the events that move an order between them, and the only
//! statements that write `orders.status`. Confirm, cancel and the outbox all go through here.
//!
//! ```text
//!             commit applied              cancel
//!   PENDING ─────────────────▶ CONFIRMED ────────▶ CANCELLED
//!      │  commit found no units               ▲      │ cancel (idempotent)
//!      ├────────────────────▶ NEEDS_ATTENTION ┤      └──▶ CANCELLED
//!      └──────────────── cancel ──────────────┘
//! ```
//!
//! The writes guard on the expected current status in SQL (`where status = 'PENDING'`), so a
//! commit applied after a cancel never resurrects the order: the statement matches no row and the
//! order stays cancelled.
//!
//! What a cancel must do in Redis depends on the status and on whether the commit row ran
//! ([`CancelPlan::for_order`]):
//!
//! | order status | Redis effect (outbox) |
//! |---|---|
//! | `PENDING` (commit not applied) | the commit row is rewritten into a `release` of the hold (if the commit ran after all, the release restocks instead) |
//! | `PENDING` (commit applied, order not marked yet), `CONFIRMED` | a new `restock` row: adjust +qty per line, by movement id |
//! | `NEEDS_ATTENTION` | none: Redis never took the units |
//! | `CANCELLED` | nothing (idempotent) |

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::error::{Error, Result};

/// `order_status` in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "order_status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Recorded; its Redis commit is not applied yet (outbox pending).
    Pending,
    /// Recorded and applied in Redis.
    Confirmed,
    /// Cancelled; its units went back through the ledger.
    Cancelled,
    /// A late commit found no units: an operator must decide (never silently oversold).
    NeedsAttention,
}

/// What happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// Redis took the order's commit.
    CommitApplied,
    /// The commit found a SKU short: Redis changed nothing.
    CommitShort,
    /// The order is cancelled.
    Cancel,
}

impl OrderStatus {
    /// The status after `event`.
    ///
    /// # Errors
    /// [`Error::IllegalTransition`] carrying the current status, e.g. a commit of a cancelled order.
    pub fn next(self, event: OrderEvent) -> Result<Self> {
        use OrderEvent::{Cancel, CommitApplied, CommitShort};
        use OrderStatus::{Cancelled, Confirmed, NeedsAttention, Pending};
        match (self, event) {
            (Pending, CommitApplied) => Ok(Confirmed),
            (Pending, CommitShort) => Ok(NeedsAttention),
            (_, Cancel) => Ok(Cancelled),
            (from, event) => Err(Error::IllegalTransition { from, event }),
        }
    }
}

/// The Redis side of cancelling an order, decided from its status under the row locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelPlan {
    /// Already cancelled: nothing to write.
    AlreadyCancelled,
    /// Redis never took the units: the cancellation movements link to the not-applied commit
    /// row, so reconcile counts neither the sale nor the return.
    NothingInRedis,
    /// The commit has not run: turn its outbox row into a release of the hold.
    ReleaseHold,
    /// The commit ran: a new outbox row gives the units back.
    Restock,
}

impl CancelPlan {
    /// The plan for an order in `status` whose commit row is done or not.
    pub fn for_order(status: OrderStatus, commit_done: bool) -> Self {
        match status {
            OrderStatus::Cancelled => Self::AlreadyCancelled,
            OrderStatus::NeedsAttention => Self::NothingInRedis,
            OrderStatus::Pending if !commit_done => Self::ReleaseHold,
            OrderStatus::Pending | OrderStatus::Confirmed => Self::Restock,
        }
    }
}

/// Locks order `id` and reads its status (take the outbox row lock first, as the worker does).
///
/// # Errors
/// Database failures.
pub async fn lock_status(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<OrderStatus> {
    Ok(sqlx::query_scalar!(
        r#"select status as "status: OrderStatus" from orders where id = $1 for update"#,
        id
    )
    .fetch_one(&mut **tx)
    .await?)
}

/// [`OrderEvent::Cancel`]: any status becomes `CANCELLED`.
///
/// # Errors
/// Database failures.
pub async fn mark_cancelled(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<()> {
    sqlx::query!(
        r#"update orders set status = 'CANCELLED', updated_at = now() where id = $1"#,
        id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// [`OrderEvent::CommitApplied`] in one statement with marking commit row `outbox_id` done.
/// (The SQL text, indentation included, keys the offline query cache in `.sqlx/`.)
/// True when the order moved (it was still `PENDING`).
///
/// # Errors
/// Database failures.
pub async fn mark_confirmed(
    tx: &mut Transaction<'_, Postgres>,
    outbox_id: i64,
    order_id: Uuid,
) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        r#"with done as (
                       update outbox set done_at = now(), outcome = 'applied', attempts = attempts + 1
                       where id = $1
                   )
                   update orders set status = 'CONFIRMED', updated_at = now()
                   where id = $2 and status = 'PENDING'"#,
        outbox_id,
        order_id
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// [`OrderEvent::CommitShort`]. True when the order moved (it was still `PENDING`).
///
/// # Errors
/// Database failures.
pub async fn mark_needs_attention(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        r#"update orders set status = 'NEEDS_ATTENTION', updated_at = now() where id = $1 and status = 'PENDING'"#,
        order_id
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::OrderEvent::*;
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn only_a_pending_order_takes_its_commit() {
        assert_eq!(Pending.next(CommitApplied).unwrap(), Confirmed);
        assert_eq!(Pending.next(CommitShort).unwrap(), NeedsAttention);
        for from in [Confirmed, Cancelled, NeedsAttention] {
            for event in [CommitApplied, CommitShort] {
                match from.next(event) {
                    Err(Error::IllegalTransition { from: f, event: e }) => {
                        assert_eq!((f, e), (from, event));
                    }
                    other => panic!("{from:?} + {event:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn every_status_can_be_cancelled_and_cancel_is_idempotent() {
        for from in [Pending, Confirmed, Cancelled, NeedsAttention] {
            assert_eq!(from.next(Cancel).unwrap(), Cancelled, "{from:?}");
        }
    }

    #[test]
    fn cancel_plan_follows_the_table() {
        let cases = [
            (Pending, false, CancelPlan::ReleaseHold),
            (Pending, true, CancelPlan::Restock),
            (Confirmed, true, CancelPlan::Restock),
            (NeedsAttention, true, CancelPlan::NothingInRedis),
            (Cancelled, true, CancelPlan::AlreadyCancelled),
        ];
        for (status, done, plan) in cases {
            assert_eq!(
                CancelPlan::for_order(status, done),
                plan,
                "{status:?} {done}"
            );
        }
    }
}

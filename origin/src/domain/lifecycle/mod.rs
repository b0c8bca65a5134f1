//! The order lifecycle: the statuses, the events that move an order between them, the lock that
//! serialises them, and the only statements that write `orders.status`. Place, confirm, cancel,
//! expiry and the outbox all go through here.
//!
//! ```text
//!   (held reservation) ──place (shopper)──▶ PENDING_PAYMENT ──expire (deadline passed)──▶ EXPIRED
//!          │                                  │        │                                    │
//!          │ confirm (backend)        confirm │        │ cancel (backend)      late confirm │
//!          ▼                                  ▼        ▼                                    │
//!      CONFIRMED ◀─────────────────────────────────  CANCELLED                              │
//!       │   ▲  ◀────────────────────────────────────────────────────────────────────────────┘
//!       │   │ confirm again once a restock covered it
//!       │  NEEDS_ATTENTION ◀── the commit found no units (never silently oversold)
//!       │        └──────────── cancel (refunded) ──▶ CANCELLED
//!       └── cancel {restock} (backend) ──▶ CANCELLED
//! ```
//!
//! Every transition happens in a transaction holding the reservation's advisory lock
//! ([`lock_reservation`]), so place, confirm, cancel and expiry of one reservation never
//! interleave, and Postgres's clock under that lock decides whether a deadline has passed. The
//! writes also guard on the expected current status in SQL, so a stale decision matches no row.
//! An event the table does not allow is [`Error::IllegalTransition`] (409 with the status).
//!
//! This file holds the states and the table; `statements.rs` the lock and the SQL that moves an
//! order (each checks the table first).

use super::error::{Error, Result};

mod statements;
#[cfg(test)]
mod tests;

pub use statements::*;

/// `order_status` in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "order_status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed by the shopper; its units are pinned in Redis until the payment deadline.
    PendingPayment,
    /// Confirmed by the backend; sale movements written, the Redis commit applied or in the
    /// outbox (`commit_applied`).
    Confirmed,
    /// Cancelled by the backend.
    Cancelled,
    /// Not paid by its deadline; its hold was released.
    Expired,
    /// The commit found no units: an operator decides (never silently oversold).
    NeedsAttention,
}

impl OrderStatus {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::NeedsAttention => "NEEDS_ATTENTION",
        }
    }
}

/// What happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The backend confirms the payment (late when past the deadline).
    Confirm,
    /// The backend cancels.
    Cancel,
    /// The payment deadline passed.
    Expire,
    /// The commit found a SKU short: Redis changed nothing.
    CommitShort,
}

impl OrderEvent {
    /// Lower-case name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
            Self::CommitShort => "commit short",
        }
    }
}

impl OrderStatus {
    /// The status after `event`.
    ///
    /// # Errors
    /// [`Error::IllegalTransition`] carrying the current status, e.g. a confirm of a cancelled
    /// order or a cancel of an expired one.
    pub fn next(self, event: OrderEvent) -> Result<Self> {
        use OrderEvent::{Cancel, CommitShort, Confirm, Expire};
        use OrderStatus::{Cancelled, Confirmed, Expired, NeedsAttention, PendingPayment};
        match (self, event) {
            (PendingPayment | Expired | NeedsAttention, Confirm) => Ok(Confirmed),
            (PendingPayment | Confirmed | NeedsAttention | Cancelled, Cancel) => Ok(Cancelled),
            (PendingPayment, Expire) => Ok(Expired),
            (Confirmed, CommitShort) => Ok(NeedsAttention),
            (from, event) => Err(Error::IllegalTransition { from, event }),
        }
    }
}

/// The Redis side of cancelling an order, decided from its status under the locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelPlan {
    /// Already cancelled: nothing to write.
    AlreadyCancelled,
    /// Placed, not paid: release its pinned hold (no movement: place wrote none).
    ReleaseHold,
    /// Confirmed and `restock: false`: the goods left; no movement, and the commit (applied or
    /// still in the outbox) stands.
    KeepSold,
    /// Confirmed, `restock: true`, the commit not applied yet: its outbox row becomes a release
    /// of the hold; cancellation movements link to it.
    RewriteCommit,
    /// Confirmed, `restock: true`, the commit applied: a new outbox row gives the units back.
    Restock,
    /// Redis never took the units: cancellation movements link to the not-applied commit row,
    /// so reconcile counts neither the sale nor the return.
    NothingInRedis,
}

impl CancelPlan {
    /// The plan for an order in `status` whose commit row is done or not, cancelled with
    /// `restock` (required for a confirmed order).
    ///
    /// # Errors
    /// [`Error::RestockRequired`] for a confirmed order without `restock`.
    pub fn for_order(
        status: OrderStatus,
        commit_done: bool,
        restock: Option<bool>,
    ) -> Result<Self> {
        Ok(match status {
            OrderStatus::Cancelled => Self::AlreadyCancelled,
            OrderStatus::PendingPayment => Self::ReleaseHold,
            OrderStatus::NeedsAttention => Self::NothingInRedis,
            OrderStatus::Confirmed => match restock {
                None => return Err(Error::RestockRequired),
                Some(false) => Self::KeepSold,
                Some(true) if commit_done => Self::Restock,
                Some(true) => Self::RewriteCommit,
            },
            OrderStatus::Expired => {
                return Err(Error::IllegalTransition {
                    from: status,
                    event: OrderEvent::Cancel,
                })
            }
        })
    }
}

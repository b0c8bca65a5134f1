//! Transfers: units of one SKU moved from one location to another, exactly once.
//!
//! In one Postgres transaction holding the SKU's exclusive lock: two `transfer` movements
//! (`<id>:from`, -qty at `from`; `<id>:to`, +qty at `to`) and one `transfer` outbox row. The
//! transfer script then runs while the transaction is still open (one script moves both sides
//! atomically in Redis, deduplicated by `<id>:from`):
//! - moved (or already moved): the row is marked applied and everything commits;
//! - short (holds took the units): everything rolls back, 409 `insufficient_stock`;
//! - Redis not answering: the transaction commits with the row pending, and the outbox worker
//!   applies it once (a repeat answers "duplicate"). A crash after the script and before the
//!   commit leaves Redis moved and the ledger not: a retry with the same id records it, and the
//!   script answers "duplicate" (without a retry, reconcile repairs the two locations).

use edgestock_core::domain::{Location, Sku};
use edgestock_core::scripts::TransferOutcome;

use super::error::{Error, Result};
use super::ledger::{self, MovementKind, NewMovement};
use super::locations;
use super::outbox::{self, Effect, TransferPayload};
use super::stock::RedisState;
use crate::fault::FaultPoint;
use crate::state::AppState;

/// A transfer (validated by the caller: two different locations, qty >= 1).
#[derive(Debug, Clone)]
pub struct TransferSpec {
    /// Where the units leave (it may be inactive).
    pub from: Location,
    /// Where they arrive.
    pub to: Location,
    /// Units.
    pub qty: u32,
    /// Idempotency id; the movements are `<id>:from` and `<id>:to`.
    pub movement_id: String,
}

impl TransferSpec {
    /// The ledger id of the outgoing movement (also what Redis dedupes by).
    pub fn from_id(&self) -> String {
        format!("{}:from", self.movement_id)
    }

    /// The ledger id of the incoming movement.
    pub fn to_id(&self) -> String {
        format!("{}:to", self.movement_id)
    }
}

/// What [`transfer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transferred {
    /// Recorded by this call.
    Created(RedisState),
    /// Recorded before with the same body (a retry).
    Replayed,
}

/// True when the stored movements of `t`'s id are this very transfer; an error when the id names
/// anything else.
async fn replayed(state: &AppState, sku: &Sku, t: &TransferSpec) -> Result<bool> {
    let out = ledger::find(&state.db, &t.from_id()).await?;
    let into = ledger::find(&state.db, &t.to_id()).await?;
    let qty = i64::from(t.qty);
    let same = |m: &ledger::Movement, location: &Location, sign: i64| {
        m.kind == MovementKind::Transfer
            && m.sku == sku.as_str()
            && m.location == location.as_str()
            && i64::from(m.qty) == sign * qty
    };
    match (out, into) {
        (None, None) => Ok(false),
        (Some(o), Some(i)) if same(&o, &t.from, -1) && same(&i, &t.to, 1) => Ok(true),
        _ => Err(Error::MovementIdReused),
    }
}

/// Moves `t.qty` units of `sku` from `t.from` to `t.to`; idempotent by `t.movement_id`.
///
/// # Errors
/// [`Error::MovementIdReused`], [`Error::UnknownSku`], [`Error::UnknownLocation`],
/// [`Error::InsufficientStock`] (with the location; nothing changed), database failures.
#[tracing::instrument(skip(state, t), fields(sku = %sku, movement_id = %t.movement_id))]
pub async fn transfer(state: &AppState, sku: &Sku, t: &TransferSpec) -> Result<Transferred> {
    if replayed(state, sku, t).await? {
        return Ok(Transferred::Replayed);
    }
    let mut tx = state.db.begin().await?;
    // Exclusive and first (put_sku takes it before the SKU's row too): one transfer (or seed)
    // of the SKU at a time, so the ledger check below holds.
    ledger::lock_sku(&mut tx, sku.as_str(), true).await?;
    super::stock::require_sku(&mut tx, sku).await?;
    locations::require(&mut tx, t.from.as_str()).await?;
    locations::require(&mut tx, t.to.as_str()).await?;
    let at_from = ledger::on_hand_at(&mut *tx, sku.as_str(), t.from.as_str()).await?;
    let qty = i64::from(t.qty);
    if at_from < qty {
        return Err(Error::InsufficientStock {
            sku: sku.to_string(),
            available: at_from.max(0),
            location: Some(t.from.to_string()),
        });
    }
    let effect = Effect::Transfer(TransferPayload {
        sku: sku.to_string(),
        from: t.from.to_string(),
        to: t.to.to_string(),
        qty: t.qty,
        movement_id: t.from_id(),
    });
    let row = outbox::insert(&mut tx, &effect, state.config.outbox_grace).await?;
    let qty32 = i32::try_from(t.qty).map_err(|_| Error::ChangeTooLarge)?;
    let (from_id, to_id) = (t.from_id(), t.to_id());
    let sides = [
        (from_id.as_str(), t.from.as_str(), -qty32),
        (to_id.as_str(), t.to.as_str(), qty32),
    ];
    for (movement_id, location, qty) in sides {
        let appended = ledger::append(
            &mut tx,
            &NewMovement {
                movement_id,
                sku: sku.as_str(),
                location,
                kind: MovementKind::Transfer,
                qty,
                reason: Some("transfer"),
                order_id: None,
                outbox_id: Some(row),
            },
        )
        .await?;
        if !appended {
            // A concurrent retry won the race (or the id names another change).
            tx.rollback().await?;
            return if replayed(state, sku, t).await? {
                Ok(Transferred::Replayed)
            } else {
                Err(Error::MovementIdReused)
            };
        }
    }
    if state.faults.hit(FaultPoint::BeforeTransferApply) {
        // The process "dies" after the commit, before Redis: the outbox finishes it.
        tx.commit().await?;
        return Err(Error::FaultInjected);
    }
    match state
        .redis
        .transfer(sku, &t.from, &t.to, t.qty, &t.from_id())
        .await
    {
        Ok(TransferOutcome::Short { available }) => {
            tx.rollback().await?;
            Err(Error::InsufficientStock {
                sku: sku.to_string(),
                available,
                location: Some(t.from.to_string()),
            })
        }
        Ok(TransferOutcome::Applied { .. } | TransferOutcome::Duplicate) => {
            sqlx::query!(
                r#"update outbox set done_at = now(), outcome = 'applied', attempts = attempts + 1
                   where id = $1"#,
                row
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            state.metrics.outbox("transfer", "applied");
            Ok(Transferred::Created(RedisState::Applied))
        }
        Err(e) => {
            tracing::warn!(error = %e, "transfer not answered by redis; the outbox applies it");
            tx.commit().await?;
            Ok(Transferred::Created(RedisState::Pending))
        }
    }
}

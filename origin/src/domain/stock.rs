//! Admin stock changes: creating or updating a SKU and appending adjustments. Each change is
//! ledger movements plus an `adjust` outbox row in one transaction, applied to Redis right away
//! when it is reachable and by the outbox worker otherwise.
//!
//! A SKU's `on_hand` in [`put_sku`] is its `default` location's (what it meant before locations
//! existed); an adjustment names its location.

use edgestock_core::domain::{Location, Sku};
use uuid::Uuid;

use super::error::{Error, Result};
use super::ledger::{self, MovementKind, NewMovement};
use super::outbox::{self, AdjustPayload, Attempt, Effect};
use crate::state::AppState;

/// Whether Redis already reflects a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisState {
    /// Redis took the change (or there was nothing to apply).
    Applied,
    /// The outbox will apply it.
    Pending,
}

/// Applies outbox row `outbox_id` inline; a failure leaves it to the worker.
pub(super) async fn apply_now(state: &AppState, outbox_id: Option<i64>) -> RedisState {
    let Some(id) = outbox_id else {
        return RedisState::Applied;
    };
    match outbox::apply_one(state, id).await {
        Ok(Attempt::Done(_)) => RedisState::Applied,
        Ok(_) => RedisState::Pending,
        Err(e) => {
            tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
            RedisState::Pending
        }
    }
}

/// The desired state of a SKU (validated by the caller).
#[derive(Debug, Clone)]
pub struct SkuSpec {
    /// Display name.
    pub name: String,
    /// Units on hand wanted at `default`; the difference becomes a ledger movement.
    pub on_hand: i64,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
    /// Whether reserving needs a verified customer; `None` keeps the current value.
    pub require_customer: Option<bool>,
}

/// What [`put_sku`] did.
#[derive(Debug, Clone)]
pub struct SkuWritten {
    /// True when the SKU is new.
    pub created: bool,
    /// The movement recording the change of on-hand, if any.
    pub movement_id: Option<String>,
    /// Whether reserving needs a verified customer, after the call.
    pub require_customer: bool,
    /// Whether Redis has it yet.
    pub redis: RedisState,
}

/// Creates or updates `sku`; a change of on-hand is recorded as an `initial` or `adjustment`
/// movement, and any change Redis must see as an `adjust` outbox row.
///
/// # Errors
/// [`Error::ChangeTooLarge`]; database failures.
#[tracing::instrument(skip(state, spec), fields(sku = %sku))]
pub async fn put_sku(state: &AppState, sku: &Sku, spec: &SkuSpec) -> Result<SkuWritten> {
    let mut tx = state.db.begin().await?;
    ledger::lock_sku(&mut tx, sku.as_str(), true).await?;
    let before = sqlx::query!(
        r#"select low_stock_threshold, coalesce((select sum(qty) from stock_movements m
                  where m.sku = s.sku and m.location = 'default'), 0)::int8 as "on_hand!"
           from skus s where sku = $1"#,
        sku.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into skus (sku, name, low_stock_threshold) values ($1, $2, $3)
           on conflict (sku) do update set name = excluded.name,
               low_stock_threshold = excluded.low_stock_threshold, updated_at = now()"#,
        sku.as_str(),
        spec.name,
        spec.low_stock_threshold as i32
    )
    .execute(&mut *tx)
    .await?;
    // Not a macro: the column is newer than the offline query cache.
    let rc_before: bool = sqlx::query_scalar("select require_customer from skus where sku = $1")
        .bind(sku.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(false);
    let require_customer = spec.require_customer.unwrap_or(rc_before);
    let rc_changed = require_customer != rc_before;
    if rc_changed {
        sqlx::query("update skus set require_customer = $2 where sku = $1")
            .bind(sku.as_str())
            .bind(require_customer)
            .execute(&mut *tx)
            .await?;
    }
    let created = before.is_none();
    let delta = spec.on_hand - before.as_ref().map_or(0, |b| b.on_hand);
    let low_changed = before
        .as_ref()
        .is_none_or(|b| i64::from(b.low_stock_threshold) != spec.low_stock_threshold);
    let movement_id = (created || delta != 0).then(|| {
        if created {
            format!("initial:{sku}")
        } else {
            format!("put:{sku}:{}", Uuid::now_v7())
        }
    });
    let mut outbox_id = None;
    if movement_id.is_some() || low_changed || rc_changed {
        let effect = Effect::Adjust(AdjustPayload {
            sku: sku.to_string(),
            location: Location::DEFAULT.to_owned(),
            delta,
            movement_id: movement_id.clone(),
            low: low_changed.then_some(spec.low_stock_threshold),
            create: created,
            require_customer: rc_changed.then_some(require_customer),
        });
        outbox_id = Some(outbox::insert(&mut tx, &effect, state.config.outbox_grace).await?);
    }
    if let Some(mid) = &movement_id {
        let (kind, reason) = if created {
            (MovementKind::Initial, "initial stock")
        } else {
            (MovementKind::Adjustment, "on_hand set by admin")
        };
        let movement = NewMovement {
            movement_id: mid,
            sku: sku.as_str(),
            location: Location::DEFAULT,
            kind,
            qty: i32::try_from(delta).map_err(|_| Error::ChangeTooLarge)?,
            reason: Some(reason),
            order_id: None,
            outbox_id,
        };
        ledger::append(&mut tx, &movement).await?;
    }
    tx.commit().await?;
    Ok(SkuWritten {
        created,
        require_customer,
        movement_id,
        redis: apply_now(state, outbox_id).await,
    })
}

/// A restock, return or correction (validated by the caller).
#[derive(Debug, Clone)]
pub struct Adjustment {
    /// Signed units.
    pub delta: i64,
    /// Free text; `restock` and `return` with a positive delta name the movement kind.
    pub reason: String,
    /// Idempotency id.
    pub movement_id: String,
    /// The location whose stock changes.
    pub location: Location,
}

impl Adjustment {
    /// The ledger kind: `restock` and `return` only for positive deltas, else `adjustment`.
    pub fn kind(&self) -> MovementKind {
        match self.reason.as_str() {
            "restock" if self.delta > 0 => MovementKind::Restock,
            "return" if self.delta > 0 => MovementKind::Return,
            _ => MovementKind::Adjustment,
        }
    }
}

/// What [`adjust`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjusted {
    /// Appended by this call.
    Created(RedisState),
    /// The same movement was appended before (a retry).
    Replayed,
}

/// Fails with [`Error::UnknownSku`] unless the catalogue has `sku`; its row stays share-locked
/// until `tx` ends, so it cannot vanish under the movement being written.
///
/// # Errors
/// [`Error::UnknownSku`]; database failures.
pub(super) async fn require_sku(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sku: &Sku,
) -> Result<()> {
    let exists = sqlx::query_scalar!(
        "select 1 as one from skus where sku = $1 for share",
        sku.as_str()
    )
    .fetch_optional(&mut **tx)
    .await?;
    if exists.is_none() {
        return Err(Error::UnknownSku);
    }
    Ok(())
}

/// Appends adjustment `a` to `sku`; idempotent by `movement_id`.
///
/// # Errors
/// [`Error::MovementIdReused`] for another change under the same id, [`Error::UnknownSku`],
/// [`Error::UnknownLocation`]; database failures.
#[tracing::instrument(skip(state, a), fields(sku = %sku, movement_id = %a.movement_id))]
pub async fn adjust(state: &AppState, sku: &Sku, a: &Adjustment) -> Result<Adjusted> {
    if let Some(m) = ledger::find(&state.db, &a.movement_id).await? {
        if m.sku != sku.as_str()
            || m.location != a.location.as_str()
            || i64::from(m.qty) != a.delta
            || m.kind == MovementKind::Transfer
        {
            return Err(Error::MovementIdReused);
        }
        return Ok(Adjusted::Replayed);
    }
    let mut tx = state.db.begin().await?;
    require_sku(&mut tx, sku).await?;
    super::locations::require(&mut tx, a.location.as_str()).await?;
    let effect = Effect::Adjust(AdjustPayload {
        sku: sku.to_string(),
        location: a.location.to_string(),
        delta: a.delta,
        movement_id: Some(a.movement_id.clone()),
        low: None,
        create: false,
        require_customer: None,
    });
    let outbox_id = outbox::insert(&mut tx, &effect, state.config.outbox_grace).await?;
    let movement = NewMovement {
        movement_id: &a.movement_id,
        sku: sku.as_str(),
        location: a.location.as_str(),
        kind: a.kind(),
        qty: a.delta as i32,
        reason: Some(&a.reason),
        order_id: None,
        outbox_id: Some(outbox_id),
    };
    if !ledger::append(&mut tx, &movement).await? {
        // A concurrent retry won the race: answer like a replay.
        tx.rollback().await?;
        return Ok(Adjusted::Replayed);
    }
    tx.commit().await?;
    Ok(Adjusted::Created(apply_now(state, Some(outbox_id)).await))
}

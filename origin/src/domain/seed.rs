//! Seeding Redis from the ledger, and reconcile (drift report, optional repair).
//!
//! # The seeding rule
//! Redis `on_hand` must equal the sum of the ledger movements Redis already reflects: every
//! movement whose outbox row was applied. Movements still pending in the outbox (a sale whose
//! commit has not run, an adjustment not yet applied) are left out, because applying them later
//! adds them exactly once; a sale whose late commit found no units (`not_applied`) is left out
//! for good. For the common case this is "ledger on-hand + units of sales whose commit is not yet
//! applied". The view `sku_levels.redis_on_hand` computes it.
//!
//! Each SKU is seeded in a transaction holding the SKU's exclusive advisory lock, which outbox
//! applies take shared: no apply can change Redis between reading the ledger and seeding.

use edgestock_core::domain::Sku;
use edgestock_core::scripts::LevelOutcome;

use super::error::Result;
use super::ledger;
use crate::state::AppState;

/// One SKU's comparison of ledger and Redis (reported as is by seed and reconcile).
pub use edgestock_api::origin::SkuDrift;

/// Compares (and with `repair`, fixes) every SKU, or one.
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
#[tracing::instrument(skip(state))]
pub async fn reconcile(
    state: &AppState,
    repair: bool,
    only: Option<&str>,
) -> Result<Vec<SkuDrift>> {
    let skus = ledger::levels(&state.db, only).await?;
    let mut out = Vec::with_capacity(skus.len());
    for level in skus {
        out.push(reconcile_one(state, &level.sku, repair).await?);
    }
    Ok(out)
}

/// Seeds every SKU from the ledger (reconcile with repair of every SKU, drift or not).
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
pub async fn seed_all(state: &AppState) -> Result<Vec<SkuDrift>> {
    let skus = ledger::levels(&state.db, None).await?;
    let mut out = Vec::with_capacity(skus.len());
    for level in skus {
        out.push(seed_one(state, &level.sku, true).await?);
    }
    Ok(out)
}

async fn reconcile_one(state: &AppState, sku: &str, repair: bool) -> Result<SkuDrift> {
    let first = seed_one(state, sku, false).await?;
    if repair && first.drift != 0 {
        return seed_one(state, sku, true).await;
    }
    Ok(first)
}

/// Reads one SKU under its exclusive lock and, with `write`, seeds it to the expected value.
async fn seed_one(state: &AppState, sku: &str, write: bool) -> Result<SkuDrift> {
    let parsed = Sku::parse(sku).map_err(|e| anyhow::anyhow!("bad sku in ledger: {e}"))?;
    let mut tx = state.db.begin().await?;
    ledger::lock_sku(&mut tx, sku, true).await?;
    let level = ledger::levels(&mut *tx, Some(sku))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("sku {sku} vanished"))?;
    let expected = level.redis_on_hand;
    let mut read = state.redis.stock(std::slice::from_ref(&parsed)).await?;
    let before = read.pop().filter(|l| l.exists);
    let mut drift = SkuDrift {
        sku: sku.to_owned(),
        ledger_on_hand: level.on_hand,
        expected_redis_on_hand: expected,
        pending_movements: level.pending_movements,
        redis_on_hand: before.as_ref().map(|l| l.on_hand),
        redis_reserved: before.as_ref().map_or(0, |l| l.reserved),
        drift: before.as_ref().map_or(-expected, |l| l.on_hand - expected),
        repaired: false,
    };
    if write {
        let low = i64::from(level.low_stock_threshold);
        match state.redis.seed(&parsed, expected.max(0), low).await? {
            LevelOutcome::BelowReserved { on_hand, reserved } => {
                tracing::warn!(
                    sku,
                    expected,
                    on_hand,
                    reserved,
                    "seed clamped to the units live holds reserve"
                );
            }
            LevelOutcome::Applied { .. } | LevelOutcome::Duplicate { .. } => {}
        }
        drift.repaired = drift.drift != 0;
    }
    tx.commit().await?;
    Ok(drift)
}

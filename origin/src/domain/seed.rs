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
//! After the SKUs, the holds of live placed orders that Redis lost are pinned again
//! ([`repin_placed`]), so a Redis restart never resells units a shopper is paying for.
//!
//! Each SKU is seeded in a transaction holding the SKU's exclusive advisory lock, which outbox
//! applies take shared: no apply can change Redis between reading the ledger and seeding.

use edgestock_core::domain::Sku;
use edgestock_core::scripts::{LevelOutcome, RepinOutcome};

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
    // Location settings before stock: reserves refuse (503) without them.
    if state.redis.locations().await?.is_none() {
        state
            .redis
            .put_locations(&[edgestock_core::scripts::LocationSettings {
                code: edgestock_core::domain::Location::default(),
                name: "Default".to_owned(),
                priority: 0,
                active: true,
                ships: true,
                pickup: false,
            }])
            .await?;
    }
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
        // Not a macro: the column is newer than the offline query cache.
        let require_customer: bool =
            sqlx::query_scalar("select require_customer from skus where sku = $1")
                .bind(sku)
                .fetch_one(&mut *tx)
                .await?;
        match state
            .redis
            .seed_with(
                &parsed,
                &edgestock_core::domain::Location::default(),
                expected.max(0),
                low,
                Some(require_customer),
            )
            .await?
        {
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

/// What [`repin_placed`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repinned {
    /// Placed orders whose holds were missing and are held again.
    pub repinned: usize,
    /// Placed orders whose units were no longer there (a confirm will be late).
    pub short: usize,
}

/// Most placed orders re-pinned in one call (each is one Redis call).
const MAX_REPINS: i64 = 100_000;

/// Step 6 of the lifecycle: holds again, in Redis, the units of every live placed order
/// (`PENDING_PAYMENT`, deadline + grace not passed) whose reservation Redis no longer has, until
/// its deadline + grace. Each under the reservation's lock, so it never races a confirm, a
/// cancel or the expiry. Run after seeding (on-hand first, then the holds on it).
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
pub async fn repin_placed(state: &AppState) -> Result<Repinned> {
    let grace = state.config.confirm_grace;
    let live = sqlx::query!(
        r#"select id, reservation_id from orders
           where status = 'PENDING_PAYMENT' and payment_deadline + make_interval(secs => $1) > now()
           order by payment_deadline limit $2"#,
        grace.as_secs_f64(),
        MAX_REPINS
    )
    .fetch_all(&state.db)
    .await?;
    let mut out = Repinned::default();
    for row in live {
        let mut tx = state.db.begin().await?;
        super::lifecycle::lock_reservation(&mut tx, &row.reservation_id).await?;
        // Under the lock: still placed, and how long its units must stay held.
        let left_ms = sqlx::query_scalar!(
            r#"select (extract(epoch from payment_deadline - now()) * 1000)::int8 as "ms!"
               from orders where id = $1 and status = 'PENDING_PAYMENT'"#,
            row.id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(left_ms) = left_ms else {
            continue;
        };
        let hold_ms = left_ms + grace.as_millis() as i64;
        if hold_ms <= 0 {
            continue;
        }
        let items = super::orders::items_of(&super::orders::items(&mut *tx, row.id).await?)?;
        match state
            .redis
            .repin(
                &row.reservation_id,
                &items,
                hold_ms as u64,
                grace.as_millis() as u64,
            )
            .await?
        {
            RepinOutcome::Repinned { .. } => out.repinned += 1,
            RepinOutcome::Exists(_) => {}
            RepinOutcome::Short { sku, available, .. } => {
                tracing::warn!(order = %row.id, %sku, available, "a placed order's units were resold while Redis had lost its hold");
                out.short += 1;
            }
        }
        tx.commit().await?;
    }
    if out.repinned > 0 || out.short > 0 {
        tracing::info!(
            repinned = out.repinned,
            short = out.short,
            "placed orders re-pinned"
        );
    }
    Ok(out)
}

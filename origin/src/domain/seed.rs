//! Seeding Redis from the ledger, and reconcile (drift report, optional repair), per (SKU,
//! location): the location settings first, then each location's stock.
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

use edgestock_core::domain::{Location, Sku};
use edgestock_core::keys::ShardId;
use edgestock_core::scripts::{Item, LevelOutcome, RepinOutcome};

use super::error::Result;
use super::{ledger, locations};
use crate::state::AppState;

/// One SKU's comparison of ledger and Redis (reported as is by seed and reconcile).
pub use edgestock_api::origin::{LocationDrift, SkuDrift};

/// What a pass over one SKU writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    /// Compare only.
    Nothing,
    /// Reseed the locations that drift.
    Drifting,
    /// Reseed every location (seeding).
    All,
}

/// Compares (and with `repair`, fixes) the location settings and every SKU at every location,
/// or one SKU. Returns whether the settings differed, and each SKU's comparison.
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
#[tracing::instrument(skip(state))]
pub async fn reconcile(
    state: &AppState,
    repair: bool,
    only: Option<&str>,
) -> Result<(bool, Vec<SkuDrift>)> {
    let settings_drift = locations::reconcile_settings(state, repair).await?;
    let write = if repair {
        Write::Drifting
    } else {
        Write::Nothing
    };
    let skus = ledger::levels(&state.db, only).await?;
    let mut out = Vec::with_capacity(skus.len());
    for level in skus {
        out.push(seed_one(state, &level.sku, write).await?);
    }
    Ok((settings_drift, out))
}

/// Seeds the location settings, then every SKU at every location from the ledger.
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
pub async fn seed_all(state: &AppState) -> Result<Vec<SkuDrift>> {
    locations::push_settings(state).await?;
    let skus = ledger::levels(&state.db, None).await?;
    let mut out = Vec::with_capacity(skus.len());
    for level in skus {
        out.push(seed_one(state, &level.sku, Write::All).await?);
    }
    Ok(out)
}

/// Reads one SKU under its exclusive lock, compares every location the ledger or Redis has for
/// it, and writes what `write` asks.
pub(super) async fn seed_one(state: &AppState, sku: &str, write: Write) -> Result<SkuDrift> {
    let parsed = Sku::parse(sku).map_err(|e| anyhow::anyhow!("bad sku in ledger: {e}"))?;
    let mut tx = state.db.begin().await?;
    ledger::lock_sku(&mut tx, sku, true).await?;
    let level = ledger::levels(&mut *tx, Some(sku))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("sku {sku} vanished"))?;
    let ledger_rows = ledger::location_levels(&mut *tx, sku).await?;
    let redis_rows = state.redis.stock_by_location(&parsed).await?;
    let mut codes: Vec<String> = ledger_rows.iter().map(|r| r.location.clone()).collect();
    codes.extend(redis_rows.iter().map(|r| r.location.as_str().to_owned()));
    codes.sort_by(|a, b| (a != Location::DEFAULT, a).cmp(&(b != Location::DEFAULT, b)));
    codes.dedup();
    // Not a macro: the column is newer than the offline query cache.
    let require_customer: bool =
        sqlx::query_scalar("select require_customer from skus where sku = $1")
            .bind(sku)
            .fetch_one(&mut *tx)
            .await?;
    let low = i64::from(level.low_stock_threshold);
    let mut per_location = Vec::with_capacity(codes.len());
    let mut to_seed: Vec<(usize, Location, i64)> = Vec::new();
    for code in codes {
        let ledger_row = ledger_rows.iter().find(|r| r.location == code);
        let redis_row = redis_rows.iter().find(|r| r.location.as_str() == code);
        let expected = ledger_row.map_or(0, |r| r.redis_on_hand);
        let d = LocationDrift {
            ledger_on_hand: ledger_row.map_or(0, |r| r.on_hand),
            expected_redis_on_hand: expected,
            pending_movements: ledger_row.map_or(0, |r| r.pending_movements),
            redis_on_hand: redis_row.map(|r| r.on_hand),
            redis_reserved: redis_row.map_or(0, |r| r.reserved),
            drift: redis_row.map_or(-expected, |r| r.on_hand - expected),
            repaired: false,
            location: code,
        };
        let seed = match write {
            Write::Nothing => false,
            Write::Drifting => d.drift != 0,
            Write::All => true,
        };
        if seed {
            let location = Location::parse(&d.location)
                .map_err(|e| anyhow::anyhow!("bad location in ledger: {e}"))?;
            to_seed.push((per_location.len(), location, expected.max(0)));
        }
        per_location.push(d);
    }
    // Every location of the SKU in one script call: one level transition, so a Redis that lost
    // its data and is seeded again emits no false `back_in_stock` between two locations.
    if !to_seed.is_empty() {
        let levels: Vec<(Location, i64)> =
            to_seed.iter().map(|(_, l, n)| (l.clone(), *n)).collect();
        let outcomes = state
            .redis
            .seed_locations(&parsed, &levels, low, Some(require_customer))
            .await?;
        for ((i, location, expected), outcome) in to_seed.iter().zip(outcomes) {
            if let LevelOutcome::BelowReserved { on_hand, reserved } = outcome {
                tracing::warn!(
                    sku,
                    location = %location,
                    expected,
                    on_hand,
                    reserved,
                    "seed clamped to the units live holds reserve"
                );
            }
            let d = &mut per_location[*i];
            d.repaired = d.drift != 0;
        }
    }
    tx.commit().await?;
    let default = per_location
        .iter()
        .find(|d| d.location == Location::DEFAULT)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("sku {sku} has no default level"))?;
    Ok(SkuDrift {
        sku: sku.to_owned(),
        ledger_on_hand: default.ledger_on_hand,
        expected_redis_on_hand: default.expected_redis_on_hand,
        pending_movements: default.pending_movements,
        redis_on_hand: default.redis_on_hand,
        redis_reserved: default.redis_reserved,
        drift: default.drift,
        repaired: default.repaired,
        locations: per_location,
    })
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
    repin(state, None).await
}

/// [`repin_placed`] for the orders with a part on `shard` only, as their reservation ids name
/// their shards, and for that part alone: healing one shard costs a Redis call per placed order
/// on it, not per placed order everywhere (and the shard answers again sooner), and an order's
/// part on another shard that is down does not hold the healing back.
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
pub async fn repin_placed_on(state: &AppState, shard: ShardId) -> Result<Repinned> {
    repin(state, Some(shard)).await
}

async fn repin(state: &AppState, only: Option<ShardId>) -> Result<Repinned> {
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
        // An id that names no shard of this layout is tried anyway: the engine answers for it.
        let elsewhere = |s| {
            state
                .redis
                .shards_of_reservation(&row.reservation_id)
                .is_some_and(|on| !on.contains(s))
        };
        if only.is_some_and(elsewhere) {
            continue;
        }
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
        let mut items = super::orders::items_of(&super::orders::items(&mut *tx, row.id).await?)?;
        // Healing one shard: only its part is held again. The other parts are where they were,
        // and one on a shard that is down must not keep this one from being held again.
        if let Some(shard) = only {
            let on = |i: &Item| state.redis.keys().shard_of(i.sku.as_str()) == shard;
            if items.iter().any(on) {
                items.retain(on);
            }
        }
        let outcome = state
            .redis
            .repin(
                &row.reservation_id,
                &items,
                hold_ms as u64,
                grace.as_millis() as u64,
            )
            .await?;
        match outcome {
            RepinOutcome::Repinned { .. } => {
                state.metrics.repin("repinned");
                out.repinned += 1;
            }
            RepinOutcome::Exists(_) => state.metrics.repin("present"),
            RepinOutcome::Short {
                sku,
                available,
                location,
            } => {
                tracing::warn!(order = %row.id, %sku, %location, available, "a placed order's units were resold while Redis had lost its hold");
                state.metrics.repin("short");
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

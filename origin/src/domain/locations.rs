//! Stock locations (warehouses, stores): their settings in Postgres, and the copy Redis keeps so
//! a reserve can allocate over them in one script.
//!
//! Postgres is the record. Every write of the settings (a PUT, seed, reconcile's repair, startup)
//! replaces Redis's whole copy with [`push_settings`], under one advisory lock: each push reads
//! the settings committed before it, so the last push always carries the latest state, and a
//! change applies to every reserve that starts after its 2xx. A push that fails leaves the change
//! in Postgres; the next PUT, seed or reconcile writes it.

use edgestock_core::domain::Location;
use edgestock_core::keys::ShardId;
use edgestock_core::scripts::LocationSettings;
use sqlx::{PgExecutor, Postgres, Transaction};
use time::OffsetDateTime;

use super::error::{Error, Result, ResultExt};
use crate::state::AppState;

/// Most locations an install may have (the reserve script walks them).
pub const MAX_LOCATIONS: i64 = 64;

/// A location as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRow {
    /// Its code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// `warehouse` or `store` (a label).
    pub kind: String,
    /// Allocation priority (lower first).
    pub priority: i32,
    /// Reserves may take units there.
    pub active: bool,
    /// Counts toward shipping.
    pub ships: bool,
    /// Offers pickup.
    pub pickup: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// The wanted settings of a location (validated by the caller).
#[derive(Debug, Clone)]
pub struct LocationSpec {
    /// Display name.
    pub name: String,
    /// `warehouse` or `store`.
    pub kind: &'static str,
    /// Allocation priority.
    pub priority: i32,
    /// Reserves may take units there.
    pub active: bool,
    /// Counts toward shipping.
    pub ships: bool,
    /// Offers pickup.
    pub pickup: bool,
}

/// Serialises every write of the location settings and every push of them to Redis.
async fn lock_settings(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('edgestock-locations', 0))")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Every location, by priority then code in byte order.
///
/// # Errors
/// Database failures.
pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<LocationRow>> {
    sqlx::query_as!(
        LocationRow,
        r#"select code, name, kind, priority, active, ships, pickup, created_at, updated_at
           from locations order by priority, code collate "C""#
    )
    .fetch_all(db)
    .await
}

/// The location `code`.
///
/// # Errors
/// Database failures.
pub async fn get(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<LocationRow>> {
    sqlx::query_as!(
        LocationRow,
        r#"select code, name, kind, priority, active, ships, pickup, created_at, updated_at
           from locations where code = $1"#,
        code
    )
    .fetch_optional(db)
    .await
}

/// Fails with [`Error::UnknownLocation`] unless location `code` exists (holding it `for share`
/// until the transaction ends).
///
/// # Errors
/// [`Error::UnknownLocation`]; database failures.
pub async fn require(tx: &mut Transaction<'_, Postgres>, code: &str) -> Result<()> {
    let found = sqlx::query_scalar!(
        r#"select 1 as "one!" from locations where code = $1 for share"#,
        code
    )
    .fetch_optional(&mut **tx)
    .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::UnknownLocation {
            location: code.to_owned(),
        }),
    }
}

/// Creates or updates location `code`; true when created. Then writes every location's settings
/// to Redis ([`push_settings`]).
///
/// # Errors
/// [`Error::TooManyLocations`] for a 65th; [`Error::Redis`] when the push fails (the change is
/// committed in Postgres); database failures.
#[tracing::instrument(skip(state, spec))]
pub async fn put(
    state: &AppState,
    code: &Location,
    spec: &LocationSpec,
) -> Result<(bool, LocationRow)> {
    let mut tx = state.db.begin().await?;
    lock_settings(&mut tx).await?;
    let exists = get(&mut *tx, code.as_str()).await?.is_some();
    if !exists {
        let n = sqlx::query_scalar!(r#"select count(*) as "n!" from locations"#)
            .fetch_one(&mut *tx)
            .await?;
        if n >= MAX_LOCATIONS {
            return Err(Error::TooManyLocations);
        }
    }
    let row = sqlx::query_as!(
        LocationRow,
        r#"insert into locations (code, name, kind, priority, active, ships, pickup)
           values ($1, $2, $3, $4, $5, $6, $7)
           on conflict (code) do update set name = excluded.name, kind = excluded.kind,
               priority = excluded.priority, active = excluded.active, ships = excluded.ships,
               pickup = excluded.pickup, updated_at = now()
           returning code, name, kind, priority, active, ships, pickup, created_at, updated_at"#,
        code.as_str(),
        spec.name,
        spec.kind,
        spec.priority,
        spec.active,
        spec.ships,
        spec.pickup
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("locations_max_64", |_| Error::TooManyLocations)?;
    tx.commit().await?;
    push_settings(state).await?;
    Ok((!exists, row))
}

/// The settings Redis keeps, from stored rows.
fn settings_of(rows: &[LocationRow]) -> Result<Vec<LocationSettings>> {
    rows.iter()
        .map(|r| {
            Ok(LocationSettings {
                code: Location::parse(&r.code)
                    .map_err(|e| anyhow::anyhow!("stored location: {e}"))?,
                name: r.name.clone(),
                priority: r.priority,
                active: r.active,
                ships: r.ships,
                pickup: r.pickup,
            })
        })
        .collect()
}

/// The comparable form of settings (order-independent).
fn key_of(all: &[LocationSettings]) -> Vec<(String, String, i32, bool, bool, bool)> {
    let mut k: Vec<_> = all
        .iter()
        .map(|s| {
            (
                s.code.as_str().to_owned(),
                s.name.clone(),
                s.priority,
                s.active,
                s.ships,
                s.pickup,
            )
        })
        .collect();
    k.sort();
    k
}

/// Replaces Redis's copy of the settings with every location in Postgres, under the settings
/// lock (so pushes land in commit order).
///
/// # Errors
/// Redis failures; database failures.
#[tracing::instrument(skip_all)]
pub async fn push_settings(state: &AppState) -> Result<()> {
    let mut tx = state.db.begin().await?;
    lock_settings(&mut tx).await?;
    let all = settings_of(&list(&mut *tx).await?)?;
    state.redis.put_locations(&all).await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces one shard's copy of the settings (a shard being seeded again), under the lock.
///
/// # Errors
/// Redis failures; database failures.
pub async fn push_settings_to(state: &AppState, shard: ShardId) -> Result<()> {
    let mut tx = state.db.begin().await?;
    lock_settings(&mut tx).await?;
    let all = settings_of(&list(&mut *tx).await?)?;
    state.redis.put_locations_on(shard, &all).await?;
    tx.commit().await?;
    Ok(())
}

/// Compares Redis's settings with Postgres's; with `repair`, pushes them when they differ.
/// True when they differed (Redis without settings counts as different).
///
/// # Errors
/// Redis failures; database failures.
#[tracing::instrument(skip(state))]
pub async fn reconcile_settings(state: &AppState, repair: bool) -> Result<bool> {
    let mut tx = state.db.begin().await?;
    lock_settings(&mut tx).await?;
    let want = settings_of(&list(&mut *tx).await?)?;
    let mut differ = false;
    // Every shard keeps its own copy.
    for shard in state.redis.keys().all_shards() {
        let have = state.redis.locations_on(shard).await?;
        if have.is_none_or(|h| key_of(&h) != key_of(&want)) {
            differ = true;
            if repair {
                state.redis.put_locations_on(shard, &want).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(differ)
}

/// `sku`'s numbers at every location the ledger, Redis or a placed order has for it (by
/// priority, then code): on-hand from the ledger, held and available from Redis, committed from
/// the placed, unpaid orders.
///
/// # Errors
/// [`Error::UnknownSku`]; Redis failures; database failures.
pub async fn sku_levels(
    state: &AppState,
    sku: &edgestock_core::domain::Sku,
) -> Result<Vec<edgestock_api::origin::SkuLocationLevel>> {
    let known = sqlx::query_scalar!("select 1 as one from skus where sku = $1", sku.as_str())
        .fetch_optional(&state.db)
        .await?;
    if known.is_none() {
        return Err(Error::UnknownSku);
    }
    let ledger = super::ledger::location_levels(&state.db, sku.as_str()).await?;
    let committed = sqlx::query!(
        r#"select i.location, sum(i.qty)::int8 as "units!"
           from order_items i join orders o on o.id = i.order_id
           where i.sku = $1 and o.status = 'PENDING_PAYMENT'
           group by i.location"#,
        sku.as_str()
    )
    .fetch_all(&state.db)
    .await?;
    let redis = state.redis.stock_by_location(sku).await?;
    let order = list(&state.db).await?;
    let mut out = Vec::new();
    for loc in order {
        let l = ledger.iter().find(|r| r.location == loc.code);
        let r = redis.iter().find(|r| r.location.as_str() == loc.code);
        let c = committed.iter().find(|c| c.location == loc.code);
        if l.is_none() && r.is_none() && c.is_none() {
            continue;
        }
        out.push(edgestock_api::origin::SkuLocationLevel {
            location: loc.code,
            on_hand: l.map_or(0, |l| l.on_hand),
            held: r.map_or(0, |r| r.reserved),
            committed: c.map_or(0, |c| c.units),
            available: r.map_or(0, |r| (r.on_hand - r.reserved).max(0)),
        });
    }
    Ok(out)
}

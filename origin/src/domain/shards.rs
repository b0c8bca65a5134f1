//! Keeping every logical shard seeded: each shard's seeded marker and the epoch Postgres
//! recorded for it, and the sweeper's check of every shard ([`heal_shards`]): an emptied or
//! replaced shard is seeded again, a failed-over one reconciled, each on its own. See
//! `docs/sharding.md`.

use edgestock_core::keys::ShardId;

use super::error::Result;
use super::seed::{repin_placed_on, seed_one, Write};
use super::{ledger, locations};
use crate::state::AppState;

/// Marks every shard seeded under a new epoch (after [`super::seed::seed_all`] and
/// [`super::seed::repin_placed`]).
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
pub async fn mark_all_seeded(state: &AppState) -> Result<()> {
    for shard in state.redis.keys().all_shards() {
        mark_seeded(state, shard).await?;
    }
    Ok(())
}

/// Records a new seeding epoch for `shard` in Postgres, then writes it as the shard's seeded
/// marker: from now on its reserves and reads answer.
async fn mark_seeded(state: &AppState, shard: ShardId) -> Result<()> {
    let epoch = hex::encode(rand::random::<[u8; 8]>());
    sqlx::query(
        "insert into redis_shards (shard, epoch) values ($1, $2)
         on conflict (shard) do update set epoch = excluded.epoch, seeded_at = now()",
    )
    .bind(shard.0 as i32)
    .bind(&epoch)
    .execute(&state.db)
    .await?;
    state.redis.mark_seeded(shard, &epoch).await?;
    Ok(())
}

/// What [`heal_shards`] found on one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Healed {
    /// The shard had no seeded marker: it came back empty (a restart without persistence).
    /// Seeded again.
    Empty(ShardId),
    /// Its marker named another epoch than the last seeding's: a copy from before it, or a
    /// database of another layout. Seeded again.
    Replaced(ShardId),
    /// Another Redis serves it than at the last check (a new replication id: a replica was
    /// promoted, and asynchronous replication may have lost acknowledged writes). Reconciled:
    /// drifting locations seeded again, placed orders pinned again.
    FailedOver(ShardId),
}

impl Healed {
    /// The metric label: `empty`, `replaced` or `failed_over`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Empty(_) => "empty",
            Self::Replaced(_) => "replaced",
            Self::FailedOver(_) => "failed_over",
        }
    }
}

/// Checks every shard against what the origin last saw of it, and heals the ones that changed
/// (see [`Healed`]). Until an emptied shard is seeded its reserves answer 503 `shard_unseeded`.
/// A shard the origin never seeded is seeded too. A shard that cannot be checked or healed (its
/// Redis down) does not keep the others from healing: every shard is tried, each failure
/// logged, and the first one answered at the end.
///
/// # Errors
/// Database failures; 503 when a shard's Redis is unreachable.
pub async fn heal_shards(state: &AppState) -> Result<Vec<Healed>> {
    let mut healed = Vec::new();
    let mut failed = None;
    for shard in state.redis.keys().all_shards() {
        match heal_one(state, shard).await {
            Ok(Some(found)) => healed.push(found),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%shard, error = %e, "checking a redis shard failed; the others go on");
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(healed),
    }
}

/// Checks one shard, and heals it when it changed.
async fn heal_one(state: &AppState, shard: ShardId) -> Result<Option<Healed>> {
    let now = state.redis.shard_identity(shard).await?;
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("select epoch, replid from redis_shards where shard = $1")
            .bind(shard.0 as i32)
            .fetch_optional(&state.db)
            .await?;
    let found = match (now.epoch(), &row) {
        (None, _) => Healed::Empty(shard),
        (Some(e), Some((want, _))) if e != want => Healed::Replaced(shard),
        (Some(_), None) => Healed::Replaced(shard),
        (Some(_), Some((_, seen))) => match (seen.as_deref(), now.replid.as_deref()) {
            (Some(seen), Some(replid)) if seen != replid => Healed::FailedOver(shard),
            (None, Some(_)) => {
                record_replid(state, shard, now.replid.as_deref()).await?;
                return Ok(None);
            }
            _ => return Ok(None),
        },
    };
    tracing::warn!(?found, "a redis shard changed under the origin; healing it");
    let n = match found {
        Healed::FailedOver(_) => reconcile_shard(state, shard).await?,
        _ => seed_shard(state, shard).await?,
    };
    tracing::info!(?found, skus = n, "redis shard healed");
    state.metrics.shard_healed(found.kind());
    // The Redis checked before the heal is the one healed: should another take over meanwhile,
    // the next pass sees its new replication id.
    record_replid(state, shard, now.replid.as_deref()).await?;
    Ok(Some(found))
}

async fn record_replid(state: &AppState, shard: ShardId, replid: Option<&str>) -> Result<()> {
    sqlx::query("update redis_shards set replid = $2 where shard = $1")
        .bind(shard.0 as i32)
        .bind(replid)
        .execute(&state.db)
        .await?;
    Ok(())
}

/// Reconciles one shard after a failover: the locations of its SKUs that drift from the ledger
/// are seeded again, and the placed orders' holds it lost are pinned again.
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
pub async fn reconcile_shard(state: &AppState, shard: ShardId) -> Result<usize> {
    locations::push_settings_to(state, shard).await?;
    let mut drifting = 0;
    for level in ledger::levels(&state.db, None).await? {
        if state.redis.keys().shard_of(&level.sku) == shard {
            let d = seed_one(state, &level.sku, Write::Drifting).await?;
            drifting += usize::from(d.locations.iter().any(|l| l.repaired));
        }
    }
    repin_placed_on(state, shard).await?;
    Ok(drifting)
}

/// Seeds one shard: its copy of the settings, every SKU that lives on it, the placed orders'
/// holds, then a new seeded marker.
///
/// # Errors
/// Database failures; 503 when Redis is unreachable.
pub async fn seed_shard(state: &AppState, shard: ShardId) -> Result<usize> {
    locations::push_settings_to(state, shard).await?;
    let mut n = 0;
    for level in ledger::levels(&state.db, None).await? {
        if state.redis.keys().shard_of(&level.sku) == shard {
            seed_one(state, &level.sku, Write::All).await?;
            n += 1;
        }
    }
    repin_placed_on(state, shard).await?;
    mark_seeded(state, shard).await?;
    Ok(n)
}

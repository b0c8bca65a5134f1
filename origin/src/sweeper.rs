//! The background sweeper: reaps expired holds of SKUs nobody touches (correctness never depends
//! on it: every write script reaps its SKU first), and expires placed orders not paid by their
//! deadline (their holds are pinned until deadline + grace, so Redis alone would free them at
//! that moment too; the order must say so). Each pass first checks that every Redis shard still
//! carries its seeding (a shard that came back empty is seeded again), then sweeps every shard.
//! Runs every `SWEEP_INTERVAL_MS`.

use tokio::sync::watch;

use crate::state::AppState;

/// SKUs visited per pass.
const MAX_SKUS: usize = 100;
/// Unpaid orders expired per pass.
const MAX_EXPIRIES: i64 = 100;

/// Sweeps until `shutdown` flips.
pub async fn run_sweeper(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = crate::domain::shards::heal_shards(&state).await {
            tracing::warn!(error = %e, "checking the redis shards' seeding failed; retrying");
        }
        for shard in state.redis.keys().all_shards() {
            match state.redis.sweep(shard, MAX_SKUS).await {
                Ok(r) if r.units_reaped > 0 => {
                    tracing::info!(
                        %shard,
                        skus = r.skus,
                        units = r.units_reaped,
                        "sweeper reaped expired holds"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(%shard, error = %e, "sweep failed; retrying"),
            }
        }
        match crate::domain::expiry::expire_due(&state, MAX_EXPIRIES).await {
            Ok(n) if n > 0 => tracing::info!(orders = n, "expired unpaid orders"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiring unpaid orders failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.sweep_interval) => {}
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("sweeper stopped");
}

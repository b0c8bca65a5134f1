//! The webhook worker: sends due deliveries every `WEBHOOK_INTERVAL_MS`, and the backlog figures
//! the metrics read.

use tokio::sync::watch;

use super::delivery::deliver_due;
use crate::state::AppState;

/// Deliveries claimed per round.
const BATCH: i64 = 64;
/// Rounds per tick at most, before sleeping (a full round goes on at once).
const MAX_ROUNDS: usize = 50;

/// Sends due deliveries until `shutdown` flips.
pub async fn run_worker(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        for _ in 0..MAX_ROUNDS {
            match deliver_due(&state, BATCH).await {
                Ok(n) if n > 0 => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker database error");
                    break;
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.webhook_interval) => {}
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("webhook worker stopped");
}

/// Pending deliveries to enabled endpoints, and the state of the endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    /// Deliveries not yet done, to enabled endpoints.
    pub pending: i64,
    /// Age in seconds of the oldest of them (0 when none).
    pub oldest_age_seconds: f64,
    /// Endpoints disabled after failures.
    pub disabled_endpoints: i64,
}

/// The backlog now.
///
/// # Errors
/// Database failures.
pub async fn backlog(db: &sqlx::PgPool) -> sqlx::Result<Backlog> {
    let r = sqlx::query!(
        r#"select
               (select count(*) from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id
                where d.done_at is null and w.enabled) as "pending!",
               (select coalesce(extract(epoch from now() - min(d.created_at))::float8, 0)
                from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id
                where d.done_at is null and w.enabled) as "age!",
               (select count(*) from webhook_endpoints where not enabled) as "disabled!""#
    )
    .fetch_one(db)
    .await?;
    Ok(Backlog {
        pending: r.pending,
        oldest_age_seconds: r.age,
        disabled_endpoints: r.disabled,
    })
}

//! The outbox worker: applies due rows in the background, one transaction each.

use tokio::sync::watch;

use super::apply::{begin, execute, Attempt, Row};
use super::OutboxKind;
use crate::state::AppState;

/// Applies up to `limit` due rows, one transaction each; stops early when Redis is unavailable.
/// Returns how many rows were finished.
///
/// # Errors
/// Database failures.
pub async fn drain(state: &AppState, limit: usize) -> sqlx::Result<usize> {
    let mut done = 0;
    for _ in 0..limit {
        let mut tx = begin(&state.db).await?;
        let row = sqlx::query_as!(
            Row,
            r#"select id, kind as "kind: OutboxKind", payload, attempts from outbox
               where done_at is null and next_attempt_at <= now()
               order by next_attempt_at limit 1 for update skip locked"#
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { break };
        match execute(state, tx, row).await? {
            Attempt::Done(_) => done += 1,
            Attempt::Failed(e) if e.is_unavailable() => break,
            Attempt::Failed(_) | Attempt::Skipped => {}
        }
    }
    Ok(done)
}

/// Drains due rows every `OUTBOX_INTERVAL_MS` until `shutdown` flips.
pub async fn run_worker(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let interval = state.config.outbox_interval;
    loop {
        match drain(&state, 500).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "outbox drained"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox worker database error"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("outbox worker stopped");
}

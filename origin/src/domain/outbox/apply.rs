//! One attempt of one row: take its locks, run its [`Effect`], record the outcome (and move its
//! order on through [`crate::domain::lifecycle`]), or reschedule it with a backoff.

use std::time::Duration;

use sqlx::{Postgres, Transaction};
use upstash_rest::Error as RedisError;

use super::effect::{Applied, Effect};
use super::OutboxKind;
use crate::domain::{ledger, lifecycle};
use crate::state::AppState;

/// Longest wait between two attempts of one row.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Result of one attempt.
#[derive(Debug)]
pub enum Attempt {
    /// The row is done.
    Done(Applied),
    /// Redis failed (or the payload is malformed); the row is rescheduled.
    Failed(RedisError),
    /// Someone else holds the row, or it is already done.
    Skipped,
}

/// A row as selected for an attempt.
pub(super) struct Row {
    pub(super) id: i64,
    pub(super) kind: OutboxKind,
    pub(super) payload: serde_json::Value,
    pub(super) attempts: i32,
}

/// A row with its payload parsed once.
struct Job {
    id: i64,
    kind: OutboxKind,
    /// The parse error is kept: the attempt fails with it and the row is retried with backoff.
    effect: Result<Effect, String>,
    attempts: i32,
}

impl From<Row> for Job {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            effect: Effect::from_row(r.kind, r.payload).map_err(|e| format!("outbox payload: {e}")),
            attempts: r.attempts,
        }
    }
}

/// Marks the row done and moves its order on.
async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    state: &AppState,
    job: &Job,
    effect: &Effect,
    applied: &Applied,
) -> sqlx::Result<()> {
    let outcome = match applied {
        Applied::Applied => "applied",
        Applied::Short { .. } => "not_applied",
    };
    let Effect::Commit(order) = effect else {
        sqlx::query!(
            r#"update outbox set done_at = now(), outcome = $2, attempts = attempts + 1 where id = $1"#,
            job.id,
            outcome
        )
        .execute(&mut **tx)
        .await?;
        state.metrics.outbox(job.kind.as_str(), outcome);
        return Ok(());
    };
    let order_id = order.order_id;
    match applied {
        Applied::Applied => {
            // One statement: the row is done and the order's commit applied.
            if lifecycle::mark_commit_applied(tx, job.id, order_id).await? {
                state.metrics.order("commit_applied");
            }
        }
        Applied::Short {
            sku,
            available,
            location,
        } => {
            sqlx::query!(
                r#"update outbox set done_at = now(), outcome = 'not_applied', attempts = attempts + 1 where id = $1"#,
                job.id
            )
            .execute(&mut **tx)
            .await?;
            tracing::error!(%order_id, %sku, %location, available, "late commit found no units: order needs attention");
            let moved = lifecycle::mark_needs_attention(tx, order_id).await?;
            sqlx::query!(
                r#"insert into stock_events (stream_id, kind, sku, reservation_id, qty, at, location)
                   values ($1, 'needs_attention', $2, $3, $4, now(), $5)
                   on conflict (stream, stream_id) do nothing"#,
                format!("origin:needs_attention:{order_id}"),
                sku,
                Some(order.reservation_id.as_str()),
                *available,
                location.as_str()
            )
            .execute(&mut **tx)
            .await?;
            if moved {
                state.metrics.order("needs_attention");
            }
        }
    }
    state.metrics.outbox(job.kind.as_str(), outcome);
    Ok(())
}

fn backoff(attempts: i32) -> Duration {
    let exp = Duration::from_millis(200).saturating_mul(1u32 << attempts.clamp(0, 16));
    let capped = exp.min(MAX_BACKOFF);
    // Up to 20% jitter so replicas do not retry in lockstep.
    capped + capped.mul_f64(rand_fraction() * 0.2)
}

fn rand_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// Opens the transaction of one apply. Its commit does not wait for the WAL flush
/// (`synchronous_commit = off`): it only marks an effect done (or reschedules it), and a mark
/// lost in a Postgres crash only makes the row apply again, which every effect tolerates.
pub(super) async fn begin(db: &sqlx::PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    db.begin_with("begin; set local synchronous_commit = off")
        .await
}

/// Takes the shared SKU locks of a row the caller holds, then settles it.
pub(super) async fn execute(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    row: Row,
) -> sqlx::Result<Attempt> {
    let job = Job::from(row);
    if let Ok(effect) = &job.effect {
        for sku in effect.skus() {
            ledger::lock_sku(&mut tx, &sku, false).await?;
        }
    }
    settle(state, tx, job).await
}

/// Runs the effect of a row the caller holds (row lock and SKU locks), records the outcome and
/// commits.
async fn settle(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    job: Job,
) -> sqlx::Result<Attempt> {
    let ran = match &job.effect {
        Ok(effect) => effect.run(&state.redis).await.map(|a| (effect, a)),
        Err(e) => Err(RedisError::Malformed(e.clone())),
    };
    let attempt = match ran {
        Ok((effect, applied)) => {
            finish(&mut tx, state, &job, effect, &applied).await?;
            Attempt::Done(applied)
        }
        Err(e) => {
            tracing::warn!(outbox_id = job.id, kind = job.kind.as_str(), attempts = job.attempts + 1, error = %e, "outbox attempt failed");
            state.metrics.outbox(job.kind.as_str(), "retry");
            sqlx::query!(
                r#"update outbox set attempts = attempts + 1, last_error = $2,
                       next_attempt_at = now() + make_interval(secs => $3)
                   where id = $1"#,
                job.id,
                e.to_string(),
                backoff(job.attempts).as_secs_f64()
            )
            .execute(&mut *tx)
            .await?;
            Attempt::Failed(e)
        }
    };
    tx.commit().await?;
    Ok(attempt)
}

/// Applies row `id` now unless it is done or another worker holds it.
///
/// # Errors
/// Database failures (Redis failures are recorded on the row and returned as [`Attempt::Failed`]).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn apply_one(state: &AppState, id: i64) -> sqlx::Result<Attempt> {
    let mut tx = begin(&state.db).await?;
    let row = sqlx::query_as!(
        Row,
        r#"select id, kind as "kind: OutboxKind", payload, attempts from outbox
           where id = $1 and done_at is null for update skip locked"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    match row {
        Some(row) => execute(state, tx, row).await,
        None => Ok(Attempt::Skipped),
    }
}

/// The confirm path's [`apply_one`] of the commit row `id` it just recorded with `effect`, in
/// fewer round trips: the caller knows the SKUs, so one statement takes the row lock (skipping
/// a row another worker holds, one already done, or one a cancel turned into a release) and the
/// shared SKU locks; then the commit script, then one statement marking the row done and the
/// order confirmed.
///
/// # Errors
/// Database failures (Redis failures are recorded on the row and returned as [`Attempt::Failed`]).
#[tracing::instrument(level = "debug", skip(state, effect))]
pub async fn apply_commit(state: &AppState, id: i64, effect: Effect) -> sqlx::Result<Attempt> {
    let skus = effect.skus();
    let mut tx = begin(&state.db).await?;
    let attempts = sqlx::query_scalar!(
        r#"select o.attempts from outbox o,
                  (select count(pg_advisory_xact_lock_shared(hashtextextended('edgestock-sku:' || s, 0))) as n
                   from (select distinct s from unnest($2::text[]) as s order by 1) as sorted) as locks
           where o.id = $1 and o.done_at is null and o.kind = 'commit'
           for update of o skip locked"#,
        id,
        &skus
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(attempts) = attempts else {
        tx.rollback().await?;
        return Ok(Attempt::Skipped);
    };
    let job = Job {
        id,
        kind: effect.kind(),
        effect: Ok(effect),
        attempts,
    };
    settle(state, tx, job).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        assert!(backoff(0) >= Duration::from_millis(200));
        assert!(backoff(0) <= Duration::from_millis(240));
        assert!(backoff(3) >= Duration::from_millis(1600));
        assert!(backoff(30) <= MAX_BACKOFF.mul_f64(1.2));
    }
}

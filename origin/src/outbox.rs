//! The outbox: Redis effects recorded in the same Postgres transaction as the change they mirror,
//! then applied (docs/design.md#confirm-protocol step 3).
//!
//! Each row is applied in its own transaction that holds the row (`for update skip locked`, so
//! replicas never apply the same row at once) and the shared advisory lock of its SKUs (see
//! [`crate::ledger::lock_sku`]); the Redis call and marking the row done happen inside it. Every
//! effect is idempotent in Redis (commit by reservation status, adjust by movement id, release by
//! status), so a crash between the Redis call and the commit of the row only causes a harmless
//! repeat. Failures keep the row with `attempts`, `last_error` and an exponential backoff.

use std::time::Duration;

use edgestock_core::domain::Sku;
use edgestock_core::scripts::{CommitOutcome, Item, LevelOutcome, ReleaseOutcome};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use tokio::sync::watch;
use upstash_rest::{cmd, Error as RedisError};
use uuid::Uuid;

use crate::state::AppState;

/// Longest wait between two attempts of one row.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// `outbox_kind` in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "outbox_kind", rename_all = "lowercase")]
pub enum OutboxKind {
    /// Commit an order's reservation ([`OrderPayload`]).
    Commit,
    /// Release the hold of an order cancelled before its commit ran ([`OrderPayload`]).
    Release,
    /// Give a cancelled order's units back ([`OrderPayload`]).
    Restock,
    /// Admin stock change ([`AdjustPayload`]).
    Adjust,
}

impl OutboxKind {
    /// The Postgres label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Release => "release",
            Self::Restock => "restock",
            Self::Adjust => "adjust",
        }
    }
}

/// One line of an order effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayloadItem {
    /// The SKU.
    pub sku: String,
    /// Units (positive).
    pub qty: i32,
    /// The movement this line applies (restock/release: the cancellation movement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement_id: Option<String>,
}

/// Payload of commit, release and restock rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPayload {
    /// The order.
    pub order_id: Uuid,
    /// Its reservation.
    pub reservation_id: String,
    /// Lines.
    pub items: Vec<PayloadItem>,
}

/// Payload of adjust rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdjustPayload {
    /// The SKU.
    pub sku: String,
    /// Signed change of on-hand (0: only the threshold, or creating the SKU).
    pub delta: i64,
    /// The movement (Redis dedupes by it); none for a threshold-only change.
    pub movement_id: Option<String>,
    /// New low-stock threshold, when it changed.
    pub low: Option<i64>,
    /// True when the SKU is new: Redis must create it even with a zero delta.
    #[serde(default)]
    pub create: bool,
}

/// Inserts a row, not due before `delay` (the writer's head start).
///
/// # Errors
/// Database failures.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    kind: OutboxKind,
    payload: &serde_json::Value,
    delay: Duration,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"insert into outbox (kind, payload, next_attempt_at)
           values ($1::text::outbox_kind, $2, now() + make_interval(secs => $3))
           returning id"#,
        kind.as_str(),
        payload,
        delay.as_secs_f64()
    )
    .fetch_one(&mut **tx)
    .await
}

/// What applying a row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Redis took the effect.
    Applied,
    /// A late commit found `sku` short: nothing changed in Redis; the order needs attention.
    Short {
        /// The short SKU.
        sku: String,
        /// Units available for it.
        available: i64,
    },
}

/// Result of one attempt.
#[derive(Debug)]
pub enum Attempt {
    /// The row is done.
    Done(Applied),
    /// Redis failed; the row is rescheduled.
    Failed(RedisError),
    /// Someone else holds the row, or it is already done.
    Skipped,
}

struct Row {
    id: i64,
    kind: OutboxKind,
    payload: serde_json::Value,
    attempts: i32,
}

fn items_of(p: &OrderPayload) -> Result<Vec<Item>, RedisError> {
    p.items
        .iter()
        .map(|i| {
            Ok(Item {
                sku: Sku::parse(&i.sku).map_err(|e| RedisError::Malformed(e.to_string()))?,
                qty: u32::try_from(i.qty).map_err(|e| RedisError::Malformed(e.to_string()))?,
            })
        })
        .collect()
}

fn skus_of(row: &Row) -> Vec<String> {
    let mut skus: Vec<String> = match row.kind {
        OutboxKind::Adjust => serde_json::from_value::<AdjustPayload>(row.payload.clone())
            .map(|p| vec![p.sku])
            .unwrap_or_default(),
        _ => serde_json::from_value::<OrderPayload>(row.payload.clone())
            .map(|p| p.items.into_iter().map(|i| i.sku).collect())
            .unwrap_or_default(),
    };
    skus.sort();
    skus.dedup();
    skus
}

/// Runs the row's effect against Redis.
async fn effect(state: &AppState, row: &Row) -> Result<Applied, RedisError> {
    let redis = &state.redis;
    let bad = |e: serde_json::Error| RedisError::Malformed(format!("outbox payload: {e}"));
    if row.kind == OutboxKind::Adjust {
        let p: AdjustPayload = serde_json::from_value(row.payload.clone()).map_err(bad)?;
        let sku = Sku::parse(&p.sku).map_err(|e| RedisError::Malformed(e.to_string()))?;
        if let Some(low) = p.low {
            let key = redis.keys().stock(sku.as_str());
            redis
                .client()
                .command(&cmd("HSET").arg(key).arg("low").arg(low))
                .await?;
        }
        return match &p.movement_id {
            Some(mid) if p.delta != 0 || p.create => {
                match redis.adjust(&sku, p.delta, mid).await? {
                    LevelOutcome::BelowReserved { on_hand, reserved } => {
                        Err(RedisError::Malformed(format!(
                            "below_reserved: on_hand {on_hand}, reserved {reserved}; retrying"
                        )))
                    }
                    _ => Ok(Applied::Applied),
                }
            }
            _ => Ok(Applied::Applied),
        };
    }
    let p: OrderPayload = serde_json::from_value(row.payload.clone()).map_err(bad)?;
    let items = items_of(&p)?;
    let restock = |p: &OrderPayload| {
        let p = p.clone();
        async move {
            for (it, line) in items_of(&p)?.iter().zip(&p.items) {
                let mid = line.movement_id.clone().unwrap_or_default();
                redis.adjust(&it.sku, i64::from(it.qty), &mid).await?;
            }
            Ok::<_, RedisError>(Applied::Applied)
        }
    };
    match row.kind {
        OutboxKind::Commit => match redis.commit(&p.reservation_id, &items).await? {
            CommitOutcome::Short { sku, available } => Ok(Applied::Short { sku, available }),
            CommitOutcome::Late => {
                tracing::warn!(reservation = %p.reservation_id, "late commit took units from available");
                Ok(Applied::Applied)
            }
            CommitOutcome::Committed | CommitOutcome::AlreadyCommitted => Ok(Applied::Applied),
        },
        OutboxKind::Release => match redis.release(&p.reservation_id, true).await? {
            // The commit ran before the cancel rewrote this row: give the units back instead.
            ReleaseOutcome::Committed => restock(&p).await,
            _ => Ok(Applied::Applied),
        },
        OutboxKind::Restock => restock(&p).await,
        OutboxKind::Adjust => unreachable!("handled above"),
    }
}

/// Marks the row done and moves its order on.
async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    state: &AppState,
    row: &Row,
    applied: &Applied,
) -> sqlx::Result<()> {
    let outcome = match applied {
        Applied::Applied => "applied",
        Applied::Short { .. } => "not_applied",
    };
    let order_id = (row.kind == OutboxKind::Commit)
        .then(|| row.payload.get("order_id").and_then(|v| v.as_str()))
        .flatten()
        .and_then(|s| Uuid::parse_str(s).ok());
    let Some(order_id) = order_id else {
        sqlx::query!(
            r#"update outbox set done_at = now(), outcome = $2, attempts = attempts + 1 where id = $1"#,
            row.id,
            outcome
        )
        .execute(&mut **tx)
        .await?;
        state.metrics.outbox(row.kind.as_str(), outcome);
        return Ok(());
    };
    match applied {
        Applied::Applied => {
            // One statement: the row is done and its order confirmed.
            let n = sqlx::query!(
                r#"with done as (
                       update outbox set done_at = now(), outcome = 'applied', attempts = attempts + 1
                       where id = $1
                   )
                   update orders set status = 'CONFIRMED', updated_at = now()
                   where id = $2 and status = 'PENDING'"#,
                row.id,
                order_id
            )
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n > 0 {
                state.metrics.order("confirmed");
            }
        }
        Applied::Short { sku, available } => {
            sqlx::query!(
                r#"update outbox set done_at = now(), outcome = 'not_applied', attempts = attempts + 1 where id = $1"#,
                row.id
            )
            .execute(&mut **tx)
            .await?;
            tracing::error!(%order_id, %sku, available, "late commit found no units: order needs attention");
            let n = sqlx::query!(
                r#"update orders set status = 'NEEDS_ATTENTION', updated_at = now() where id = $1 and status = 'PENDING'"#,
                order_id
            )
            .execute(&mut **tx)
            .await?
            .rows_affected();
            let reservation = row.payload.get("reservation_id").and_then(|v| v.as_str());
            sqlx::query!(
                r#"insert into stock_events (stream_id, kind, sku, reservation_id, qty, at)
                   values ($1, 'needs_attention', $2, $3, $4, now()) on conflict (stream_id) do nothing"#,
                format!("origin:needs_attention:{order_id}"),
                sku,
                reservation,
                *available
            )
            .execute(&mut **tx)
            .await?;
            if n > 0 {
                state.metrics.order("needs_attention");
            }
        }
    }
    state.metrics.outbox(row.kind.as_str(), outcome);
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
async fn begin(db: &sqlx::PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    db.begin_with("begin; set local synchronous_commit = off")
        .await
}

async fn execute(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    row: Row,
) -> sqlx::Result<Attempt> {
    for sku in skus_of(&row) {
        crate::ledger::lock_sku(&mut tx, &sku, false).await?;
    }
    settle(state, tx, row).await
}

/// Runs the effect of a row the caller holds (row lock and SKU locks), records the outcome and
/// commits.
async fn settle(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    row: Row,
) -> sqlx::Result<Attempt> {
    let attempt = match effect(state, &row).await {
        Ok(applied) => {
            finish(&mut tx, state, &row, &applied).await?;
            Attempt::Done(applied)
        }
        Err(e) => {
            tracing::warn!(outbox_id = row.id, kind = row.kind.as_str(), attempts = row.attempts + 1, error = %e, "outbox attempt failed");
            state.metrics.outbox(row.kind.as_str(), "retry");
            sqlx::query!(
                r#"update outbox set attempts = attempts + 1, last_error = $2,
                       next_attempt_at = now() + make_interval(secs => $3)
                   where id = $1"#,
                row.id,
                e.to_string(),
                backoff(row.attempts).as_secs_f64()
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

/// The confirm path's [`apply_one`] of the commit row `id` it just recorded with `payload`, in
/// fewer round trips: the caller knows the SKUs, so one statement takes the row lock (skipping
/// a row another worker holds, one already done, or one a cancel turned into a release) and the
/// shared SKU locks; then the commit script, then one statement marking the row done and the
/// order confirmed.
///
/// # Errors
/// Database failures (Redis failures are recorded on the row and returned as [`Attempt::Failed`]).
#[tracing::instrument(level = "debug", skip(state, payload, skus))]
pub async fn apply_commit(
    state: &AppState,
    id: i64,
    payload: serde_json::Value,
    skus: &[String],
) -> sqlx::Result<Attempt> {
    let mut tx = begin(&state.db).await?;
    let attempts = sqlx::query_scalar!(
        r#"select o.attempts from outbox o,
                  (select count(pg_advisory_xact_lock_shared(hashtextextended('edgestock-sku:' || s, 0))) as n
                   from (select distinct s from unnest($2::text[]) as s order by 1) as sorted) as locks
           where o.id = $1 and o.done_at is null and o.kind = 'commit'
           for update of o skip locked"#,
        id,
        skus
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(attempts) = attempts else {
        tx.rollback().await?;
        return Ok(Attempt::Skipped);
    };
    let row = Row {
        id,
        kind: OutboxKind::Commit,
        payload,
        attempts,
    };
    settle(state, tx, row).await
}

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

/// The outbox worker: drains due rows every `OUTBOX_INTERVAL_MS` until `shutdown` flips.
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

/// Backlog size and the age in seconds of the oldest pending row.
///
/// # Errors
/// Database failures.
pub async fn backlog(db: &sqlx::PgPool) -> sqlx::Result<(i64, f64)> {
    let r = sqlx::query!(
        r#"select count(*) as "n!",
                  coalesce(extract(epoch from now() - min(created_at))::float8, 0) as "age!"
           from outbox where done_at is null"#
    )
    .fetch_one(db)
    .await?;
    Ok((r.n, r.age))
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

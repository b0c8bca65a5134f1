//! Copies every shard's Redis `events` stream into `stock_events`, exactly once: each batch is
//! inserted in the transaction that moves that stream's checkpoint, holding the checkpoint row's
//! lock (so replicas take turns), and a (stream, stream id) pair is unique in the table (shard
//! streams reuse ids). The copier must keep up with each stream's `MAXLEN ~ 100000` cap; events
//! trimmed before being copied are lost to the audit trail.

use time::OffsetDateTime;
use tokio::sync::watch;

use edgestock_core::keys::ShardId;

use super::error::Result;
use crate::state::AppState;

/// Events read per batch.
const BATCH: usize = 500;

/// Copies one batch of every shard's stream; returns how many events were copied (and whether
/// some stream filled a whole batch, so more may wait).
///
/// # Errors
/// Database failures; 503 when Redis is unreachable (after the other shards were copied).
pub async fn copy_batch(state: &AppState) -> Result<(usize, bool)> {
    let (mut copied, mut full, mut failed) = (0, false, None);
    for shard in state.redis.keys().all_shards() {
        match copy_shard_batch(state, shard).await {
            Ok(n) => {
                copied += n;
                full |= n == BATCH;
            }
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) if copied == 0 => Err(e),
        _ => Ok((copied, full)),
    }
}

/// Copies one batch of one shard's stream; returns how many events were copied.
async fn copy_shard_batch(state: &AppState, shard: ShardId) -> Result<usize> {
    let stream = state.redis.keys().events(shard);
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        r#"insert into stream_checkpoints (stream, last_id) values ($1, '0') on conflict do nothing"#,
        stream
    )
    .execute(&mut *tx)
    .await?;
    let last = sqlx::query_scalar!(
        r#"select last_id from stream_checkpoints where stream = $1 for update"#,
        stream
    )
    .fetch_one(&mut *tx)
    .await?;
    let events = state.redis.events_after(shard, &last, BATCH).await?;
    let Some(newest) = events.last().map(|e| e.id.clone()) else {
        tx.rollback().await?;
        return Ok(0);
    };
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let kinds: Vec<String> = events.iter().map(|e| e.kind.clone()).collect();
    let skus: Vec<String> = events.iter().map(|e| e.sku.clone()).collect();
    let rids: Vec<Option<String>> = events
        .iter()
        .map(|e| (!e.reservation_id.is_empty()).then(|| e.reservation_id.clone()))
        .collect();
    let qtys: Vec<i64> = events.iter().map(|e| e.qty).collect();
    let ats: Vec<i64> = events.iter().map(|e| e.at_ms).collect();
    let locations: Vec<Option<String>> = events.iter().map(|e| e.location.clone()).collect();
    sqlx::query!(
        r#"insert into stock_events (stream, stream_id, kind, sku, reservation_id, qty, at, location)
           select $8, sid, kind, sku, rid, qty, to_timestamp(at_ms / 1000.0), loc
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],
                       $7::text[])
                as t(sid, kind, sku, rid, qty, at_ms, loc)
           on conflict (stream, stream_id) do nothing"#,
        &ids,
        &kinds,
        &skus,
        &rids as &[Option<String>],
        &qtys,
        &ats,
        &locations as &[Option<String>],
        stream
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"update stream_checkpoints set last_id = $2 where stream = $1"#,
        stream,
        newest
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(events.len())
}

/// Copies until the stream is drained, then waits `EVENTS_INTERVAL_MS`; stops on shutdown.
pub async fn run_copier(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        let mut wait = true;
        match copy_batch(&state).await {
            Ok((_, full)) => wait = !full,
            Err(e) => tracing::warn!(error = %e, "events copier failed; retrying"),
        }
        if wait {
            tokio::select! {
                _ = tokio::time::sleep(state.config.events_interval) => {}
                _ = shutdown.changed() => break,
            }
        } else if *shutdown.borrow() {
            break;
        }
    }
    tracing::info!("events copier stopped");
}

/// One audit trail entry: a hold event copied from Redis or a ledger movement.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// `hold` (from the Redis stream, or raised by the origin) or `ledger` (a stock movement).
    pub source: String,
    /// Row id within its source.
    pub id: i64,
    /// Event type or movement kind.
    pub kind: String,
    /// The SKU.
    pub sku: String,
    /// Reservation id, for hold events.
    pub reservation_id: Option<String>,
    /// Order id, for sales and cancellations.
    pub order_id: Option<uuid::Uuid>,
    /// Movement id, for ledger entries.
    pub movement_id: Option<String>,
    /// The location (ledger entries).
    pub location: Option<String>,
    /// Units (signed for movements).
    pub qty: i64,
    /// When.
    pub at: OffsetDateTime,
}

/// A page cursor: entries strictly older than this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Time in microseconds since the epoch.
    pub at_us: i64,
    /// Source (`hold` or `ledger`).
    pub source: String,
    /// Row id.
    pub id: i64,
}

impl Cursor {
    /// Parses `<at_us>.<source>.<id>`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.splitn(3, '.');
        let at_us = it.next()?.parse().ok()?;
        let source = it.next()?.to_owned();
        let id = it.next()?.parse().ok()?;
        matches!(source.as_str(), "hold" | "ledger").then_some(Self { at_us, source, id })
    }

    /// The cursor after `e`.
    pub fn after(e: &AuditEntry) -> String {
        let at_us = (e.at.unix_timestamp_nanos() / 1000) as i64;
        format!("{at_us}.{}.{}", e.source, e.id)
    }
}

/// The audit trail, newest first.
///
/// # Errors
/// Database failures.
pub async fn audit_trail(
    db: &sqlx::PgPool,
    sku: Option<&str>,
    before: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    let before_at = before.map(|c| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(c.at_us) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    });
    sqlx::query_as!(
        AuditEntry,
        r#"select source as "source!", id as "id!", kind as "kind!", sku as "sku!",
                  reservation_id, order_id, movement_id, location, qty as "qty!", at as "at!"
           from (
               select 'hold' as source, e.id, e.kind, e.sku, e.reservation_id, null::uuid as order_id,
                      null::text as movement_id, e.location, e.qty,
                      date_trunc('microseconds', e.at) as at
               from stock_events e where $1::text is null or e.sku = $1
               union all
               select 'ledger', m.id, m.kind::text, m.sku, null, m.order_id, m.movement_id,
                      m.location, m.qty::int8, date_trunc('microseconds', m.created_at)
               from stock_movements m where $1::text is null or m.sku = $1
           ) t
           where $2::timestamptz is null or (t.at, t.source, t.id) < ($2, $3::text, $4::int8)
           order by t.at desc, t.source desc, t.id desc
           limit $5"#,
        sku,
        before_at,
        before.map(|c| c.source.clone()),
        before.map(|c| c.id),
        limit
    )
    .fetch_all(db)
    .await
}

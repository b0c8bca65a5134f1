//! The outbox: Redis effects recorded in the same Postgres transaction as the change they mirror,
//! then applied (`docs/design.md`, the confirm protocol, step 3).
//!
//! Each row is applied in its own transaction that holds the row (`for update skip locked`, so
//! replicas never apply the same row at once) and the shared advisory lock of its SKUs (see
//! [`crate::domain::ledger::lock_sku`]); the Redis call and marking the row done happen inside
//! it. Every effect is idempotent in Redis (commit by reservation status, adjust by movement id,
//! release by status), so a crash between the Redis call and the commit of the row only causes a
//! harmless repeat. Failures keep the row with `attempts`, `last_error` and an exponential
//! backoff.
//!
//! # Layout
//! - [`Effect`]: the typed payload of a row, one variant per kind (`effect.rs`).
//! - [`apply_one`], [`apply_commit`]: one attempt of one row (`apply.rs`).
//! - [`drain`], [`run_worker`]: the background worker (`worker.rs`).

use std::time::Duration;

use sqlx::{Postgres, Transaction};

mod apply;
mod effect;
mod worker;

pub use apply::{apply_commit, apply_one, Attempt};
pub use effect::{AdjustPayload, Applied, Effect, OrderPayload, PayloadItem, TransferPayload};
pub use worker::{drain, run_worker};

use super::error::Result;

/// `outbox_kind` in Postgres: the tag of [`Effect`], also kept in its own column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "outbox_kind", rename_all = "lowercase")]
pub enum OutboxKind {
    /// [`Effect::Commit`].
    Commit,
    /// [`Effect::Release`].
    Release,
    /// [`Effect::Restock`].
    Restock,
    /// [`Effect::Adjust`].
    Adjust,
    /// [`Effect::Transfer`].
    Transfer,
}

impl OutboxKind {
    /// The Postgres label (and the `kind` tag of the payload).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Release => "release",
            Self::Restock => "restock",
            Self::Adjust => "adjust",
            Self::Transfer => "transfer",
        }
    }
}

/// Inserts a row applying `effect`, not due before `delay` (the writer's head start).
///
/// # Errors
/// Database failures.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    effect: &Effect,
    delay: Duration,
) -> Result<i64> {
    let payload = effect.to_json()?;
    Ok(sqlx::query_scalar!(
        r#"insert into outbox (kind, payload, next_attempt_at)
           values ($1::text::outbox_kind, $2, now() + make_interval(secs => $3))
           returning id"#,
        effect.kind().as_str(),
        payload,
        delay.as_secs_f64()
    )
    .fetch_one(&mut **tx)
    .await?)
}

/// Turns the not-yet-applied commit row `id` into a release of the hold (an order cancelled
/// before its commit ran), due now.
///
/// # Errors
/// Database failures.
pub async fn rewrite_as_release(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    payload: OrderPayload,
) -> Result<()> {
    let payload = Effect::Release(payload).to_json()?;
    sqlx::query!(
        r#"update outbox set kind = 'release', payload = $2, next_attempt_at = now() where id = $1"#,
        id,
        payload
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
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

//! Webhooks: endpoints subscribe to stock-level and order events and receive them signed per the
//! Standard Webhooks specification, at least once and in order per SKU (`docs/design.md`,
//! webhooks).
//!
//! The events are the rows of `stock_events` (level events the copier brings from Redis, order
//! events a trigger on `orders` records). A trigger on `stock_events` fans every new row out into
//! one delivery per enabled endpoint that wants it, in the transaction that wrote the row; the
//! worker sends deliveries like the outbox applies its rows: claimed with `skip locked`, retried
//! with a backoff, one attempt logged per try. Requests run outside any transaction, so a slow
//! receiver holds no database connection and never touches a reserve or a confirm.
//!
//! # Layout
//! - [`target`]: checking what a subscription asks for (URL, types, SKU filter).
//! - [`signing`]: the Standard Webhooks signature (and its receiver-side check).
//! - this file: endpoints and their SQL (create, list, delete, replay, the delivery log).
//! - `delivery.rs`: one round of claiming, sending and recording; `worker.rs`: the loop.

use edgestock_api::webhooks::{Webhook, WebhookAttempt, WebhookEventType};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::{Error, Result};

mod delivery;
pub mod signing;
pub mod target;
mod worker;

pub use delivery::{deliver_due, Message};
pub use target::Target;
pub use worker::{backlog, run_worker, Backlog};

/// Most deliveries one replay queues.
pub const MAX_REPLAY: i64 = 10_000;
/// Most attempts the delivery log answers with.
pub const MAX_ATTEMPTS_SHOWN: i64 = 100;
/// Most subscriptions listed.
pub const MAX_LISTED: i64 = 1000;

/// An endpoint row.
struct EndpointRow {
    id: Uuid,
    url: String,
    event_types: Vec<String>,
    skus: Option<Vec<String>>,
    enabled: bool,
    consecutive_failures: i32,
    disabled_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl From<EndpointRow> for Webhook {
    fn from(r: EndpointRow) -> Self {
        Self {
            id: r.id,
            url: r.url,
            event_types: r
                .event_types
                .iter()
                .filter_map(|t| WebhookEventType::parse(t))
                .collect(),
            skus: r.skus,
            enabled: r.enabled,
            consecutive_failures: r.consecutive_failures,
            disabled_at: r.disabled_at,
            created_at: r.created_at,
        }
    }
}

fn type_names(types: &[WebhookEventType]) -> Vec<String> {
    types.iter().map(|t| t.as_str().to_owned()).collect()
}

/// Stores a checked subscription with a fresh secret; returns it and the secret.
///
/// # Errors
/// Database failures.
pub async fn create(db: &PgPool, target: &Target) -> Result<(Webhook, String)> {
    let secret = signing::new_secret();
    let row = sqlx::query_as!(
        EndpointRow,
        r#"insert into webhook_endpoints (id, url, event_types, skus, secret)
           values ($1, $2, $3, $4, $5)
           returning id, url, event_types, skus, enabled, consecutive_failures, disabled_at, created_at"#,
        Uuid::now_v7(),
        target.url,
        &type_names(&target.event_types),
        target.skus.as_deref(),
        secret
    )
    .fetch_one(db)
    .await?;
    Ok((row.into(), secret))
}

/// The endpoints, oldest first, at most [`MAX_LISTED`].
///
/// # Errors
/// Database failures.
pub async fn list(db: &PgPool) -> Result<Vec<Webhook>> {
    let rows = sqlx::query_as!(
        EndpointRow,
        r#"select id, url, event_types, skus, enabled, consecutive_failures, disabled_at, created_at
           from webhook_endpoints order by created_at, id limit $1"#,
        MAX_LISTED
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Webhook::from).collect())
}

/// Deletes an endpoint with its pending deliveries and its log.
///
/// # Errors
/// [`Error::UnknownWebhook`]; database failures.
pub async fn delete(db: &PgPool, id: Uuid) -> Result<()> {
    let n = sqlx::query!("delete from webhook_endpoints where id = $1", id)
        .execute(db)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::UnknownWebhook);
    }
    Ok(())
}

/// Queues again every event the endpoint wants that happened at or after `since`, oldest
/// first, at most [`MAX_REPLAY`], and enables the endpoint again (its failure count reset).
/// Returns how many were queued.
///
/// # Errors
/// [`Error::UnknownWebhook`]; database failures.
pub async fn replay(db: &PgPool, id: Uuid, since: OffsetDateTime) -> Result<i64> {
    let mut tx = db.begin().await?;
    let found = sqlx::query_scalar!(
        r#"update webhook_endpoints set enabled = true, disabled_at = null, consecutive_failures = 0
           where id = $1 returning id"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if found.is_none() {
        return Err(Error::UnknownWebhook);
    }
    let queued = sqlx::query!(
        r#"insert into webhook_deliveries (endpoint_id, event_id, sku)
           select w.id, e.id, e.sku
           from webhook_endpoints w
           join lateral (
               select e.id, e.sku from stock_events e
               where e.at >= $2
                 and webhook_type(e.kind) = any (w.event_types)
                 and (w.skus is null or e.sku = any (w.skus))
               order by e.id
               limit $3
           ) e on true
           where w.id = $1
           order by e.id"#,
        id,
        since,
        MAX_REPLAY
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(i64::try_from(queued).unwrap_or(i64::MAX))
}

/// The newest attempts of an endpoint's deliveries, at most [`MAX_ATTEMPTS_SHOWN`].
///
/// # Errors
/// [`Error::UnknownWebhook`]; database failures.
pub async fn attempts(db: &PgPool, id: Uuid) -> Result<Vec<WebhookAttempt>> {
    let exists = sqlx::query_scalar!(
        r#"select exists (select 1 from webhook_endpoints where id = $1) as "e!""#,
        id
    )
    .fetch_one(db)
    .await?;
    if !exists {
        return Err(Error::UnknownWebhook);
    }
    let rows = sqlx::query!(
        r#"select d.event_id, webhook_type(e.kind) as "event_type!", e.sku, a.attempt, a.status,
                  a.latency_ms, a.error, a.at
           from webhook_attempts a
           join webhook_deliveries d on d.id = a.delivery_id
           join stock_events e on e.id = d.event_id
           where a.endpoint_id = $1
           order by a.id desc
           limit $2"#,
        id,
        MAX_ATTEMPTS_SHOWN
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(WebhookAttempt {
                message_id: delivery::message_id(r.event_id),
                event_type: WebhookEventType::parse(&r.event_type)?,
                sku: r.sku,
                attempt: r.attempt,
                status: r.status.and_then(|s| u16::try_from(s).ok()),
                latency_ms: r.latency_ms,
                error: r.error,
                at: r.at,
            })
        })
        .collect())
}

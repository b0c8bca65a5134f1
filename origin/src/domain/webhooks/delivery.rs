//! One round of deliveries: claim the due heads (the oldest pending delivery of each endpoint and
//! SKU), send them concurrently with no transaction open, then record each outcome.
//!
//! A claim leases its row by moving `next_attempt_at` past the request's timeout, so a worker
//! that dies mid-request only delays the delivery (it is sent again: at least once), and no
//! other worker sends a later delivery of that endpoint and SKU meanwhile (the head is still
//! pending), which keeps each SKU's messages in order.

use std::time::{Duration, Instant};

use edgestock_api::webhooks::{WebhookData, WebhookEventType, WebhookMessage};
use futures::StreamExt;
use rand::Rng;
use time::OffsetDateTime;
use uuid::Uuid;

use super::signing;
use crate::state::AppState;

/// Added to the request timeout for a claim's lease.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Longest error text kept in the log.
const MAX_ERROR_CHARS: usize = 500;

/// A claimed delivery and what its request needs.
struct Claimed {
    id: i64,
    endpoint_id: Uuid,
    attempts: i32,
    url: String,
    secret: String,
    event_id: i64,
    kind: String,
    sku: String,
    reservation_id: Option<String>,
    order_id: Option<Uuid>,
    qty: i64,
    at: OffsetDateTime,
}

/// A message ready to send: its id (`webhook-id`) and its JSON body.
#[derive(Debug, Clone)]
pub struct Message {
    /// `msg_<event id>`: the same on every attempt and replay of one event.
    pub id: String,
    /// The [`WebhookMessage`] as JSON.
    pub body: Vec<u8>,
}

/// The `webhook-id` of the event with row id `event_id`.
pub(super) fn message_id(event_id: i64) -> String {
    format!("msg_{event_id}")
}

impl Claimed {
    /// The message of this event; `None` for a kind that is no webhook type (never claimed).
    fn message(&self) -> Option<Message> {
        let event_type = WebhookEventType::parse(webhook_type(&self.kind)?)?;
        let is_order = self.kind.starts_with("order_");
        let data = WebhookData {
            sku: self.sku.clone(),
            available: (!is_order).then_some(self.qty),
            order_id: self.order_id.filter(|_| is_order),
            reservation_id: self.reservation_id.clone().filter(|_| is_order),
            qty: is_order.then_some(self.qty),
        };
        let body = serde_json::to_vec(&WebhookMessage {
            event_type,
            timestamp: self.at,
            data,
        })
        .ok()?;
        Some(Message {
            id: message_id(self.event_id),
            body,
        })
    }
}

/// The webhook type of an event kind (mirrors the `webhook_type` SQL function).
fn webhook_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "low_stock" => "stock.low",
        "sold_out" => "stock.sold_out",
        "back_in_stock" => "stock.back_in_stock",
        "order_placed" => "order.placed",
        "order_confirmed" => "order.confirmed",
        "order_cancelled" => "order.cancelled",
        "order_expired" => "order.expired",
        "order_needs_attention" => "order.needs_attention",
        _ => return None,
    })
}

/// What one request came to.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    /// `delivered`, `failed` (an answer other than 2xx, or a connection failure) or `timeout`.
    result: &'static str,
    latency_ms: i32,
}

/// The delay before attempt `attempts + 1`: `base * 2^attempts` capped at `max`, of which a
/// random half is kept ("equal jitter"), so receivers coming back are not hit in lockstep.
pub(super) fn backoff(base: Duration, max: Duration, attempts: i32) -> Duration {
    let full = base.saturating_mul(1u32 << attempts.clamp(0, 20)).min(max);
    let half = full / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

async fn send(http: &reqwest::Client, c: &Claimed) -> Outcome {
    let started = Instant::now();
    let outcome = |status, error: Option<String>, result| Outcome {
        status,
        error: error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect()),
        result,
        latency_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
    };
    let Some(msg) = c.message() else {
        return outcome(
            None,
            Some(format!("no webhook type for {}", c.kind)),
            "failed",
        );
    };
    let ts = OffsetDateTime::now_utc().unix_timestamp();
    let signature = match signing::sign(&c.secret, &msg.id, ts, &msg.body) {
        Ok(s) => s,
        Err(e) => return outcome(None, Some(e.to_string()), "failed"),
    };
    let sent = http
        .post(&c.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(signing::ID_HEADER, &msg.id)
        .header(signing::TIMESTAMP_HEADER, ts.to_string())
        .header(signing::SIGNATURE_HEADER, signature)
        .body(msg.body)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => {
            outcome(Some(resp.status().as_u16()), None, "delivered")
        }
        Ok(resp) => {
            let status = resp.status().as_u16();
            outcome(Some(status), Some(format!("HTTP {status}")), "failed")
        }
        Err(e) if e.is_timeout() => outcome(None, Some("timed out".to_owned()), "timeout"),
        // Without the URL: it may carry a token of the receiver's.
        Err(e) => outcome(None, Some(e.without_url().to_string()), "failed"),
    }
}

async fn claim(state: &AppState, limit: i64) -> sqlx::Result<Vec<Claimed>> {
    let lease = state.config.webhook_timeout + LEASE_MARGIN;
    sqlx::query_as!(
        Claimed,
        r#"with due as (
               select d.id from webhook_deliveries d
               join webhook_endpoints w on w.id = d.endpoint_id
               where d.done_at is null and d.next_attempt_at <= now() and w.enabled
                 and not exists (
                     select 1 from webhook_deliveries p
                     where p.endpoint_id = d.endpoint_id and p.sku = d.sku
                       and p.done_at is null and p.id < d.id)
               order by d.id
               limit $1
               for update of d skip locked
           )
           update webhook_deliveries d set next_attempt_at = now() + make_interval(secs => $2)
           from due, webhook_endpoints w, stock_events e
           where d.id = due.id and w.id = d.endpoint_id and e.id = d.event_id
           returning d.id, d.endpoint_id, d.attempts, w.url, w.secret, e.id as event_id, e.kind,
                     e.sku, e.reservation_id, e.order_id, e.qty, e.at"#,
        limit,
        lease.as_secs_f64()
    )
    .fetch_all(&state.db)
    .await
}

/// Records a delivered attempt: the delivery done, the endpoint's failure count reset.
async fn record_delivered(state: &AppState, c: &Claimed, o: &Outcome) -> sqlx::Result<()> {
    sqlx::query!(
        r#"with d as (
               update webhook_deliveries set done_at = now(), attempts = attempts + 1, last_error = null
               where id = $1 and done_at is null
               returning id, endpoint_id, attempts),
           w as (
               update webhook_endpoints set consecutive_failures = 0
               where id = (select endpoint_id from d))
           insert into webhook_attempts (delivery_id, endpoint_id, attempt, status, latency_ms)
           select id, endpoint_id, attempts, $2, $3 from d"#,
        c.id,
        o.status.map(i32::from),
        o.latency_ms
    )
    .execute(&state.db)
    .await?;
    Ok(())
}

/// Records a failed attempt and reschedules the delivery; disables the endpoint at
/// `WEBHOOK_DISABLE_AFTER` failures in a row. Returns true when this attempt disabled it.
async fn record_failed(state: &AppState, c: &Claimed, o: &Outcome) -> sqlx::Result<bool> {
    let cfg = &state.config;
    let delay = backoff(cfg.webhook_retry_base, cfg.webhook_retry_max, c.attempts);
    let limit = i32::try_from(cfg.webhook_disable_after).unwrap_or(i32::MAX);
    let disabled = sqlx::query_scalar!(
        r#"with d as (
               update webhook_deliveries
               set attempts = attempts + 1, last_error = $4,
                   next_attempt_at = now() + make_interval(secs => $5)
               where id = $1 and done_at is null
               returning id, endpoint_id, attempts),
           w as (
               update webhook_endpoints
               set consecutive_failures = consecutive_failures + 1,
                   enabled = enabled and consecutive_failures + 1 < $6,
                   disabled_at = case when enabled and consecutive_failures + 1 >= $6
                                      then now() else disabled_at end
               where id = (select endpoint_id from d)
               returning not enabled and disabled_at = now() as disabled_now),
           a as (
               insert into webhook_attempts (delivery_id, endpoint_id, attempt, status, latency_ms, error)
               select id, endpoint_id, attempts, $2, $3, $4 from d)
           select coalesce((select disabled_now from w), false) as "disabled!""#,
        c.id,
        o.status.map(i32::from),
        o.latency_ms,
        o.error.as_deref(),
        delay.as_secs_f64(),
        limit
    )
    .fetch_one(&state.db)
    .await?;
    Ok(disabled)
}

async fn settle(state: &AppState, c: Claimed) -> sqlx::Result<()> {
    let o = send(&state.webhooks, &c).await;
    state.metrics.webhook_attempt(o.result);
    if o.result == "delivered" {
        return record_delivered(state, &c, &o).await;
    }
    tracing::warn!(delivery_id = c.id, endpoint_id = %c.endpoint_id, attempt = c.attempts + 1,
        status = ?o.status, error = ?o.error, "webhook attempt failed");
    if record_failed(state, &c, &o).await? {
        state.metrics.webhook_disabled();
        tracing::error!(endpoint_id = %c.endpoint_id, failures = state.config.webhook_disable_after,
            "webhook endpoint disabled after failures in a row; replay to enable it again");
    }
    Ok(())
}

/// Claims up to `limit` due deliveries and sends them, `WEBHOOK_CONCURRENCY` at a time. Returns
/// how many were claimed.
///
/// # Errors
/// Database failures (a delivery whose outcome could not be recorded is sent again after its
/// lease).
pub async fn deliver_due(state: &AppState, limit: i64) -> sqlx::Result<usize> {
    let claimed = claim(state, limit).await?;
    let n = claimed.len();
    let results: Vec<sqlx::Result<()>> = futures::stream::iter(claimed)
        .map(|c| settle(state, c))
        .buffer_unordered(state.config.webhook_concurrency)
        .collect()
        .await;
    results.into_iter().collect::<sqlx::Result<()>>()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_keeps_at_least_half_and_is_capped() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for attempts in 0..8 {
            let full = Duration::from_secs(1 << attempts).min(max);
            let d = backoff(base, max, attempts);
            assert!(d >= full / 2 && d <= full, "{attempts}: {d:?}");
        }
        assert!(backoff(base, max, 1000) <= max);
    }

    #[test]
    fn sql_and_rust_agree_on_the_webhook_types() {
        for t in WebhookEventType::ALL {
            let kind = match t {
                WebhookEventType::StockLow => "low_stock".to_owned(),
                WebhookEventType::StockSoldOut => "sold_out".to_owned(),
                WebhookEventType::StockBackInStock => "back_in_stock".to_owned(),
                other => format!("order_{}", &other.as_str()["order.".len()..]),
            };
            assert_eq!(webhook_type(&kind), Some(t.as_str()), "{kind}");
        }
        assert_eq!(webhook_type("hold_created"), None);
        assert_eq!(webhook_type("needs_attention"), None);
    }
}

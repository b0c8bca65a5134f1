//! End to end across the running stack (Postgres, Redis, gateway, origin, the worker in workerd):
//! a flash sale with 1,000 concurrent shoppers, idempotent retries of every mutating call, bad
//! input that never reaches a 5xx, and Redis restarted mid-sale.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use testkit_stack::full::{FullStack, ADMIN_API_KEY};
use testkit_stack::stack::{redis_url, PrivateRedis};

/// Long enough for 30 confirms and 10 releases on a loaded CI machine, short enough to wait out.
const HOLD_SECONDS: u64 = 15;

struct Won {
    id: String,
    token: String,
    /// The Idempotency-Key of the reserve (scoped to `ip`).
    key: String,
    /// The client address the reserve came from.
    ip: String,
    expires_at_ms: i64,
}

async fn reserve_once(s: &FullStack, sku: &str, ip: &str, key: &str, ttl: u64) -> (u16, Value) {
    let res = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("cf-connecting-ip", ip)
        .header("idempotency-key", key)
        .json(&json!({"items": [{"sku": sku, "qty": 1}], "ttl_seconds": ttl}))
        .send()
        .await
        .expect("reserve request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("reserve answers JSON"))
}

/// Reserves like the browser module does: a 503 is retried with the same Idempotency-Key, so a
/// hold made just before a timeout is replayed, never doubled.
async fn reserve(s: &FullStack, sku: &str, ip: &str, key: &str, ttl: u64) -> (u16, Value) {
    for attempt in 0.. {
        let (status, body) = reserve_once(s, sku, ip, key, ttl).await;
        if status != 503 || attempt == 10 {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200 + 100 * attempt)).await;
    }
    unreachable!()
}

async fn post_token(
    s: &FullStack,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> (u16, Value) {
    let res = s
        .http
        .post(s.edge(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .expect("edge request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The checkout backend confirms the payment of reservation `id` (`pay-<id>`) at the origin.
async fn backend_confirm(s: &FullStack, id: &str) -> (u16, Value) {
    let res = s
        .http
        .post(s.origin("/v1/orders"))
        .bearer_auth(testkit_stack::full::ORIGIN_API_KEY)
        .json(&json!({"reservation_id": id, "payment_ref": format!("pay-{id}")}))
        .send()
        .await
        .expect("origin request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn release(s: &FullStack, w: &Won) -> (u16, Value) {
    let res = s
        .http
        .delete(s.edge(&format!("/v1/reservations/{}", w.id)))
        .bearer_auth(&w.token)
        .send()
        .await
        .expect("release");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn ledger_on_hand(s: &FullStack, sku: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("select on_hand from sku_levels where sku = $1")
        .bind(sku)
        .fetch_one(&s.pool)
        .await
        .expect("sku_levels")
}

async fn redis_level(s: &FullStack, sku: &str) -> (i64, i64, i64) {
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let get = |f: &'static str| {
        redis::cmd("HGET")
            .arg(edgestock_core::keys::Keys::new(s.prefix.clone()).stock(sku))
            .arg(f)
            .to_owned()
    };
    let on_hand: Option<i64> = get("on_hand").query_async(&mut conn).await.unwrap();
    let reserved: Option<i64> = get("reserved").query_async(&mut conn).await.unwrap();
    let sold: Option<i64> = get("sold").query_async(&mut conn).await.unwrap();
    (
        on_hand.unwrap_or(-1),
        reserved.unwrap_or(0),
        sold.unwrap_or(0),
    )
}

async fn reconcile(s: &FullStack) -> Value {
    s.http
        .get(s.origin("/v1/admin/reconcile"))
        .bearer_auth(ADMIN_API_KEY)
        .send()
        .await
        .expect("reconcile")
        .json()
        .await
        .expect("reconcile json")
}

mod crashes;
mod failover;
mod inputs;
mod locations;
mod sale;
mod shards;

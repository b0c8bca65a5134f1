//! End to end across the running stack (Postgres, Redis, gateway, origin, the worker in workerd):
//! a flash sale with 1,000 concurrent shoppers, idempotent retries of every mutating call, bad
//! input that never reaches a 5xx, and Redis restarted mid-sale.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use testkit::full::{FullStack, ADMIN_API_KEY};
use testkit::stack::{redis_url, PrivateRedis};

/// Long enough for 30 confirms and 10 releases on a loaded CI machine, short enough to wait out.
const HOLD_SECONDS: u64 = 15;

struct Won {
    id: String,
    token: String,
    key: String,
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
            .arg(format!("{}stock:{{{sku}}}", s.prefix))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flash_sale_1000_shoppers_50_units_then_confirms_releases_and_expiries_agree() {
    let s = FullStack::start(&redis_url(), json!({"REDIS_TIMEOUT_MS": "5000"}), &[]).await;
    s.put_sku("DROP-1", 50, 5).await;
    s.wait_until("Redis seeded by the outbox", || async {
        redis_level(&s, "DROP-1").await.0 == 50
    })
    .await;

    // 1,000 shoppers, each from their own IP, all at once.
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..1000u32)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
                let key = format!("shopper-{i}");
                let (status, body) = reserve(&s, "DROP-1", &ip, &key, HOLD_SECONDS).await;
                (status, body, key)
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut sold_out = 0;
    for t in tasks {
        let (status, body, key) = t.await.unwrap();
        match status {
            // 200: a retry after a 503 replayed a hold made just before the timeout.
            200 | 201 => won.push(Won {
                id: body["reservation_id"].as_str().unwrap().to_owned(),
                token: body["token"].as_str().unwrap().to_owned(),
                key,
                expires_at_ms: body["expires_at_ms"].as_i64().unwrap(),
            }),
            409 => {
                assert_eq!(body["error"]["code"], "insufficient_stock", "{body}");
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        (won.len(), sold_out),
        (50, 950),
        "exactly the stock is held, everyone else hears sold out"
    );
    assert_eq!(s.edge_stock("DROP-1").await["status"], "sold_out");

    // Confirm 30 through the edge (signed, forwarded to the origin), release 10, let 10 expire.
    let confirms: Vec<_> = won[..30]
        .iter()
        .map(|w| {
            let s = s.clone();
            let (id, token) = (w.id.clone(), w.token.clone());
            tokio::spawn(async move {
                post_token(
                    &s,
                    &format!("/v1/reservations/{id}/confirm"),
                    &token,
                    &format!("order-{id}"),
                    json!({"customer_ref": "c"}),
                )
                .await
            })
        })
        .collect();
    let mut orders = Vec::new();
    for t in confirms {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "CONFIRMED", "{body}");
        orders.push(body["order_id"].as_str().unwrap().to_owned());
    }
    for w in &won[30..40] {
        let (status, body) = release(&s, w).await;
        assert_eq!(status, 200, "{body}");
    }

    // Retries of every mutating call are safe and answer the same thing.
    let w = &won[0];
    let (status, again) = post_token(
        &s,
        &format!("/v1/reservations/{}/confirm", w.id),
        &w.token,
        &format!("order-{}", w.id),
        json!({"customer_ref": "c"}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["order_id"], orders[0].as_str());
    let (status, _) = release(&s, &won[30]).await;
    assert_eq!(status, 200, "a second release is a no-op");
    let last = &won[45];
    let (status, replay) = reserve(&s, "DROP-1", "10.200.0.1", &last.key, HOLD_SECONDS).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(
        replay["reservation_id"],
        last.id.as_str(),
        "the same hold, not a second one"
    );

    // Wait for the last 10 to expire; the origin's sweeper (and any read) gives the units back.
    let last_expiry = won[40..].iter().map(|w| w.expires_at_ms).max().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        now_ms < won.iter().map(|w| w.expires_at_ms).min().unwrap(),
        "confirms and releases ran before any hold expired"
    );
    tokio::time::sleep(Duration::from_millis(
        (last_expiry - now_ms).max(0) as u64 + 500,
    ))
    .await;
    s.wait_until("20 units available again", || async {
        s.edge_stock("DROP-1").await["available"] == 20
    })
    .await;
    s.wait_until("Redis reaped and committed", || async {
        redis_level(&s, "DROP-1").await == (20, 0, 30)
    })
    .await;

    // Postgres, the system of record, agrees.
    assert_eq!(ledger_on_hand(&s, "DROP-1").await, 20);
    let confirmed: i64 =
        sqlx::query_scalar("select count(*) from orders where status = 'CONFIRMED'")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(confirmed, 30);
    let rec = reconcile(&s).await;
    assert_eq!(rec["drifting"], 0, "{rec}");
    // The audit trail has the lifecycle, copied from the Redis stream.
    s.wait_until("events copied to Postgres", || async {
        let kinds: Vec<String> = sqlx::query_scalar("select distinct kind::text from stock_events")
            .fetch_all(&s.pool)
            .await
            .unwrap_or_default();
        [
            "hold_created",
            "hold_committed",
            "hold_released",
            "hold_expired",
        ]
        .iter()
        .all(|k| kinds.iter().any(|x| x == k))
    })
    .await;
    Arc::into_inner(s).expect("all tasks done").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_always_a_documented_4xx_and_changes_nothing() {
    let s = FullStack::start(&redis_url(), json!({}), &[]).await;
    s.put_sku("BAD-1", 5, 1).await;
    s.wait_until("seeded", || async { redis_level(&s, "BAD-1").await.0 == 5 })
        .await;
    let huge = "x".repeat(70_000);
    let bodies = [
        "{",
        "[]",
        "null",
        "\"items\"",
        r#"{"items":"BAD-1"}"#,
        r#"{"items":[]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":0}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":-1}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1e309}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":99999999999999999999}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":"1"}]}"#,
        r#"{"items":[{"sku":"BAD 1","qty":1}]}"#,
        r#"{"items":[{"sku":"../../etc","qty":1}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1,"x":1}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1}],"admin":true}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1}],"ttl_seconds":-5}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1},{"sku":"BAD-1","qty":1}]}"#,
    ];
    for body in bodies
        .iter()
        .map(|b| (*b).to_owned())
        .chain([format!(r#"{{"items":[{{"sku":"{huge}","qty":1}}]}}"#)])
    {
        let res = s
            .http
            .post(s.edge("/v1/reservations"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let b: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&status),
            "{status} for {}: {b}",
            &body[..body.len().min(80)]
        );
        assert!(
            b["error"]["code"].is_string(),
            "documented error shape for {}: {b}",
            &body[..body.len().min(80)]
        );
    }
    let res = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    for (path, token) in [
        ("/v1/reservations/nope", "bad"),
        ("/v1/reservations/nope/confirm", ""),
        ("/v1/stock/%00", ""),
    ] {
        let mut rb = s.http.get(s.edge(path));
        if !token.is_empty() {
            rb = rb.bearer_auth(token);
        }
        let res = rb.send().await.unwrap();
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
    }
    // The origin refuses unauthenticated and malformed calls the same way.
    let res = s
        .http
        .post(s.origin("/v1/orders"))
        .json(&json!({"reservation_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = s
        .http
        .put(s.origin("/v1/admin/skus/BAD-1"))
        .bearer_auth(ADMIN_API_KEY)
        .json(&json!({"name": "x", "on_hand": -3, "low_stock_threshold": 1}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(redis_level(&s, "BAD-1").await, (5, 0, 0), "nothing changed");
    assert_eq!(ledger_on_hand(&s, "BAD-1").await, 5);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_sale_is_restored_from_postgres() {
    let redis = PrivateRedis::start();
    let s = FullStack::start(&redis.url(), json!({}), &[]).await;
    s.put_sku("RST-1", 10, 2).await;
    let mut private = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{}stock:{{RST-1}}", s.prefix);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v: Option<i64> = redis::cmd("HGET")
            .arg(&key)
            .arg("on_hand")
            .query_async(&mut private)
            .await
            .unwrap_or(None);
        if v == Some(10) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Redis was not seeded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Three holds; one confirmed before the restart.
    let mut won = Vec::new();
    for i in 0..3 {
        let (status, body) = reserve(
            &s,
            "RST-1",
            &format!("10.9.0.{i}"),
            &format!("rst-{i}"),
            600,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        won.push(Won {
            id: body["reservation_id"].as_str().unwrap().into(),
            token: body["token"].as_str().unwrap().into(),
            key: format!("rst-{i}"),
            expires_at_ms: body["expires_at_ms"].as_i64().unwrap(),
        });
    }
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{}/confirm", won[0].id),
        &won[0].token,
        "rst-order",
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Redis restarts with nothing (no persistence).
    let port = redis.port;
    drop(redis);
    let redis = PrivateRedis::start_on(port);
    drop(private);
    let mut private = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (status, body) = reserve(&s, "RST-1", "10.9.0.9", "rst-after", 600).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_sku")),
        "{body}"
    );

    // Seed restores on-hand from the ledger; reconcile then reports no drift.
    let res = s
        .http
        .post(s.origin("/v1/admin/seed"))
        .bearer_auth(ADMIN_API_KEY)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
    let v: Option<i64> = redis::cmd("HGET")
        .arg(&key)
        .arg("on_hand")
        .query_async(&mut private)
        .await
        .unwrap();
    assert_eq!(v, Some(9), "10 stocked - 1 sold");
    assert_eq!(reconcile(&s).await["drifting"], 0);
    // Live holds were lost with Redis: their units are available again and their tokens find nothing.
    assert_eq!(s.edge_stock("RST-1").await["available"], 9);
    let res = s
        .http
        .get(s.edge(&format!("/v1/reservations/{}", won[1].id)))
        .bearer_auth(&won[1].token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{}/confirm", won[1].id),
        &won[1].token,
        "rst-lost",
        json!({}),
    )
    .await;
    assert!(status == 404 || status == 409, "{status} {body}");
    // The confirmed order survives, and selling resumes.
    let (status, _) = reserve(&s, "RST-1", "10.9.0.10", "rst-after-seed", 600).await;
    assert_eq!(status, 201);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_killed_mid_confirm_the_outbox_finishes_after_restart() {
    use origin::fault::FaultPoint;
    // A long outbox head start: the dying instance's own worker must not finish the row.
    let mut s = FullStack::start(&redis_url(), json!({}), &[("OUTBOX_GRACE_MS", "3000")]).await;
    s.put_sku("CRASH-1", 5, 1).await;
    s.wait_until("seeded", || async {
        redis_level(&s, "CRASH-1").await.0 == 5
    })
    .await;
    let (status, body) = reserve(&s, "CRASH-1", "10.7.0.1", "crash-1", 600).await;
    assert_eq!(status, 201, "{body}");
    let (id, token) = (
        body["reservation_id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    );

    // The origin dies after the Postgres commit, before the Redis commit.
    s.origin_state.faults.arm(FaultPoint::AfterPgCommit);
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{id}/confirm"),
        &token,
        "crash-order",
        json!({}),
    )
    .await;
    assert!(status >= 500, "the browser sees a failure: {status} {body}");
    s.restart_origin().await;

    // The restarted origin's outbox applies the commit; the order ends CONFIRMED, sold once.
    s.wait_until("outbox drained", || async {
        let pending: i64 = sqlx::query_scalar("select count(*) from outbox where done_at is null")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        let confirmed: i64 =
            sqlx::query_scalar("select count(*) from orders where status = 'CONFIRMED'")
                .fetch_one(&s.pool)
                .await
                .unwrap();
        pending == 0 && confirmed == 1
    })
    .await;
    assert_eq!(redis_level(&s, "CRASH-1").await, (4, 0, 1));
    // The shopper's retry gets the order, not a second one.
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{id}/confirm"),
        &token,
        "crash-order",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CONFIRMED");
    assert_eq!(ledger_on_hand(&s, "CRASH-1").await, 4);
    assert_eq!(reconcile(&s).await["drifting"], 0);
    s.stop().await;
}

//! Admin API: SKUs, adjustments, seeding, reconcile, events, metrics.

use std::time::Duration;

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{eventually, pool, Env, TestApp, ADMIN_KEY};

#[sqlx::test(migrations = false)]
async fn put_sku_records_initial_stock_then_adjusts_by_the_difference(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let (s, body) = app
        .put(
            "/v1/admin/skus/SKU-1",
            ADMIN_KEY,
            &json!({"name": "Renamed", "on_hand": 6, "low_stock_threshold": 1}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let rows: Vec<(String, i32)> =
        sqlx::query_as("select kind::text, qty from stock_movements order by id")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [("initial".to_owned(), 10), ("adjustment".to_owned(), -4)]
    );
    assert_eq!(app.redis_level("SKU-1").await, (6, 0));
    let (s, _) = app
        .put(
            "/v1/admin/skus/bad%20sku",
            ADMIN_KEY,
            &json!({"name": "x", "on_hand": 1, "low_stock_threshold": 0}),
        )
        .await;
    assert_eq!(s, 422);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn adjustments_are_idempotent_by_movement_id(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let path = "/v1/admin/skus/SKU-1/adjustments";
    let body = json!({"delta": 5, "reason": "restock", "movement_id": "po-42"});

    let (s1, b1) = app.post(path, ADMIN_KEY, &body).await;
    let (s2, b2) = app.post(path, ADMIN_KEY, &body).await;
    let (s3, b3) = app
        .post(
            path,
            ADMIN_KEY,
            &json!({"delta": 6, "reason": "restock", "movement_id": "po-42"}),
        )
        .await;
    let (s4, _) = app
        .post(
            "/v1/admin/skus/NOPE/adjustments",
            ADMIN_KEY,
            &json!({"delta": 1, "reason": "restock", "movement_id": "po-43"}),
        )
        .await;

    assert_eq!((s1, s2, s3, s4), (201, 200, 422, 404), "{b1} {b2} {b3}");
    assert_eq!(b1["kind"], "restock");
    assert_eq!(b2["replay"], true);
    assert_eq!(app.ledger_on_hand("SKU-1").await, 15);
    assert_eq!(app.redis_level("SKU-1").await, (15, 0));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn reconcile_reports_drift_and_repair_reseeds_from_the_ledger(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    app.create_sku("SKU-2", 5).await;
    let rid = app.reserve("SKU-1", 2).await;
    assert_eq!(app.confirm(&rid).await.0, 201);
    // Someone tampers with Redis.
    let key = app.state.redis.keys().stock("SKU-2");
    app.state
        .redis
        .client()
        .command(&upstash_rest::cmd("HSET").arg(key).arg("on_hand").arg(9))
        .await
        .unwrap();

    let (s, report) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["drifting"], 1, "{report}");
    assert_eq!(report["skus"][1]["drift"], 4);
    assert_eq!(report["skus"][0]["drift"], 0);
    let (_, repaired) = app.get("/v1/admin/reconcile?repair=true", ADMIN_KEY).await;
    assert_eq!(repaired["skus"][1]["repaired"], true, "{repaired}");
    let (_, after) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(after["drifting"], 0, "{after}");
    assert_eq!(app.redis_level("SKU-2").await, (5, 0));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn seeding_an_empty_redis_adds_sales_whose_commit_is_still_pending(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 3).await;
    assert_eq!(app.confirm(&rid).await.0, 201);
    // Redis loses the SKU; seeding loads it back from the ledger.
    let key = app.state.redis.keys().stock("SKU-1");
    app.state
        .redis
        .client()
        .command(&upstash_rest::cmd("DEL").arg(key))
        .await
        .unwrap();

    let (s, body) = app.post("/v1/admin/seed", ADMIN_KEY, &json!({})).await;

    assert_eq!(s, 200, "{body}");
    assert_eq!(body["seeded"], 1);
    assert_eq!(app.redis_level("SKU-1").await, (7, 0));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn events_are_copied_once_and_listed_newest_first_with_a_cursor(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 1).await;
    assert_eq!(app.confirm(&rid).await.0, 201);
    let db = app.state.db.clone();
    eventually(Duration::from_secs(10), "hold events copied", || {
        let db = db.clone();
        async move {
            let kinds: Vec<String> =
                sqlx::query_scalar("select kind from stock_events order by id")
                    .fetch_all(&db)
                    .await
                    .unwrap();
            kinds.contains(&"hold_created".to_owned())
                && kinds.contains(&"hold_committed".to_owned())
        }
    })
    .await;
    // The origin's own events (`origin:` ids: the order's) are not from the stream.
    let copied: i64 =
        sqlx::query_scalar("select count(*) from stock_events where stream_id not like 'origin:%'")
            .fetch_one(&db)
            .await
            .unwrap();
    let stream: i64 = app
        .state
        .redis
        .events_after(edgestock_core::keys::ShardId(0), "0", 1000)
        .await
        .unwrap()
        .len() as i64;
    assert_eq!(copied, stream, "each stream entry copied exactly once");

    let (s, page1) = app.get("/v1/events?sku=SKU-1&limit=2", ADMIN_KEY).await;
    assert_eq!(s, 200, "{page1}");
    assert_eq!(page1["events"].as_array().unwrap().len(), 2);
    let cursor = page1["next_before"].as_str().unwrap();
    let (_, page2) = app
        .get(
            &format!("/v1/events?sku=SKU-1&limit=100&before={cursor}"),
            ADMIN_KEY,
        )
        .await;
    let all = page2["events"].as_array().unwrap();
    assert!(!all.is_empty());
    // Compare instants, not strings: RFC 3339 drops trailing zeros (".12Z" sorts before ".1Z").
    let at = |v: &serde_json::Value| {
        time::OffsetDateTime::parse(
            v["at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let cursor_at = at(&page1["events"][1]);
    assert!(all.iter().all(|e| at(e) <= cursor_at), "{page1} {page2}");

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("origin_orders_total{outcome=\"confirmed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("origin_stock_available{sku=\"SKU-1\"} 9"),
        "{metrics}"
    );
    assert!(metrics.contains("origin_outbox_backlog 0"));
    let (s, ready) = app.get("/readyz", "").await;
    assert_eq!(s, 200, "{ready}");
    app.stop().await;
}

/// Finding 10 of the red-team review: a NUL in an admin `name` or `reason` reached Postgres and
/// answered 500; control characters are refused with 422 and change nothing.
#[sqlx::test(migrations = false)]
async fn adversary_control_characters_in_admin_text_are_422_not_500(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    for name in ["a\u{0}b", "line\nbreak", "\u{1b}[31m"] {
        let (s, body) = app
            .put(
                "/v1/admin/skus/SKU-2",
                ADMIN_KEY,
                &json!({"name": name, "on_hand": 1, "low_stock_threshold": 0}),
            )
            .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (422, Some("invalid_body")),
            "{name:?}: {body}"
        );
    }
    let (s, body) = app
        .post(
            "/v1/admin/skus/SKU-1/adjustments",
            ADMIN_KEY,
            &json!({"delta": 1, "reason": "re\u{0}stock", "movement_id": "m-nul"}),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (422, Some("invalid_body")),
        "{body}"
    );
    let skus: i64 = sqlx::query_scalar("select count(*) from skus")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(skus, 1, "nothing was written");
    assert_eq!(app.ledger_on_hand("SKU-1").await, 10);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn require_customer_reaches_redis_and_survives_a_reseed(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    let drop = edgestock_core::domain::Sku::parse("DROP-1").unwrap();
    let (s, body) = app
        .put(
            "/v1/admin/skus/DROP-1",
            ADMIN_KEY,
            &json!({"name": "Drop", "on_hand": 5, "low_stock_threshold": 0, "require_customer": true}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["require_customer"], true, "{body}");
    assert!(app.state.redis.requires_customer(&drop).await.unwrap());
    // Absent: unchanged.
    let (s, body) = app
        .put(
            "/v1/admin/skus/DROP-1",
            ADMIN_KEY,
            &json!({"name": "Drop", "on_hand": 6, "low_stock_threshold": 0}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["require_customer"], true, "{body}");
    assert_eq!(app.redis_level("DROP-1").await, (6, 0));
    // Redis loses the SKU; seeding restores the flag from Postgres.
    let key = app.state.redis.keys().stock("DROP-1");
    app.state
        .redis
        .client()
        .command(&upstash_rest::cmd("DEL").arg(key))
        .await
        .unwrap();
    assert!(!app.state.redis.requires_customer(&drop).await.unwrap());
    let (s, body) = app.post("/v1/admin/seed", ADMIN_KEY, &json!({})).await;
    assert_eq!(s, 200, "{body}");
    assert!(app.state.redis.requires_customer(&drop).await.unwrap());
    // Cleared.
    let (s, body) = app
        .put(
            "/v1/admin/skus/DROP-1",
            ADMIN_KEY,
            &json!({"name": "Drop", "on_hand": 6, "low_stock_threshold": 0, "require_customer": false}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["require_customer"], false, "{body}");
    assert!(!app.state.redis.requires_customer(&drop).await.unwrap());
    let (s, body) = app
        .put(
            "/v1/admin/skus/DROP-1",
            ADMIN_KEY,
            &json!({"name": "Drop", "on_hand": 6, "low_stock_threshold": 0, "require_customer": "yes"}),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    app.stop().await;
}

//! Webhooks end to end: the admin API refusing bad subscriptions, and a local receiver checking
//! signatures while the origin delivers exact sequences of level events.

use std::time::Duration;

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{pool, Env, TestApp, ADMIN_KEY};
use crate::receiver::{seq, spawn, subscribe, wait_delivered, Receiver};

#[sqlx::test(migrations = false)]
async fn bad_subscriptions_are_refused_naming_the_field_and_nothing_is_stored(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    let types = json!(["stock.low"]);
    let many: Vec<String> = (0..101).map(|i| format!("S{i}")).collect();
    let cases = [
        (
            json!({"url": "http://127.0.0.1:9/h", "event_types": types}),
            "url",
        ),
        (
            json!({"url": "ftp://hooks.example.com/h", "event_types": types}),
            "url",
        ),
        (
            json!({"url": "https://169.254.169.254/latest/meta-data", "event_types": types}),
            "url",
        ),
        (
            json!({"url": "https://u:p@hooks.example.com/h", "event_types": types}),
            "url",
        ),
        (
            json!({"url": "hooks.example.com", "event_types": types}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example.com/h", "event_types": ["stock.gone"]}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/h", "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/h", "event_types": types, "skus": many}),
            "skus",
        ),
        (
            json!({"url": "https://hooks.example.com/h", "event_types": types, "skus": []}),
            "skus",
        ),
        (
            json!({"url": "https://hooks.example.com/h", "event_types": types, "skus": ["a b"]}),
            "skus",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/v1/admin/webhooks", ADMIN_KEY, &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_request",
            "{body}: {answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from webhook_endpoints")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(
        app.get("/v1/admin/webhooks", ADMIN_KEY).await,
        (200, json!({"webhooks": []}))
    );

    // A good one: the secret is shown once, then never.
    let body = json!({"url": "https://hooks.example.com/in", "event_types": ["stock.sold_out", "stock.low", "stock.low"], "skus": ["B", "A"]});
    let (status, created) = app.post("/v1/admin/webhooks", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let webhook = &created["webhook"];
    assert_eq!(
        webhook["event_types"],
        json!(["stock.sold_out", "stock.low"])
    );
    assert_eq!(webhook["skus"], json!(["A", "B"]));
    let (status, list) = app.get("/v1/admin/webhooks", ADMIN_KEY).await;
    assert_eq!((status, &list["webhooks"][0]), (200, webhook));
    assert!(!list.to_string().contains("whsec_"), "{list}");
    let id = webhook["id"].as_str().unwrap();

    let (status, e) = app
        .post(
            &format!("/v1/admin/webhooks/{id}/replay"),
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (422, &json!("since")),
        "{e}"
    );
    let (status, e) = app
        .post(
            "/v1/admin/webhooks/not-a-uuid/replay?since=2026-01-01T00:00:00Z",
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (404, &json!("not_found")),
        "{e}"
    );
    let delete = |id: String| {
        let req = app
            .http
            .delete(app.url(&format!("/v1/admin/webhooks/{id}")));
        async move {
            req.bearer_auth(ADMIN_KEY)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(delete(id.to_owned()).await, 204);
    assert_eq!(delete(id.to_owned()).await, 404);
    assert_eq!(
        app.get("/v1/admin/webhooks", ADMIN_KEY).await,
        (200, json!({"webhooks": []}))
    );
    app.stop().await;
}

/// Every kind of return after 0 (release, restock, expiry) sends one `back_in_stock`; a level
/// that stays sends nothing; creating the SKU sends nothing.
#[sqlx::test(migrations = false)]
async fn stock_transitions_are_delivered_exactly_once_each_signed_and_in_order(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[]).await;
    let r = Receiver::start().await;
    subscribe(
        &app,
        &r,
        &["stock.low", "stock.sold_out", "stock.back_in_stock"],
        None,
    )
    .await;
    app.create_sku("LVL", 5).await; // threshold 2
    let _r1 = app.reserve("LVL", 3).await; // 2 left: low
    let r2 = app.reserve("LVL", 2).await; // 0: sold out
    app.state.redis.release(&r2, false).await.unwrap(); // 2: back in stock
    let _r3 = app.reserve("LVL", 1).await; // 1: still low, nothing
    let _r4 = app.reserve("LVL", 1).await; // 0: sold out
    let (s, b) = app
        .post(
            "/v1/admin/skus/LVL/adjustments",
            ADMIN_KEY,
            &json!({"delta": 3, "reason": "restock", "movement_id": "po-1"}),
        )
        .await;
    assert_eq!(s, 201, "{b}"); // 3: back in stock (above the threshold)
    let _r5 = app.reserve("LVL", 3).await; // 0: sold out
    env.engine_ahead(120_000)
        .sweep(edgestock_core::keys::ShardId(0), 10)
        .await
        .unwrap(); // every hold expires: 8 back
    let want = seq(&[
        ("stock.low", "LVL", 2),
        ("stock.sold_out", "LVL", 0),
        ("stock.back_in_stock", "LVL", 2),
        ("stock.sold_out", "LVL", 0),
        ("stock.back_in_stock", "LVL", 3),
        ("stock.sold_out", "LVL", 0),
        ("stock.back_in_stock", "LVL", 8),
    ]);
    wait_delivered(&r, want.len(), "seven level events").await;
    tokio::time::sleep(Duration::from_millis(500)).await; // nothing more comes
    assert_eq!(r.delivered(), want);
    assert_eq!(r.bad_signatures(), 0);
    let mut ids: Vec<String> = r.received().into_iter().map(|x| x.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), want.len(), "one message id per event: {ids:?}");
    app.stop().await;
}

/// A flash sale: 40 shoppers at once for 20 units give one `stock.low`, one `stock.sold_out`;
/// one release gives one `stock.back_in_stock`.
#[sqlx::test(migrations = false)]
async fn a_flash_sale_sells_out_once_and_comes_back_once(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[]).await;
    let r = Receiver::start().await;
    subscribe(
        &app,
        &r,
        &["stock.low", "stock.sold_out", "stock.back_in_stock"],
        Some(&["HOT"]),
    )
    .await;
    app.create_sku("HOT", 20).await;
    app.create_sku("COLD", 1).await;
    let _other = app.reserve("COLD", 1).await; // filtered out
    let shoppers: Vec<_> = (0..40)
        .map(|_| {
            let engine = app.state.redis.clone();
            tokio::spawn(async move {
                let id = uuid::Uuid::now_v7().to_string();
                let req = edgestock_core::scripts::ReserveRequest {
                    id: id.clone(),
                    fingerprint: "fp".into(),
                    items: vec![edgestock_core::scripts::Line {
                        sku: edgestock_core::domain::Sku::parse("HOT").unwrap(),
                        qty: 1,
                    }],
                    pickup: None,
                    ttl_ms: 60_000,
                    max_hold_ms: 600_000,
                    rate_limit: None,
                    customer: None,
                    cap: None,
                    owner: "test".into(),
                };
                let held = matches!(
                    engine.reserve(&req).await.unwrap(),
                    edgestock_core::scripts::ReserveOutcome::Held(_)
                );
                held.then_some(id)
            })
        })
        .collect();
    let mut held = Vec::new();
    for s in shoppers {
        held.extend(s.await.unwrap());
    }
    assert_eq!(held.len(), 20);
    app.state.redis.release(&held[0], false).await.unwrap();
    let want = seq(&[
        ("stock.low", "HOT", 2),
        ("stock.sold_out", "HOT", 0),
        ("stock.back_in_stock", "HOT", 1),
    ]);
    wait_delivered(&r, want.len(), "three events").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.delivered(), want);
    app.stop().await;
}

/// Cancels give units back too: a placed order's cancel releases its hold, a confirmed order's
/// cancel with `restock: true` restocks; each return after 0 is one `back_in_stock`.
#[sqlx::test(migrations = false)]
async fn cancels_bring_a_sku_back_in_stock_once_each(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[]).await;
    let r = Receiver::start().await;
    let types = ["stock.low", "stock.sold_out", "stock.back_in_stock"];
    subscribe(&app, &r, &types, None).await;
    app.create_sku("CXL", 2).await; // threshold 2: low from the start, no event
    let placed = app.reserve("CXL", 2).await; // 0: sold out
    let (s, order) = app.place(&placed).await;
    assert_eq!(s, 201, "{order}");
    let (s, b) = app.cancel(&order["order_id"], &json!({})).await;
    assert_eq!(s, 200, "{b}"); // hold released: 2 back
    let paid = app.reserve("CXL", 2).await; // 0: sold out
    let (s, order) = app.confirm(&paid).await;
    assert_eq!(s, 201, "{order}"); // the commit keeps it at 0: nothing
    let (s, b) = app
        .cancel(&order["order_id"], &json!({"restock": true}))
        .await;
    assert_eq!(s, 200, "{b}"); // restocked: 2 back
    let want = seq(&[
        ("stock.sold_out", "CXL", 0),
        ("stock.back_in_stock", "CXL", 2),
        ("stock.sold_out", "CXL", 0),
        ("stock.back_in_stock", "CXL", 2),
    ]);
    wait_delivered(&r, want.len(), "four level events").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.delivered(), want);
    app.stop().await;
}

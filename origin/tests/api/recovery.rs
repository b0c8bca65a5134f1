//! The lifecycle's way back from trouble: a Redis that lost its data gets the placed orders'
//! holds again, and an order left `NEEDS_ATTENTION` is confirmed again after a restock.

use edgestock_core::domain::ReservationStatus;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{pool, Env, TestApp};

/// Step 6: Redis loses everything while an order awaits payment. Seeding restores on-hand from
/// the ledger and pins the placed order's units again, so they are not resold, and the
/// payment then confirms on time.
#[sqlx::test(migrations = false)]
async fn after_redis_loses_its_data_seed_pins_placed_orders_again(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 5).await;
    let rid = app.reserve("SKU-1", 3).await;
    let (_, placed) = app.place(&rid).await;
    assert_eq!(placed["status"], "PENDING_PAYMENT");
    let keys = app.state.redis.keys().clone();
    for key in [
        keys.reservation(edgestock_core::keys::ShardId(0), &rid),
        keys.stock("SKU-1"),
        keys.holds("SKU-1"),
    ] {
        app.state
            .redis
            .client()
            .command(&upstash_rest::cmd("DEL").arg(key))
            .await
            .unwrap();
    }
    assert!(
        app.state.redis.reservation(&rid).await.unwrap().is_none(),
        "Redis lost it"
    );

    let (s, seeded) = app
        .post("/v1/admin/seed", crate::helpers::ADMIN_KEY, &json!({}))
        .await;
    assert_eq!(s, 200, "{seeded}");
    assert_eq!(
        (seeded["repinned"].as_u64(), seeded["repin_short"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        app.redis_level("SKU-1").await,
        (5, 3),
        "the placed order's units are held"
    );
    let rec = app.state.redis.reservation(&rid).await.unwrap().unwrap();
    assert_eq!(rec.status, ReservationStatus::Confirming);
    let deadline = placed["payment_deadline_ms"].as_i64().unwrap();
    assert!(
        (rec.expires_ms - 60_000 - deadline).abs() < 2_000,
        "until deadline + grace"
    );
    // Seeding again changes nothing; the payment confirms on time, from the hold.
    let (_, again) = app
        .post("/v1/admin/seed", crate::helpers::ADMIN_KEY, &json!({}))
        .await;
    assert_eq!(again["repinned"], 0);
    let (s, body) = app.confirm(&rid).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["late"], false);
    assert_eq!(app.redis_level("SKU-1").await, (2, 0));
    app.stop().await;
}

/// A late commit that found no units left the order `NEEDS_ATTENTION`; once a restock covers
/// it, the backend confirms it again with the same payment and it becomes `CONFIRMED`.
#[sqlx::test(migrations = false)]
async fn needs_attention_is_resolved_by_confirming_again_after_a_restock(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(
        pool(opts, c).await,
        env.config(&[("OUTBOX_GRACE_MS", "60000")]),
    )
    .await;
    app.create_sku("SKU-1", 2).await;
    let (a, _) = app.needs_attention(&env, "SKU-1", 2).await;
    let (s, body) = app.confirm(&a).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("insufficient_stock")),
        "{body}"
    );
    assert_eq!(app.order_status(&a).await, "NEEDS_ATTENTION");
    let (s, _) = app
        .post(
            "/v1/admin/skus/SKU-1/adjustments",
            crate::helpers::ADMIN_KEY,
            &json!({"delta": 2, "reason": "restock", "movement_id": "r-1"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, body) = app.confirm(&a).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["commit_applied"].as_bool()),
        (Some("CONFIRMED"), Some(true))
    );
    assert_eq!(app.redis_level("SKU-1").await, (0, 0));
    let (s, report) = app
        .get("/v1/admin/reconcile", crate::helpers::ADMIN_KEY)
        .await;
    assert_eq!((s, report["drifting"].as_u64()), (200, Some(0)), "{report}");
    app.stop().await;
}

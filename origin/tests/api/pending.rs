//! Effects Redis has not taken yet: a confirmed order whose commit is not applied, cancelled while
//! Redis is down, a late commit
//! that finds no units, and a negative adjustment Redis refuses. Each ends with the ledger and
//! Redis agreeing (reconcile reports no drift) and nothing silently lost or oversold.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{
    eventually, pool, spawn_gateway, test_config, unique_prefix, DownGateway, Env, TestApp,
    ADMIN_KEY, API_KEY,
};

/// Every wait in this module is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

async fn reconcile(app: &TestApp) -> Value {
    let (s, report) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(s, 200, "{report}");
    report
}

async fn order_id(app: &TestApp, reservation_id: &str) -> String {
    sqlx::query_scalar::<_, uuid::Uuid>("select id from orders where reservation_id = $1")
        .bind(reservation_id)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
        .to_string()
}

async fn wait_outbox_drained(app: &TestApp, what: &str) {
    eventually(WAIT, what, || async { app.pending_outbox().await == 0 }).await;
}

#[sqlx::test(migrations = false)]
async fn a_confirmed_order_not_yet_applied_cancelled_while_redis_is_down_releases_its_units(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let gateway = spawn_gateway("127.0.0.1:0").await;
    let addr = gateway.addr.to_string();
    // A long head start: the worker must not apply the commit row before the cancel rewrites it.
    let config = test_config(
        &format!("http://{addr}"),
        &unique_prefix(),
        &[("OUTBOX_GRACE_MS", "60000")],
    );
    let app = TestApp::spawn(pool(opts, c).await, config).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 4).await;

    // Redis becomes unreachable right after the order is recorded: confirmed, commit not applied.
    app.confirm_then_crash(&rid).await;
    assert_eq!(app.order_status(&rid).await, "CONFIRMED");
    assert_eq!(app.redis_level("SKU-1").await, (10, 4), "still only held");
    let down = DownGateway::stop(gateway).await;

    let id = order_id(&app, &rid).await;
    let (s, cancelled) = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            API_KEY,
            &json!({"restock": true}),
        )
        .await;

    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(app.ledger_on_hand("SKU-1").await, 10, "sale + cancellation");
    // The outbox worker may hold the row (SKIP LOCKED) while the cancel answers, so its failed
    // attempt is recorded a moment later: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (kind, attempts, err) = loop {
        let (kind, attempts, err): (String, i32, Option<String>) = sqlx::query_as(
            "select kind::text, attempts, last_error from outbox where done_at is null",
        )
        .fetch_one(&app.state.db)
        .await
        .unwrap();
        if (attempts >= 1 && err.is_some()) || std::time::Instant::now() > deadline {
            break (kind, attempts, err);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        kind, "release",
        "the commit row became a release of the hold"
    );
    assert!(attempts >= 1 && err.is_some(), "{attempts} {err:?}");

    // Redis returns: the worker releases the hold; the units are back, not sold.
    let _gateway = down.restart().await;
    wait_outbox_drained(&app, "the release is applied").await;
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    let rec = app.state.redis.reservation(&rid).await.unwrap().unwrap();
    assert_eq!(rec.status, "released");
    let report = reconcile(&app).await;
    assert_eq!(report["drifting"], 0, "{report}");
    assert_eq!(report["skus"][0]["expected_redis_on_hand"], 10, "{report}");
    let (s, again) = app.confirm(&rid).await;
    assert_eq!(
        (s, &again["error"]["status"]),
        (409, &json!("CANCELLED")),
        "a confirm retry is told the order is cancelled: {again}"
    );
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_late_commit_that_finds_no_units_flags_the_order_instead_of_overselling(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(
        pool(opts, c).await,
        env.config(&[("OUTBOX_GRACE_MS", "60000")]),
    )
    .await;
    app.create_sku("SKU-1", 5).await;
    // A's pinned hold expires, B takes all five units, A's late commit finds nothing.
    let (a, _) = app.needs_attention(&env, "SKU-1", 5).await;

    assert_eq!(app.redis_level("SKU-1").await, (0, 0), "never oversold");
    let (sku, qty, location): (String, i64, Option<String>) = sqlx::query_as(
        "select sku, qty, location from stock_events where kind = 'needs_attention' and reservation_id = $1",
    )
    .bind(&a)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(
        (sku.as_str(), qty, location.as_deref()),
        ("SKU-1", 0, Some("default")),
        "event with the units available at the short location"
    );
    let outcome: String = sqlx::query_scalar(
        "select outcome from outbox where id = (select commit_outbox_id from orders where reservation_id = $1)",
    )
    .bind(&a)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(outcome, "not_applied");
    let metrics = app.metrics().await;
    for line in [
        "origin_orders_total{outcome=\"needs_attention\"} 1",
        "origin_orders_needs_attention 1",
        "origin_outbox_attempts_total{kind=\"commit\",result=\"not_applied\"} 1",
        "origin_outbox_backlog 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    // The ledger records both sales (-5) but Redis only ever took B's: no drift.
    assert_eq!(app.ledger_on_hand("SKU-1").await, -5);
    let report = reconcile(&app).await;
    assert_eq!(report["drifting"], 0, "{report}");
    assert_eq!(report["skus"][0]["expected_redis_on_hand"], 0, "{report}");

    // The operator cancels A: the ledger is whole again and Redis is untouched.
    let id = order_id(&app, &a).await;
    let (s, cancelled) = app
        .post(&format!("/v1/orders/{id}/cancel"), API_KEY, &json!({}))
        .await;
    assert_eq!((s, &cancelled["status"]), (200, &json!("CANCELLED")));
    assert_eq!(app.ledger_on_hand("SKU-1").await, 0);
    assert_eq!(app.pending_outbox().await, 0);
    assert_eq!(app.redis_level("SKU-1").await, (0, 0));
    assert_eq!(reconcile(&app).await["drifting"], 0);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_negative_adjustment_redis_refuses_stays_visible_until_it_applies(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 8).await;

    let (s, body) = app
        .post(
            "/v1/admin/skus/SKU-1/adjustments",
            ADMIN_KEY,
            &json!({"delta": -5, "reason": "shrinkage", "movement_id": "count-7"}),
        )
        .await;

    assert_eq!(s, 201, "{body}");
    assert_eq!(body["redis"], "pending", "{body}");
    assert_eq!(app.ledger_on_hand("SKU-1").await, 5);
    assert_eq!(
        app.redis_level("SKU-1").await,
        (10, 8),
        "on-hand never below reserved"
    );
    let (attempts, err): (i32, Option<String>) =
        sqlx::query_as("select attempts, last_error from outbox where done_at is null")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(attempts >= 1, "{attempts}");
    assert!(
        err.as_deref().unwrap_or("").contains("below_reserved"),
        "{err:?}"
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("origin_outbox_backlog 1"), "{metrics}");
    assert!(
        metrics.contains("origin_outbox_attempts_total{kind=\"adjust\",result=\"retry\"}"),
        "{metrics}"
    );
    let report = reconcile(&app).await;
    let sku = &report["skus"][0];
    assert_eq!(sku["ledger_on_hand"], 5, "{report}");
    assert_eq!(sku["redis_on_hand"], 10, "{report}");
    assert_eq!(sku["expected_redis_on_hand"], 10, "{report}");
    assert_eq!(sku["pending_movements"], 1, "{report}");
    assert_eq!(sku["drift"], 0, "pending, not drift: {report}");

    // The hold ends; the worker's next retry applies the shrinkage.
    app.state.redis.release(&rid, false).await.unwrap();
    wait_outbox_drained(&app, "the adjustment is applied").await;
    assert_eq!(app.redis_level("SKU-1").await, (5, 0));
    let report = reconcile(&app).await;
    assert_eq!(report["drifting"], 0, "{report}");
    assert_eq!(report["skus"][0]["pending_movements"], 0, "{report}");
    assert!(app.metrics().await.contains("origin_outbox_backlog 0"));
    app.stop().await;
}

//! The ledger per location: adjustments name their location, an order's parts are recorded where
//! they were allocated, and its sale and cancellation movements follow them.

use std::time::Duration;

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{adjust_at, ledger_at, level_at, movements, reserve_for, warehouse};
use crate::helpers::{eventually, pool, Env, TestApp, ADMIN_KEY};

#[sqlx::test(migrations = false)]
async fn adjustments_name_their_location_and_bad_ones_change_nothing(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("ADJ", 3).await;
    warehouse(&app, "wh-b", 1).await;
    let (s, body) = adjust_at(&app, "ADJ", "wh-b", 5, "in-b").await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["location"], "wh-b");
    // Without a location: `default`.
    let (s, body) = app
        .post(
            "/v1/admin/skus/ADJ/adjustments",
            ADMIN_KEY,
            &json!({"delta": 1, "reason": "restock", "movement_id": "in-default"}),
        )
        .await;
    assert_eq!((s, &body["location"]), (201, &json!("default")), "{body}");
    assert_eq!(
        (
            ledger_at(&app, "ADJ", "default").await,
            ledger_at(&app, "ADJ", "wh-b").await
        ),
        (4, 5)
    );
    assert_eq!(level_at(&app, "ADJ", "default").await, (4, 0));
    assert_eq!(level_at(&app, "ADJ", "wh-b").await, (5, 0));
    let count = movements(&app).await;

    let (s, body) = adjust_at(&app, "ADJ", "nowhere", 5, "in-x").await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("unknown_location")),
        "{body}"
    );
    assert_eq!(body["error"]["location"], "nowhere");
    let (s, body) = adjust_at(&app, "ADJ", "no where", 5, "in-y").await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("invalid_location")),
        "{body}"
    );
    // The same movement id at another location is another change.
    let (s, body) = adjust_at(&app, "ADJ", "default", 5, "in-b").await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("movement_id_reused")),
        "{body}"
    );
    let (s, body) = adjust_at(&app, "ADJ", "wh-b", 5, "in-b").await;
    assert_eq!((s, &body["replay"]), (200, &json!(true)), "{body}");

    assert_eq!(movements(&app).await, count);
    assert_eq!(level_at(&app, "ADJ", "default").await, (4, 0));
    assert_eq!(level_at(&app, "ADJ", "wh-b").await, (5, 0));
    assert_eq!(level_at(&app, "ADJ", "nowhere").await, (0, 0));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_split_order_records_its_parts_and_sells_and_restocks_at_each_location(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SPLIT", 2).await;
    warehouse(&app, "wh-b", 1).await;
    assert_eq!(adjust_at(&app, "SPLIT", "wh-b", 5, "in-b").await.0, 201);

    let rid = reserve_for(&app, "SPLIT", 4, None).await;
    let (s, placed) = app.place(&rid).await;
    assert_eq!(s, 201, "{placed}");
    let allocation = json!([{"sku": "SPLIT", "qty": 4, "allocation": [
        {"location": "default", "qty": 2}, {"location": "wh-b", "qty": 2}]}]);
    assert_eq!(placed["items"], allocation);
    let parts: Vec<(i32, String, i32)> =
        sqlx::query_as("select line, location, qty from order_items order by line")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(parts, [(1, "default".into(), 2), (2, "wh-b".into(), 2)]);

    let (s, levels) = app.get("/v1/admin/skus/SPLIT/locations", ADMIN_KEY).await;
    assert_eq!(s, 200, "{levels}");
    assert_eq!(
        levels["locations"],
        json!([
            {"location": "default", "on_hand": 2, "held": 2, "committed": 2, "available": 0},
            {"location": "wh-b", "on_hand": 5, "held": 2, "committed": 2, "available": 3},
        ])
    );
    let (s, body) = app.get("/v1/admin/skus/NOPE/locations", ADMIN_KEY).await;
    assert_eq!(s, 404, "{body}");

    let (s, order) = app.confirm(&rid).await;
    assert_eq!(s, 201, "{order}");
    assert_eq!(order["items"], allocation);
    assert_eq!(order["commit_applied"], true);
    let sales: Vec<(String, i32)> = sqlx::query_as(
        "select location, qty from stock_movements where kind = 'sale' order by movement_id",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    assert_eq!(sales, [("default".into(), -2), ("wh-b".into(), -2)]);
    assert_eq!(level_at(&app, "SPLIT", "default").await, (0, 0));
    assert_eq!(level_at(&app, "SPLIT", "wh-b").await, (3, 0));

    let (s, cancelled) = app
        .cancel(&order["order_id"], &json!({"restock": true}))
        .await;
    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(cancelled["items"], allocation);
    assert_eq!(
        (
            ledger_at(&app, "SPLIT", "default").await,
            ledger_at(&app, "SPLIT", "wh-b").await
        ),
        (2, 5)
    );
    eventually(
        Duration::from_secs(5),
        "restocked at each location",
        || async {
            level_at(&app, "SPLIT", "default").await == (2, 0)
                && level_at(&app, "SPLIT", "wh-b").await == (5, 0)
        },
    )
    .await;
    // One order event per SKU, with the SKU's total.
    let events: Vec<(String, i64)> =
        sqlx::query_as("select kind, qty from stock_events where order_id is not null order by id")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(
        events,
        [
            ("order_placed".into(), 4),
            ("order_confirmed".into(), 4),
            ("order_cancelled".into(), 4)
        ]
    );
    let (_, report) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(report["drifting"], 0, "{report}");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_late_confirm_short_at_its_location_names_it_and_changes_nothing(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let cfg = env.config(&[
        ("PAYMENT_WINDOW_SECONDS", "1"),
        ("CONFIRM_GRACE_SECONDS", "1"),
    ]);
    let app = TestApp::spawn(pool(opts, c).await, cfg).await;
    app.create_sku("LATE", 0).await;
    warehouse(&app, "wh-b", 1).await;
    assert_eq!(adjust_at(&app, "LATE", "wh-b", 2, "in-b").await.0, 201);
    let rid = reserve_for(&app, "LATE", 2, None).await;
    assert_eq!(app.place(&rid).await.0, 201);
    eventually(Duration::from_secs(10), "the order expired", || async {
        app.order_status(&rid).await == "EXPIRED" && level_at(&app, "LATE", "wh-b").await == (2, 0)
    })
    .await;
    // Someone else takes the units at wh-b: the late payment finds that location short.
    let _other = reserve_for(&app, "LATE", 2, None).await;
    let before = movements(&app).await;
    let (s, body) = app.confirm(&rid).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_stock");
    assert_eq!(body["error"]["location"], "wh-b");
    assert_eq!(body["error"]["sku"], "LATE");
    assert_eq!(body["error"]["available"], 0);
    assert_eq!(movements(&app).await, before);
    assert_eq!(app.order_status(&rid).await, "EXPIRED");
    app.stop().await;
}

/// The audit trail names the location of every hold and stock event, as the stream entry did:
/// a split hold is one event per location, and level events (about the shipping sum) have none.
#[sqlx::test(migrations = false)]
async fn the_audit_copy_of_the_stream_keeps_each_events_location(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("EVL", 2).await;
    warehouse(&app, "wh-e", 1).await;
    let (s, body) = adjust_at(&app, "EVL", "wh-e", 1, "evl-in").await;
    assert_eq!(s, 201, "{body}");
    // 3 units: 2 at default (priority 0), then 1 at wh-e.
    reserve_for(&app, "EVL", 3, None).await;
    let db = app.state.db.clone();
    eventually(Duration::from_secs(10), "the events copied", || {
        let db = db.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from stock_events where sku = 'EVL' and kind = 'hold_created'",
            )
            .fetch_one(&db)
            .await
            .unwrap();
            n == 2
        }
    })
    .await;
    let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "select kind, qty, location from stock_events where sku = 'EVL' order by id",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    let holds: Vec<(i64, Option<&str>)> = rows
        .iter()
        .filter(|r| r.0 == "hold_created")
        .map(|r| (r.1, r.2.as_deref()))
        .collect();
    assert_eq!(holds, [(2, Some("default")), (1, Some("wh-e"))]);
    assert!(
        rows.iter()
            .filter(|r| r.0 == "stock_adjusted")
            .any(|r| r.2.as_deref() == Some("wh-e")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .filter(|r| matches!(r.0.as_str(), "low_stock" | "sold_out" | "back_in_stock"))
            .all(|r| r.2.is_none()),
        "{rows:?}"
    );
    // The audit trail shows them.
    let (s, page) = app.get("/v1/events?sku=EVL&limit=100", ADMIN_KEY).await;
    assert_eq!(s, 200, "{page}");
    let shown: Vec<(&str, Option<&str>)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "hold" && e["kind"] == "hold_created")
        .map(|e| (e["kind"].as_str().unwrap(), e["location"].as_str()))
        .collect();
    assert_eq!(shown.len(), 2);
    assert!(shown.contains(&("hold_created", Some("wh-e"))), "{page}");
}

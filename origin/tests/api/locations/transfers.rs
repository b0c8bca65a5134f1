//! Transfers: units move between two locations exactly once, or nothing changes.

use std::time::Duration;

use origin::fault::FaultPoint;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{adjust_at, ledger_at, level_at, movements, put_location, reserve_for, warehouse};
use crate::helpers::{eventually, pool, Env, TestApp, ADMIN_KEY};

async fn transfer(app: &TestApp, sku: &str, body: &Value) -> (u16, Value) {
    app.post(&format!("/v1/admin/skus/{sku}/transfers"), ADMIN_KEY, body)
        .await
}

/// `(default, wh-b)` in the ledger and in Redis.
async fn both(app: &TestApp, sku: &str) -> ((i64, i64), (i64, i64), (i64, i64)) {
    (
        (
            ledger_at(app, sku, "default").await,
            ledger_at(app, sku, "wh-b").await,
        ),
        level_at(app, sku, "default").await,
        level_at(app, sku, "wh-b").await,
    )
}

#[sqlx::test(migrations = false)]
async fn a_transfer_moves_units_once_and_a_replay_answers_the_same(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("MOVE", 10).await;
    warehouse(&app, "wh-b", 1).await;
    let body = json!({"from": "default", "to": "wh-b", "qty": 4, "movement_id": "t-1"});
    let (s, first) = transfer(&app, "MOVE", &body).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["redis"], "applied");
    assert_eq!(first["replay"], false);
    assert_eq!(both(&app, "MOVE").await, ((6, 4), (6, 0), (4, 0)));
    let (s, again) = transfer(&app, "MOVE", &body).await;
    assert_eq!((s, &again["replay"]), (200, &json!(true)), "{again}");
    assert_eq!(
        (&again["from"], &again["to"], &again["qty"]),
        (&first["from"], &first["to"], &first["qty"])
    );
    assert_eq!(both(&app, "MOVE").await, ((6, 4), (6, 0), (4, 0)));
    let kinds: Vec<(String, String, String, i32)> = sqlx::query_as(
        "select movement_id, kind::text, location, qty from stock_movements where kind = 'transfer' order by id",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            ("t-1:from".into(), "transfer".into(), "default".into(), -4),
            ("t-1:to".into(), "transfer".into(), "wh-b".into(), 4)
        ]
    );
    // Out of an inactive location is allowed.
    let (s, _) = put_location(
        &app,
        "wh-b",
        &json!({"name": "B", "kind": "warehouse", "priority": 1, "active": false}),
    )
    .await;
    assert_eq!(s, 200);
    let back = json!({"from": "wh-b", "to": "default", "qty": 1, "movement_id": "t-2"});
    let (s, body) = transfer(&app, "MOVE", &back).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(both(&app, "MOVE").await, ((7, 3), (7, 0), (3, 0)));
    let (_, report) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(report["drifting"], 0, "{report}");
    app.stop().await;
}

/// A body, the status and code it gets, and one detail it carries.
type Case = (
    Value,
    u16,
    &'static str,
    Option<(&'static str, &'static str)>,
);

#[sqlx::test(migrations = false)]
async fn every_refused_transfer_changes_nothing(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("REF", 5).await;
    warehouse(&app, "wh-b", 1).await;
    assert_eq!(adjust_at(&app, "REF", "wh-b", 1, "in-b").await.0, 201);
    let done = json!({"from": "default", "to": "wh-b", "qty": 1, "movement_id": "t-done"});
    assert_eq!(transfer(&app, "REF", &done).await.0, 201);
    // Units held at default: only 4 - 2 = 2 are available there in Redis, the ledger says 4.
    let _hold = reserve_for(&app, "REF", 2, None).await;
    let count = movements(&app).await;
    let state = both(&app, "REF").await;
    let t = |from: &str, to: &str, qty: i64, id: &str| json!({"from": from, "to": to, "qty": qty, "movement_id": id});
    let cases: Vec<Case> = vec![
        (
            t("default", "default", 1, "x1"),
            422,
            "invalid_body",
            Some(("field", "to")),
        ),
        (
            t("default", "wh-b", 0, "x2"),
            422,
            "invalid_body",
            Some(("field", "qty")),
        ),
        (
            t("default", "wh-b", -3, "x3"),
            422,
            "invalid_body",
            Some(("field", "qty")),
        ),
        (
            t("default", "nowhere", 1, "x4"),
            422,
            "unknown_location",
            Some(("location", "nowhere")),
        ),
        (
            t("nowhere", "wh-b", 1, "x5"),
            422,
            "unknown_location",
            Some(("location", "nowhere")),
        ),
        (
            t("bad code", "wh-b", 1, "x6"),
            422,
            "invalid_location",
            Some(("field", "from")),
        ),
        (
            t("default", "wh-b", 1, "bad id"),
            422,
            "invalid_body",
            Some(("field", "movement_id")),
        ),
        (
            t("default", "wh-b", 2, "t-done"),
            422,
            "movement_id_reused",
            None,
        ),
        (
            t("wh-b", "default", 1, "t-done"),
            422,
            "movement_id_reused",
            None,
        ),
        // The ledger has 4 at default: 5 is refused before Redis is asked.
        (
            t("default", "wh-b", 5, "x7"),
            409,
            "insufficient_stock",
            Some(("location", "default")),
        ),
        // Redis has only 2 available there (2 held): 3 is short.
        (
            t("default", "wh-b", 3, "x8"),
            409,
            "insufficient_stock",
            Some(("location", "default")),
        ),
    ];
    for (body, status, code, detail) in cases {
        let (s, answer) = transfer(&app, "REF", &body).await;
        assert_eq!(
            (s, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        if let Some((k, v)) = detail {
            assert_eq!(answer["error"][k], v, "{body}: {answer}");
        }
    }
    let (s, short) = transfer(&app, "REF", &t("default", "wh-b", 3, "x9")).await;
    assert_eq!(
        (s, &short["error"]["sku"], &short["error"]["available"]),
        (409, &json!("REF"), &json!(2))
    );
    let (s, _) = transfer(&app, "NOPE", &t("default", "wh-b", 1, "x10")).await;
    assert_eq!(s, 404);
    assert_eq!(movements(&app).await, count);
    assert_eq!(both(&app, "REF").await, state);
    let pending: i64 = sqlx::query_scalar(
        "select count(*) from outbox where kind = 'transfer' and done_at is null",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(pending, 0);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_crash_between_postgres_and_redis_is_finished_once_by_the_outbox(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let db = pool(opts, c).await;
    let app = TestApp::spawn_with(db.clone(), env.config(&[]), |s| {
        s.faults.arm(FaultPoint::BeforeTransferApply)
    })
    .await;
    app.create_sku("CRASH", 10).await;
    warehouse(&app, "wh-b", 1).await;
    let body = json!({"from": "default", "to": "wh-b", "qty": 3, "movement_id": "t-crash"});
    let (s, _) = transfer(&app, "CRASH", &body).await;
    assert_eq!(s, 500);
    // Recorded, not yet in Redis.
    assert_eq!(
        (
            ledger_at(&app, "CRASH", "default").await,
            ledger_at(&app, "CRASH", "wh-b").await
        ),
        (7, 3)
    );
    app.stop().await;
    let app = TestApp::spawn(db, env.config(&[])).await;
    eventually(
        Duration::from_secs(10),
        "the outbox applied the transfer",
        || async { app.pending_outbox().await == 0 },
    )
    .await;
    assert_eq!(both(&app, "CRASH").await, ((7, 3), (7, 0), (3, 0)));
    // The retry of the client answers the transfer and moves nothing more.
    let (s, again) = transfer(&app, "CRASH", &body).await;
    assert_eq!((s, &again["replay"]), (200, &json!(true)), "{again}");
    // Applying the row again (a worker's repeat) is a duplicate in Redis.
    let row: i64 = sqlx::query_scalar("select id from outbox where kind = 'transfer'")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    sqlx::query("update outbox set done_at = null, outcome = null where id = $1")
        .bind(row)
        .execute(&app.state.db)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the repeat is done", || async {
        app.pending_outbox().await == 0
    })
    .await;
    assert_eq!(both(&app, "CRASH").await, ((7, 3), (7, 0), (3, 0)));
    app.stop().await;
}

//! Locations: create, update, read, their order, the 64 limit, and Redis's copy of the settings.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::put_location;
use crate::helpers::{pool, Env, TestApp, ADMIN_KEY};

fn codes(list: &serde_json::Value) -> Vec<String> {
    list["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn redis_codes(app: &TestApp) -> Vec<(String, i32, bool, bool, bool)> {
    let mut all: Vec<_> = app
        .state
        .redis
        .locations()
        .await
        .unwrap()
        .expect("redis has the settings")
        .into_iter()
        .map(|l| (l.code.to_string(), l.priority, l.active, l.ships, l.pickup))
        .collect();
    all.sort();
    all
}

#[sqlx::test(migrations = false)]
async fn locations_are_created_updated_listed_by_priority_then_code_and_reach_redis(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    // Startup wrote the settings Postgres has: `default` only.
    assert_eq!(
        redis_codes(&app).await,
        [("default".to_owned(), 0, true, true, false)]
    );
    let (s, created) = put_location(
        &app,
        "store-b",
        &json!({"name": "Store B", "kind": "store", "priority": 5, "pickup": true, "ships": false}),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["kind"], "store");
    assert_eq!(created["active"], true);
    assert_eq!(created["pickup"], true);
    assert_eq!(created["ships"], false);
    for (code, priority) in [("Store-a", 5), ("store-a", 5), ("wh-1", -1)] {
        let body = json!({"name": code, "kind": "warehouse", "priority": priority});
        assert_eq!(put_location(&app, code, &body).await.0, 201);
    }
    let (s, updated) = put_location(
        &app,
        "wh-1",
        &json!({"name": "Main", "kind": "warehouse", "priority": 7, "active": false}),
    )
    .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["active"], false);
    assert_eq!(updated["created_at"], updated["created_at"]);

    let (s, list) = app.get("/v1/admin/locations", ADMIN_KEY).await;
    assert_eq!(s, 200, "{list}");
    // Priority, then code in byte order (upper case before lower case).
    assert_eq!(
        codes(&list),
        ["default", "Store-a", "store-a", "store-b", "wh-1"]
    );
    let (s, one) = app.get("/v1/admin/locations/wh-1", ADMIN_KEY).await;
    assert_eq!((s, &one["name"]), (200, &json!("Main")));
    let (s, none) = app.get("/v1/admin/locations/nowhere", ADMIN_KEY).await;
    assert_eq!((s, &none["error"]["code"]), (404, &json!("not_found")));
    // Redis has every location, active or not, as Postgres has them.
    let redis = redis_codes(&app).await;
    assert_eq!(redis.len(), 5);
    assert!(redis.contains(&("wh-1".to_owned(), 7, false, true, false)));
    assert!(redis.contains(&("store-b".to_owned(), 5, true, false, true)));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn bad_codes_and_bodies_are_refused_and_change_nothing(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    let good = json!({"name": "X", "kind": "store"});
    let (s, body) = put_location(&app, "bad%20code", &good).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("invalid_location"))
    );
    assert_eq!(body["error"]["field"], "code");
    let (s, body) = app.get("/v1/admin/locations/bad%7Bcode", ADMIN_KEY).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("invalid_location"))
    );
    for bad in [
        json!({"name": "", "kind": "store"}),
        json!({"name": "X", "kind": "depot"}),
        json!({"name": "X"}),
        json!({"name": "X", "kind": "store", "colour": "red"}),
    ] {
        let (s, body) = put_location(&app, "ok-code", &bad).await;
        assert_eq!(
            (s, &body["error"]["code"]),
            (422, &json!("invalid_body")),
            "{bad}"
        );
    }
    let (_, list) = app.get("/v1/admin/locations", ADMIN_KEY).await;
    assert_eq!(codes(&list), ["default"]);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_65th_location_is_refused_with_the_reason(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    for i in 1..64 {
        let (s, body) = put_location(
            &app,
            &format!("loc-{i:02}"),
            &json!({"name": "L", "kind": "store", "priority": i}),
        )
        .await;
        assert_eq!(s, 201, "{i}: {body}");
    }
    let (s, body) = put_location(&app, "loc-65", &json!({"name": "L", "kind": "store"})).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (422, &json!("invalid_body")),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("64"),
        "{body}"
    );
    // Updating one of the 64 is still fine.
    let (s, _) = put_location(&app, "loc-01", &json!({"name": "L1", "kind": "store"})).await;
    assert_eq!(s, 200);
    let (_, list) = app.get("/v1/admin/locations", ADMIN_KEY).await;
    assert_eq!(list["locations"].as_array().unwrap().len(), 64);
    assert_eq!(redis_codes(&app).await.len(), 64);
    // The database refuses a 65th too, and never deletes one.
    let direct = sqlx::query("insert into locations (code, name, kind) values ('x', 'x', 'store')")
        .execute(&app.state.db)
        .await;
    assert!(direct.is_err());
    let delete = sqlx::query("delete from locations where code = 'loc-01'")
        .execute(&app.state.db)
        .await;
    assert!(delete.is_err());
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_put_while_redis_is_down_answers_503_and_the_next_reconcile_writes_it(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let gateway = crate::helpers::spawn_gateway("127.0.0.1:0").await;
    let addr = gateway.addr.to_string();
    let prefix = crate::helpers::unique_prefix();
    let config = crate::helpers::test_config(&format!("http://{addr}"), &prefix, &[]);
    let app = TestApp::spawn(pool(opts, c).await, config).await;
    gateway.stop().await.unwrap();
    let (s, body) = put_location(&app, "wh-2", &json!({"name": "W2", "kind": "warehouse"})).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (503, &json!("unavailable")),
        "{body}"
    );
    // Saved in Postgres.
    let (s, _) = app.get("/v1/admin/locations/wh-2", ADMIN_KEY).await;
    assert_eq!(s, 200);
    let _gateway = crate::helpers::spawn_gateway(&addr).await;
    let (s, report) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["settings_drift"], true);
    assert!(!redis_codes(&app).await.iter().any(|l| l.0 == "wh-2"));
    let (_, repaired) = app.get("/v1/admin/reconcile?repair=true", ADMIN_KEY).await;
    assert_eq!(repaired["settings_drift"], true, "{repaired}");
    assert!(redis_codes(&app).await.iter().any(|l| l.0 == "wh-2"));
    let (_, after) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(after["settings_drift"], false, "{after}");
    app.stop().await;
}

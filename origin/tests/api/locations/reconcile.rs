//! Reconcile and seed per (SKU, location), and of the location settings.

use edgestock_core::domain::Location;
use edgestock_core::scripts::LocationSettings;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{adjust_at, level_at, warehouse};
use crate::helpers::{pool, Env, TestApp, ADMIN_KEY};

#[sqlx::test(migrations = false)]
async fn reconcile_reports_a_drifting_location_and_settings_and_repair_fixes_both(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("REC", 5).await;
    warehouse(&app, "wh-b", 1).await;
    assert_eq!(adjust_at(&app, "REC", "wh-b", 3, "in-b").await.0, 201);
    // Someone tampers with Redis: wh-b's on-hand, and the settings lose wh-b.
    let key = app.state.redis.keys().stock("REC");
    app.state
        .redis
        .client()
        .command(
            &upstash_rest::cmd("HSET")
                .arg(key)
                .arg("on_hand@wh-b")
                .arg(9),
        )
        .await
        .unwrap();
    app.state
        .redis
        .put_locations(&[LocationSettings {
            code: Location::default_location(),
            name: "Default".into(),
            priority: 0,
            active: true,
            ships: true,
            pickup: false,
        }])
        .await
        .unwrap();

    let (s, report) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["drifting"], 1, "{report}");
    assert_eq!(report["settings_drift"], true);
    let sku = &report["skus"][0];
    // The top-level numbers are `default`'s, as before locations.
    assert_eq!(
        (sku["drift"].as_i64(), sku["redis_on_hand"].as_i64()),
        (Some(0), Some(5))
    );
    assert_eq!(sku["locations"][0]["location"], "default");
    assert_eq!(
        sku["locations"][1],
        json!({"location": "wh-b", "ledger_on_hand": 3, "expected_redis_on_hand": 3,
               "pending_movements": 0, "redis_on_hand": 9, "redis_reserved": 0, "drift": 6,
               "repaired": false})
    );
    assert_eq!(level_at(&app, "REC", "wh-b").await, (9, 0));

    let (_, repaired) = app.get("/v1/admin/reconcile?repair=true", ADMIN_KEY).await;
    assert_eq!(
        repaired["skus"][0]["locations"][1]["repaired"], true,
        "{repaired}"
    );
    assert_eq!(repaired["skus"][0]["repaired"], false);
    assert_eq!(level_at(&app, "REC", "wh-b").await, (3, 0));
    let have = app.state.redis.locations().await.unwrap().unwrap();
    assert_eq!(have.len(), 2);
    let (_, after) = app.get("/v1/admin/reconcile", ADMIN_KEY).await;
    assert_eq!(
        (&after["drifting"], &after["settings_drift"]),
        (&json!(0), &json!(false)),
        "{after}"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn seeding_an_empty_redis_restores_the_settings_and_every_location(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SEED", 4).await;
    warehouse(&app, "wh-b", 1).await;
    assert_eq!(adjust_at(&app, "SEED", "wh-b", 7, "in-b").await.0, 201);
    // Redis loses everything under this test's prefix.
    for key in [
        app.state.redis.keys().stock("SEED"),
        app.state
            .redis
            .keys()
            .locations(edgestock_core::keys::ShardId(0)),
    ] {
        app.state
            .redis
            .client()
            .command(&upstash_rest::cmd("DEL").arg(key))
            .await
            .unwrap();
    }
    assert!(app.state.redis.locations().await.unwrap().is_none());
    let (s, seeded) = app.post("/v1/admin/seed", ADMIN_KEY, &json!({})).await;
    assert_eq!(s, 200, "{seeded}");
    assert_eq!(level_at(&app, "SEED", "default").await, (4, 0));
    assert_eq!(level_at(&app, "SEED", "wh-b").await, (7, 0));
    assert_eq!(app.state.redis.locations().await.unwrap().unwrap().len(), 2);
    // SKU-wide numbers: the sum over active shipping locations.
    assert_eq!(app.redis_level("SEED").await, (11, 0));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_placed_split_order_is_pinned_again_at_its_own_locations(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("PIN", 2).await;
    warehouse(&app, "wh-b", 1).await;
    assert_eq!(adjust_at(&app, "PIN", "wh-b", 5, "in-b").await.0, 201);
    let rid = super::reserve_for(&app, "PIN", 4, None).await;
    assert_eq!(app.place(&rid).await.0, 201);
    // Redis loses the SKU, its holds and the reservation.
    let keys = app.state.redis.keys();
    for key in [
        keys.stock("PIN"),
        keys.holds("PIN"),
        keys.reservation(edgestock_core::keys::ShardId(0), &rid),
    ] {
        app.state
            .redis
            .client()
            .command(&upstash_rest::cmd("DEL").arg(key))
            .await
            .unwrap();
    }
    let (s, seeded) = app.post("/v1/admin/seed", ADMIN_KEY, &json!({})).await;
    assert_eq!((s, &seeded["repinned"]), (200, &json!(1)), "{seeded}");
    assert_eq!(level_at(&app, "PIN", "default").await, (2, 2));
    assert_eq!(level_at(&app, "PIN", "wh-b").await, (5, 2));
    let (s, order) = app.confirm(&rid).await;
    assert_eq!(
        (s, &order["commit_applied"]),
        (201, &json!(true)),
        "{order}"
    );
    assert_eq!(level_at(&app, "PIN", "default").await, (0, 0));
    assert_eq!(level_at(&app, "PIN", "wh-b").await, (3, 0));
    // The audit trail names each movement's location.
    let (_, trail) = app.get("/v1/events?sku=PIN", ADMIN_KEY).await;
    let sales: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sale")
        .map(|e| e["location"].as_str().unwrap())
        .collect();
    assert_eq!(sales.len(), 2, "{trail}");
    assert!(
        sales.contains(&"default") && sales.contains(&"wh-b"),
        "{trail}"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_pickup_order_sells_at_its_store_only(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("PICK", 5).await;
    let (s, body) = super::put_location(
        &app,
        "store-1",
        &json!({"name": "Store", "kind": "store", "priority": 9, "ships": false, "pickup": true}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(adjust_at(&app, "PICK", "store-1", 3, "in-s").await.0, 201);
    let rid = super::reserve_for(&app, "PICK", 2, Some("store-1")).await;
    let (s, order) = app.confirm(&rid).await;
    assert_eq!(s, 201, "{order}");
    assert_eq!(
        order["items"],
        json!([{"sku": "PICK", "qty": 2, "allocation": [{"location": "store-1", "qty": 2}]}])
    );
    assert_eq!(super::ledger_at(&app, "PICK", "store-1").await, 1);
    assert_eq!(super::ledger_at(&app, "PICK", "default").await, 5);
    assert_eq!(level_at(&app, "PICK", "store-1").await, (1, 0));
    assert_eq!(level_at(&app, "PICK", "default").await, (5, 0));
    app.stop().await;
}

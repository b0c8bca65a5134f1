//! Concurrent confirms: one order per reservation; a hot SKU stays consistent.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{pool, Env, TestApp};

#[sqlx::test(migrations = false)]
async fn fifty_concurrent_confirms_of_one_reservation_make_one_order(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = Arc::new(TestApp::spawn(pool(opts, c).await, env.config(&[])).await);
    app.create_sku("HOT", 100).await;
    let rid = app.reserve("HOT", 2).await;

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, rid) = (app.clone(), rid.clone());
            tokio::spawn(async move { app.confirm(&rid).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(status == 201 || status == 200, "{status} {body}");
        created += usize::from(status == 201);
        ids.insert(body["order_id"].as_str().unwrap().to_owned());
    }

    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1, "every answer names the same order");
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    assert_eq!(app.ledger_on_hand("HOT").await, 98);
    assert_eq!(app.redis_level("HOT").await, (98, 0));
}

#[sqlx::test(migrations = false)]
async fn fifty_reservations_of_a_hot_sku_confirmed_at_once_make_fifty_orders(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = Arc::new(TestApp::spawn(pool(opts, c).await, env.config(&[])).await);
    app.create_sku("HOT", 60).await;
    let mut rids = Vec::new();
    for _ in 0..50 {
        rids.push(app.reserve("HOT", 1).await);
    }

    let tasks: Vec<_> = rids
        .into_iter()
        .map(|rid| {
            let app = app.clone();
            tokio::spawn(async move { app.confirm(&rid).await })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "CONFIRMED");
    }

    let confirmed: i64 =
        sqlx::query_scalar("select count(*) from orders where status = 'CONFIRMED'")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(confirmed, 50);
    assert_eq!(app.ledger_on_hand("HOT").await, 10);
    assert_eq!(app.redis_level("HOT").await, (10, 0));
    assert_eq!(app.pending_outbox().await, 0);
}

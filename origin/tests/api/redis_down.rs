//! Redis unreachable: the API answers promptly, and the outbox catches up when it returns.

use std::time::{Duration, Instant};

use origin::fault::FaultPoint;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{
    eventually, pool, spawn_gateway, test_config, unique_prefix, DownGateway, TestApp,
};

#[sqlx::test(migrations = false)]
async fn confirm_answers_503_promptly_when_redis_is_unreachable(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let gateway = spawn_gateway("127.0.0.1:0").await;
    let prefix = unique_prefix();
    let app = TestApp::spawn(
        pool(opts, c).await,
        test_config(&gateway.url(), &prefix, &[]),
    )
    .await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 1).await;
    gateway.stop().await.unwrap();

    let started = Instant::now();
    let (status, body) = app.confirm(&rid).await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(orders, 0);
    let (s, _) = app.get("/readyz", "").await;
    assert_eq!(s, 503);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn recorded_orders_are_applied_once_redis_returns(opts: PgPoolOptions, c: PgConnectOptions) {
    let gateway = spawn_gateway("127.0.0.1:0").await;
    let addr = gateway.addr.to_string();
    let prefix = unique_prefix();
    let db = pool(opts, c).await;
    let config = || test_config(&format!("http://{addr}"), &prefix, &[]);
    let first = TestApp::spawn_with(db.clone(), config(), |s| {
        s.faults.arm(FaultPoint::AfterPgCommit)
    })
    .await;
    first.create_sku("SKU-1", 10).await;
    let rid = first.reserve("SKU-1", 4).await;
    assert_eq!(first.confirm(&rid).await.0, 500);
    first.stop().await;
    let down = DownGateway::stop(gateway).await;

    // The restarted origin cannot reach Redis: the worker retries with backoff and keeps the error.
    let second = TestApp::spawn(db.clone(), config()).await;
    let db2 = db.clone();
    eventually(Duration::from_secs(10), "failed attempts recorded", || {
        let db = db2.clone();
        async move {
            let (attempts, err): (i32, Option<String>) =
                sqlx::query_as("select attempts, last_error from outbox where kind = 'commit'")
                    .fetch_one(&db)
                    .await
                    .unwrap();
            attempts >= 1 && err.is_some()
        }
    })
    .await;
    let (s, order) = second.get("/v1/orders/none", crate::helpers::API_KEY).await;
    assert_eq!(s, 404, "{order}");

    let _gateway = down.restart().await;
    eventually(Duration::from_secs(90), "the outbox catches up", || {
        let db = db2.clone();
        async move {
            let applied: bool = sqlx::query_scalar("select commit_applied from orders")
                .fetch_one(&db)
                .await
                .unwrap();
            applied
        }
    })
    .await;
    assert_eq!(second.redis_level("SKU-1").await, (6, 0));
    second.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_confirm_retry_gets_its_order_while_redis_is_unreachable(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let gateway = spawn_gateway("127.0.0.1:0").await;
    let app = TestApp::spawn(
        pool(opts, c).await,
        test_config(&gateway.url(), &unique_prefix(), &[]),
    )
    .await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 2).await;
    let (s, first) = app.confirm(&rid).await;
    assert_eq!(s, 201, "{first}");
    gateway.stop().await.unwrap();

    let (s, again) = app.confirm(&rid).await;

    assert_eq!(s, 200, "the order is read from Postgres: {again}");
    assert_eq!(again, first);
    app.stop().await;
}

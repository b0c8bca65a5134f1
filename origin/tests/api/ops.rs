//! `/metrics` behind `METRICS_TOKEN`, and `/readyz` checked at most once per second.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{eventually, pool, Env, TestApp, ADMIN_KEY, API_KEY, METRICS_TOKEN};

/// Finding 9: `/metrics` shows exact availability per SKU, so only the metrics token reads it;
/// no token, a wrong one, or the backend and admin keys get 401 `unauthorized` and no numbers.
#[sqlx::test(migrations = false)]
async fn adversary_metrics_need_the_metrics_token(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SECRET-SKU", 7).await;
    for key in [None, Some("wrong"), Some(API_KEY), Some(ADMIN_KEY)] {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 401, "{key:?}: {text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("JSON error");
        assert_eq!(
            body,
            json!({"error": {"code": "unauthorized", "message": "missing or invalid credentials"}}),
            "{key:?}"
        );
    }
    let text = app.metrics().await;
    assert!(
        text.contains("origin_stock_available{sku=\"SECRET-SKU\"} 7"),
        "{text}"
    );
    let resp = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

/// Without `METRICS_TOKEN` the route is off: 404 `not_found`, whatever the caller sends.
#[sqlx::test(migrations = false)]
async fn metrics_are_off_without_a_metrics_token(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let mut config = env.config(&[]);
    config.metrics_token = None;
    let app = TestApp::spawn(pool(opts, c).await, config).await;
    for key in ["", METRICS_TOKEN, ADMIN_KEY] {
        let (status, body) = app.get("/metrics", key).await;
        assert_eq!(
            (status, body),
            (
                404,
                json!({"error": {
                    "code": "not_found",
                    "message": "metrics are off: set METRICS_TOKEN to serve them"
                }})
            ),
            "{key:?}"
        );
    }
    app.stop().await;
}

/// Finding 9: `/readyz` is cheap. Fifty probes within a second, half of them concurrent, cost
/// one real check (counted by `origin_readiness_checks_total`); the next second costs one more.
#[sqlx::test(migrations = false)]
async fn readyz_checks_postgres_and_redis_at_most_once_per_second(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    let checks = || app.state.metrics.readiness_checks();
    assert_eq!(checks(), 0);
    let started = std::time::Instant::now();
    let probes = (0..25).map(|_| app.get("/readyz", ""));
    for (status, body) in futures::future::join_all(probes).await {
        assert_eq!(
            (status, body),
            (200, json!({"postgres": true, "redis": true}))
        );
    }
    for _ in 0..25 {
        let (status, _) = app.get("/readyz", "").await;
        assert_eq!(status, 200);
    }
    // One check per started second at most (exactly one on any machine that is not crawling).
    let most = 1 + started.elapsed().as_secs();
    assert!((1..=most).contains(&checks()), "{} checks", checks());
    let before = checks();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get("/readyz", "").await.0, 200);
    assert_eq!(checks(), before + 1, "a stale answer is checked again");
    let text = app.metrics().await;
    assert!(
        text.contains(&format!("origin_readiness_checks_total {}", checks())),
        "{text}"
    );
    app.stop().await;
}

/// `active_reservations_count` counts live holds (one per SKU line), and is cached briefly;
/// `inventory_available` covers only SKUs with stock events in the last hour or listed in
/// `METRICS_SKUS`.
#[sqlx::test(migrations = false)]
async fn live_holds_and_a_bounded_inventory_are_exported(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let config = env.config(&[("METRICS_SKUS", "LISTED")]);
    let app = TestApp::spawn(pool(opts, c).await, config).await;
    for (sku, n) in [("ACTIVE", 10), ("LISTED", 4), ("QUIET", 6)] {
        app.create_sku(sku, n).await;
    }
    let _a = app.reserve("ACTIVE", 2).await;
    let _b = app.reserve("ACTIVE", 1).await;
    let _c = app.reserve("LISTED", 1).await;
    let db = app.state.db.clone();
    eventually(std::time::Duration::from_secs(10), "events copied", || {
        let db = db.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("select count(*) from stock_events where kind = 'hold_created'")
                    .fetch_one(&db)
                    .await
                    .unwrap();
            n == 3
        }
    })
    .await;
    // As if LISTED and QUIET had seen no activity for an hour.
    sqlx::query("update stock_events set at = now() - interval '2 hours' where sku <> 'ACTIVE'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let text = app.metrics().await;
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("inventory_available{") || l.starts_with("active_reservations_count ")
        })
        .collect();
    lines.sort_unstable(); // a family's label sets come in no fixed order
    assert_eq!(
        lines,
        [
            "active_reservations_count 3",
            "inventory_available{sku=\"ACTIVE\"} 7",
            "inventory_available{sku=\"LISTED\"} 3",
        ],
        "{text}"
    );
    // Reused for a few seconds: a new hold does not show at once.
    let _d = app.reserve("QUIET", 1).await;
    assert!(app
        .metrics()
        .await
        .contains("active_reservations_count 3\n"));
    app.stop().await;
}

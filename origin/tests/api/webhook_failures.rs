//! Webhook delivery when receivers fail: retries after 500s and timeouts with the attempt log,
//! one SKU's failing head never holding back another SKU, disabling, replay, and confirms that
//! do not wait for a hanging receiver.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{eventually, Env, TestApp, ADMIN_KEY};
use crate::receiver::{spawn, subscribe, Answer, Receiver};

async fn subscribe_all(app: &TestApp, r: &Receiver, types: &[&str]) -> String {
    let webhook = subscribe(app, r, types, None).await;
    webhook["id"].as_str().unwrap().to_owned()
}

/// `(type, sku, answer)` of every request, in arrival order.
fn requests(r: &Receiver) -> Vec<(String, String, Answer)> {
    r.received()
        .into_iter()
        .map(|x| {
            (
                x.message.event_type.as_str().to_owned(),
                x.message.data.sku,
                x.answer,
            )
        })
        .collect()
}

fn req(t: &str, sku: &str, a: Answer) -> (String, String, Answer) {
    (t.to_owned(), sku.to_owned(), a)
}

async fn wait_requests(r: &Receiver, n: usize, what: &str) {
    eventually(Duration::from_secs(15), what, || {
        let r = r.clone();
        async move { r.received().len() >= n }
    })
    .await;
}

#[sqlx::test(migrations = false)]
async fn a_500_and_a_timeout_are_retried_in_order_and_logged_and_other_skus_are_not_held_back(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[]).await;
    let r = Receiver::start().await;
    let hang = Answer::Hang(Duration::from_secs(2));
    r.plan("SLOW", &[Answer::Status(500), hang]);
    let id = subscribe_all(&app, &r, &["stock.sold_out", "stock.back_in_stock"]).await;
    app.create_sku("SLOW", 1).await;
    app.create_sku("FAST", 1).await;
    let a = app.reserve("SLOW", 1).await; // sold out: refused, then times out, then delivered
    tokio::time::sleep(Duration::from_millis(300)).await; // SLOW's head is failing by now
    app.state.redis.release(&a, false).await.unwrap(); // back in stock: waits behind it
    let _b = app.reserve("FAST", 1).await;
    wait_requests(&r, 5, "five requests").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ok = Answer::Status(204);
    let got = requests(&r);
    let slow: Vec<_> = got.iter().filter(|x| x.1 == "SLOW").cloned().collect();
    assert_eq!(
        slow,
        [
            req("stock.sold_out", "SLOW", Answer::Status(500)),
            req("stock.sold_out", "SLOW", hang),
            req("stock.sold_out", "SLOW", ok),
            req("stock.back_in_stock", "SLOW", ok),
        ]
    );
    // FAST went through while SLOW's head was still being retried.
    let fast_at = got.iter().position(|x| x.1 == "FAST").unwrap();
    let slow_head_done = got
        .iter()
        .position(|x| *x == req("stock.sold_out", "SLOW", ok))
        .unwrap();
    assert!(fast_at < slow_head_done, "{got:?}");
    assert_eq!(got.len(), 5, "{got:?}");
    let ids: Vec<String> = r
        .received()
        .into_iter()
        .filter(|x| {
            x.message.event_type.as_str() == "stock.sold_out" && x.message.data.sku == "SLOW"
        })
        .map(|x| x.id)
        .collect();
    assert!(
        ids.len() == 3 && ids.iter().all(|i| i == &ids[0]),
        "one id across retries: {ids:?}"
    );

    let (s, log) = app
        .get(&format!("/v1/admin/webhooks/{id}/attempts"), ADMIN_KEY)
        .await;
    assert_eq!(s, 200, "{log}");
    let rows: Vec<(String, i64, Option<i64>, Option<String>)> = log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["sku"] == "SLOW")
        .map(|a| {
            (
                a["event_type"].as_str().unwrap().to_owned(),
                a["attempt"].as_i64().unwrap(),
                a["status"].as_i64(),
                a["error"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let t = || "stock.sold_out".to_owned();
    assert_eq!(
        rows,
        [
            ("stock.back_in_stock".to_owned(), 1, Some(204), None),
            (t(), 3, Some(204), None),
            (t(), 2, None, Some("timed out".to_owned())),
            (t(), 1, Some(500), Some("HTTP 500".to_owned())),
        ]
    );
    let metrics = app.metrics().await;
    for line in [
        "origin_webhook_attempts_total{result=\"delivered\"} 3\n",
        "origin_webhook_attempts_total{result=\"failed\"} 1\n",
        "origin_webhook_attempts_total{result=\"timeout\"} 1\n",
        "origin_webhook_backlog 0\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from {metrics}");
    }
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn failures_in_a_row_disable_the_endpoint_and_replay_sends_again_in_order(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[("WEBHOOK_DISABLE_AFTER", "3")]).await;
    let r = Receiver::start().await;
    r.answer_by_default(Answer::Status(503));
    let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let id = subscribe_all(&app, &r, &["stock.low", "stock.sold_out"]).await;
    app.create_sku("DIS", 3).await; // threshold 2
    let _a = app.reserve("DIS", 1).await; // low
    wait_requests(&r, 3, "three refused attempts").await;
    eventually(Duration::from_secs(5), "the endpoint disabled", || async {
        let (_, list) = app.get("/v1/admin/webhooks", ADMIN_KEY).await;
        list["webhooks"][0]["enabled"] == false
    })
    .await;
    let _b = app.reserve("DIS", 2).await; // sold out while disabled: not queued
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = Answer::Status(503);
    assert_eq!(requests(&r), vec![req("stock.low", "DIS", refused); 3]);
    let (_, list) = app.get("/v1/admin/webhooks", ADMIN_KEY).await;
    assert_eq!(list["webhooks"][0]["consecutive_failures"], 3, "{list}");
    assert!(list["webhooks"][0]["disabled_at"].is_string(), "{list}");
    let metrics = app.metrics().await;
    for line in [
        "origin_webhook_endpoint_disables_total 1\n",
        "origin_webhook_disabled_endpoints 1\n",
        "origin_webhook_backlog 0\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from {metrics}");
    }

    r.answer_by_default(Answer::Status(200));
    let since = since
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (s, replay) = app
        .post(
            &format!("/v1/admin/webhooks/{id}/replay?since={since}"),
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!((s, replay), (200, json!({"queued": 2, "truncated": false})));
    wait_requests(&r, 6, "the pending delivery and the replay").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ok = Answer::Status(200);
    let mut want = vec![req("stock.low", "DIS", refused); 3];
    // The delivery left pending when it was disabled, then the replayed events.
    want.extend([
        req("stock.low", "DIS", ok),
        req("stock.low", "DIS", ok),
        req("stock.sold_out", "DIS", ok),
    ]);
    assert_eq!(requests(&r), want);
    let (_, list) = app.get("/v1/admin/webhooks", ADMIN_KEY).await;
    assert_eq!(
        (
            &list["webhooks"][0]["enabled"],
            &list["webhooks"][0]["consecutive_failures"]
        ),
        (&json!(true), &json!(0)),
        "{list}"
    );
    app.stop().await;
}

/// A receiver that hangs costs confirms nothing: they answer well within its timeout.
#[sqlx::test(migrations = false)]
async fn a_hanging_receiver_never_slows_confirms(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[("WEBHOOK_TIMEOUT_MS", "3000")]).await;
    let r = Receiver::start().await;
    r.answer_by_default(Answer::Hang(Duration::from_secs(5)));
    subscribe_all(&app, &r, &["order.confirmed"]).await;
    app.create_sku("BUSY", 10).await;
    for _ in 0..5 {
        let rid = app.reserve("BUSY", 1).await;
        let started = Instant::now();
        let (s, b) = app.confirm(&rid).await;
        assert_eq!(s, 201, "{b}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }
    wait_requests(&r, 1, "the first hanging request").await;
    app.stop().await;
}

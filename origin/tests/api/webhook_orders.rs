//! Order events through webhooks: the lifecycle (placed, confirmed, cancelled, expired) and
//! the needs-attention detour, one message per order line, in order.

use std::time::Duration;

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{Env, ADMIN_KEY};
use crate::receiver::{seq, spawn, subscribe, wait_delivered, Receiver};

/// Order events follow the lifecycle, one message per line.
#[sqlx::test(migrations = false)]
async fn order_events_follow_the_lifecycle(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let window = [
        ("PAYMENT_WINDOW_SECONDS", "2"),
        ("CONFIRM_GRACE_SECONDS", "1"),
    ];
    let app = spawn(&env, opts, c, &window).await;
    let r = Receiver::start().await;
    let types = [
        "order.placed",
        "order.confirmed",
        "order.cancelled",
        "order.expired",
    ];
    subscribe(&app, &r, &types, None).await;
    app.create_sku("ORD", 10).await;
    let rid = app.reserve("ORD", 2).await;
    let (s, placed) = app.place(&rid).await;
    assert_eq!(s, 201, "{placed}");
    let (s, confirmed) = app.confirm(&rid).await;
    assert_eq!(s, 201, "{confirmed}");
    let (s, b) = app
        .cancel(&confirmed["order_id"], &json!({"restock": true}))
        .await;
    assert_eq!(s, 200, "{b}");
    let unpaid = app.reserve("ORD", 1).await;
    let (s, placed2) = app.place(&unpaid).await;
    assert_eq!(s, 201, "{placed2}");
    let want = seq(&[
        ("order.placed", "ORD", 2),
        ("order.confirmed", "ORD", 2),
        ("order.cancelled", "ORD", 2),
        ("order.placed", "ORD", 1),
        ("order.expired", "ORD", 1),
    ]);
    wait_delivered(&r, want.len(), "five order events").await;
    assert_eq!(r.delivered(), want);
    let orders: Vec<(Option<uuid::Uuid>, Option<String>)> = r
        .received()
        .iter()
        .map(|x| {
            (
                x.message.data.order_id,
                x.message.data.reservation_id.clone(),
            )
        })
        .collect();
    let o1 = Some(uuid::Uuid::parse_str(confirmed["order_id"].as_str().unwrap()).unwrap());
    let o2 = Some(uuid::Uuid::parse_str(placed2["order_id"].as_str().unwrap()).unwrap());
    let (a, b) = (Some(rid.clone()), Some(unpaid.clone()));
    assert_eq!(
        orders,
        [
            (o1, a.clone()),
            (o1, a.clone()),
            (o1, a),
            (o2, b.clone()),
            (o2, b)
        ]
    );
    app.stop().await;
}

/// A confirmed order whose late commit found no units goes to `NEEDS_ATTENTION` and back to
/// `CONFIRMED` after a restock: `order.confirmed`, `order.needs_attention`, `order.confirmed`.
#[sqlx::test(migrations = false)]
async fn needs_attention_and_its_resolution_are_delivered_in_order(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[("OUTBOX_GRACE_MS", "60000")]).await;
    let r = Receiver::start().await;
    subscribe(
        &app,
        &r,
        &["order.confirmed", "order.needs_attention"],
        Some(&["NA"]),
    )
    .await;
    app.create_sku("NA", 2).await;
    let (a, b) = app.needs_attention(&env, "NA", 2).await;
    let restock = json!({"delta": 2, "reason": "restock", "movement_id": "r-1"});
    let (s, _) = app
        .post("/v1/admin/skus/NA/adjustments", ADMIN_KEY, &restock)
        .await;
    assert_eq!(s, 201);
    assert_eq!(app.confirm(&a).await.0, 201);
    let want = seq(&[
        ("order.confirmed", "NA", 2),       // A
        ("order.confirmed", "NA", 2),       // B
        ("order.needs_attention", "NA", 2), // A
        ("order.confirmed", "NA", 2),       // A, resolved
    ]);
    wait_delivered(&r, want.len(), "four order events").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.delivered(), want);
    let rids: Vec<String> = r
        .received()
        .into_iter()
        .filter_map(|x| x.message.data.reservation_id)
        .collect();
    assert_eq!(rids, [a.clone(), b, a.clone(), a]);
    app.stop().await;
}

/// An order of two SKUs sends one message per line, each in its own SKU's sequence, and a SKU
/// filter keeps only its lines.
#[sqlx::test(migrations = false)]
async fn an_order_of_two_skus_sends_one_message_per_line(opts: PgPoolOptions, c: PgConnectOptions) {
    use edgestock_core::domain::Sku;
    use edgestock_core::scripts::{Line, ReserveOutcome, ReserveRequest};
    let env = Env::new().await;
    let app = spawn(&env, opts, c, &[]).await;
    let all = Receiver::start().await;
    let only_b = Receiver::start().await;
    subscribe(&app, &all, &["order.confirmed"], None).await;
    subscribe(&app, &only_b, &["order.confirmed"], Some(&["TWO-B"])).await;
    app.create_sku("TWO-A", 5).await;
    app.create_sku("TWO-B", 5).await;
    let rid = uuid::Uuid::now_v7().to_string();
    let item = |sku: &str, qty| Line {
        sku: Sku::parse(sku).unwrap(),
        qty,
    };
    let held = app
        .state
        .redis
        .reserve(&ReserveRequest {
            id: rid.clone(),
            fingerprint: "fp".into(),
            items: vec![item("TWO-A", 1), item("TWO-B", 3)],
            pickup: None,
            ttl_ms: 60_000,
            max_hold_ms: 600_000,
            rate_limit: None,
            customer: None,
            cap: None,
            owner: "test".into(),
        })
        .await
        .unwrap();
    assert!(matches!(held, ReserveOutcome::Held(_)), "{held:?}");
    let (s, order) = app.confirm(&rid).await;
    assert_eq!(s, 201, "{order}");
    wait_delivered(&all, 2, "two lines").await;
    wait_delivered(&only_b, 1, "the B line").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut lines = all.delivered();
    lines.sort();
    assert_eq!(
        lines,
        seq(&[
            ("order.confirmed", "TWO-A", 1),
            ("order.confirmed", "TWO-B", 3)
        ])
    );
    assert_eq!(only_b.delivered(), seq(&[("order.confirmed", "TWO-B", 3)]));
    let order_id = uuid::Uuid::parse_str(order["order_id"].as_str().unwrap()).unwrap();
    assert!(all
        .received()
        .iter()
        .all(|x| x.message.data.order_id == Some(order_id)));
    app.stop().await;
}

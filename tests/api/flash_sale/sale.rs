//! The flash sale: 1,000 shoppers for 50 units, then confirms, releases and expiries agree.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flash_sale_1000_shoppers_50_units_then_confirms_releases_and_expiries_agree() {
    let s = FullStack::start(&redis_url(), json!({"REDIS_TIMEOUT_MS": "5000"}), &[]).await;
    s.put_sku("DROP-1", 50, 5).await;
    s.wait_until("Redis seeded by the outbox", || async {
        redis_level(&s, "DROP-1").await.0 == 50
    })
    .await;

    // 1,000 shoppers, each from their own IP, all at once.
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..1000u32)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
                let key = format!("shopper-{i:016}");
                let (status, body) = reserve(&s, "DROP-1", &ip, &key, HOLD_SECONDS).await;
                (status, body, key, ip)
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut sold_out = 0;
    for t in tasks {
        let (status, body, key, ip) = t.await.unwrap();
        match status {
            // 200: a retry after a 503 replayed a hold made just before the timeout.
            200 | 201 => won.push(Won {
                id: body["reservation_id"].as_str().unwrap().to_owned(),
                token: body["token"].as_str().unwrap().to_owned(),
                key,
                ip,
                expires_at_ms: body["expires_at_ms"].as_i64().unwrap(),
            }),
            409 => {
                assert_eq!(body["error"]["code"], "insufficient_stock", "{body}");
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        (won.len(), sold_out),
        (50, 950),
        "exactly the stock is held, everyone else hears sold out"
    );
    assert_eq!(s.edge_stock("DROP-1").await["status"], "sold_out");

    // Place 30 orders through the edge (signed, forwarded to the origin), the backend confirms
    // their payments; release 10, let 10 expire.
    let confirms: Vec<_> = won[..30]
        .iter()
        .map(|w| {
            let s = s.clone();
            let (id, token) = (w.id.clone(), w.token.clone());
            tokio::spawn(async move {
                let placed = post_token(
                    &s,
                    &format!("/v1/reservations/{id}/confirm"),
                    &token,
                    &format!("order-{id}"),
                    json!({}),
                )
                .await;
                (placed, backend_confirm(&s, &id).await)
            })
        })
        .collect();
    let mut orders = Vec::new();
    for t in confirms {
        let ((status, placed), (cstatus, confirmed)) = t.await.unwrap();
        assert_eq!(status, 201, "{placed}");
        assert_eq!(placed["status"], "PENDING_PAYMENT", "{placed}");
        assert_eq!(cstatus, 201, "{confirmed}");
        assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");
        assert_eq!(confirmed["order_id"], placed["order_id"]);
        orders.push(placed["order_id"].as_str().unwrap().to_owned());
    }
    for w in &won[30..40] {
        let (status, body) = release(&s, w).await;
        assert_eq!(status, 200, "{body}");
    }

    // Retries of every mutating call are safe and answer the same thing.
    let w = &won[0];
    let (status, again) = post_token(
        &s,
        &format!("/v1/reservations/{}/confirm", w.id),
        &w.token,
        &format!("order-{}", w.id),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["order_id"], orders[0].as_str());
    assert_eq!(
        again["status"], "CONFIRMED",
        "placing again shows the order as it is"
    );
    let (status, again) = backend_confirm(&s, &w.id).await;
    assert_eq!(
        (status, again["order_id"].as_str()),
        (200, Some(orders[0].as_str()))
    );
    let (status, _) = release(&s, &won[30]).await;
    assert_eq!(status, 200, "a second release is a no-op");
    let last = &won[45];
    // The shopper's retry (same client, same key) replays; keys are scoped to their client.
    let (status, replay) = reserve(&s, "DROP-1", &last.ip, &last.key, HOLD_SECONDS).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(
        replay["reservation_id"],
        last.id.as_str(),
        "the same hold, not a second one"
    );

    // Wait for the last 10 to expire; the origin's sweeper (and any read) gives the units back.
    let last_expiry = won[40..].iter().map(|w| w.expires_at_ms).max().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        now_ms < won.iter().map(|w| w.expires_at_ms).min().unwrap(),
        "confirms and releases ran before any hold expired"
    );
    tokio::time::sleep(Duration::from_millis(
        (last_expiry - now_ms).max(0) as u64 + 500,
    ))
    .await;
    s.wait_until("20 units available again", || async {
        s.edge_stock("DROP-1").await["available"] == 20
    })
    .await;
    s.wait_until("Redis reaped and committed", || async {
        redis_level(&s, "DROP-1").await == (20, 0, 30)
    })
    .await;

    // Postgres, the system of record, agrees.
    assert_eq!(ledger_on_hand(&s, "DROP-1").await, 20);
    let confirmed: i64 =
        sqlx::query_scalar("select count(*) from orders where status = 'CONFIRMED'")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(confirmed, 30);
    let rec = reconcile(&s).await;
    assert_eq!(rec["drifting"], 0, "{rec}");
    // The audit trail has the lifecycle, copied from the Redis stream.
    s.wait_until("events copied to Postgres", || async {
        let kinds: Vec<String> = sqlx::query_scalar("select distinct kind::text from stock_events")
            .fetch_all(&s.pool)
            .await
            .unwrap_or_default();
        [
            "hold_created",
            "hold_committed",
            "hold_released",
            "hold_expired",
        ]
        .iter()
        .all(|k| kinds.iter().any(|x| x == k))
    })
    .await;
    // Level events are transitions: one low, one sold out, one back in stock (the first
    // release), nothing for creating the SKU or while a level stays.
    let levels: Vec<(String, i64)> = sqlx::query_as(
        "select kind, qty from stock_events where sku = 'DROP-1'
           and kind in ('low_stock', 'sold_out', 'back_in_stock') order by id",
    )
    .fetch_all(&s.pool)
    .await
    .unwrap();
    let kinds: Vec<&str> = levels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["low_stock", "sold_out", "back_in_stock"],
        "{levels:?}"
    );
    assert_eq!((levels[0].1, levels[1].1), (5, 0), "{levels:?}");
    Arc::into_inner(s).expect("all tasks done").stop().await;
}

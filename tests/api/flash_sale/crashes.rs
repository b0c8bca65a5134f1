//! Redis restarted mid-sale, and the origin killed mid-confirm.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_sale_is_restored_from_postgres() {
    let redis = PrivateRedis::start();
    let s = FullStack::start(&redis.url(), json!({}), &[]).await;
    s.put_sku("RST-1", 10, 2).await;
    let mut private = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = edgestock_core::keys::Keys::new(s.prefix.clone()).stock("RST-1");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v: Option<i64> = redis::cmd("HGET")
            .arg(&key)
            .arg("on_hand")
            .query_async(&mut private)
            .await
            .unwrap_or(None);
        if v == Some(10) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Redis was not seeded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Three holds; one confirmed before the restart.
    let mut won = Vec::new();
    for i in 0..3 {
        let (status, body) = reserve(
            &s,
            "RST-1",
            &format!("10.9.0.{i}"),
            &format!("rst-{i}-0123456789abcdef"),
            600,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        won.push(Won {
            id: body["reservation_id"].as_str().unwrap().into(),
            token: body["token"].as_str().unwrap().into(),
            key: format!("rst-{i}-0123456789abcdef"),
            ip: format!("10.9.0.{i}"),
            expires_at_ms: body["expires_at_ms"].as_i64().unwrap(),
        });
    }
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{}/confirm", won[0].id),
        &won[0].token,
        "rst-order",
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = backend_confirm(&s, &won[0].id).await;
    assert_eq!(status, 201, "{body}");

    // Redis restarts with nothing (no persistence).
    let port = redis.port;
    drop(redis);
    let redis = PrivateRedis::start_on(port);
    drop(private);
    let mut private = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // An empty Redis has no seeded marker: until the origin's sweeper notices and seeds it
    // again from the ledger (no operator needed), a reserve refuses with a retryable 503
    // `shard_unseeded` rather than call a stocked SKU unknown or guess; the gateway may first
    // answer `redis_unavailable` while it reconnects. Then selling resumes by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, body) =
            reserve_once(&s, "RST-1", "10.9.0.9", "rst-after-0123456789abcdef", 600).await;
        if status == 201 {
            break body;
        }
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            status == 503 && (code == "shard_unseeded" || code == "redis_unavailable"),
            "{status} {body}"
        );
        assert!(std::time::Instant::now() < deadline, "never seeded again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["items"][0]["qty"], 1);
    let v: Option<i64> = redis::cmd("HGET")
        .arg(&key)
        .arg("on_hand")
        .query_async(&mut private)
        .await
        .unwrap();
    assert_eq!(v, Some(9), "healed from the ledger: 10 stocked - 1 sold");

    // Seed restores on-hand from the ledger; reconcile then reports no drift.
    let res = s
        .http
        .post(s.origin("/v1/admin/seed"))
        .bearer_auth(ADMIN_API_KEY)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
    let v: Option<i64> = redis::cmd("HGET")
        .arg(&key)
        .arg("on_hand")
        .query_async(&mut private)
        .await
        .unwrap();
    assert_eq!(v, Some(9), "10 stocked - 1 sold");
    assert_eq!(reconcile(&s).await["drifting"], 0);
    // Live holds were lost with Redis: their units are available again (9, less the hold made
    // after the restart) and their tokens find nothing.
    assert_eq!(s.edge_stock("RST-1").await["available"], 8);
    let res = s
        .http
        .get(s.edge(&format!("/v1/reservations/{}", won[1].id)))
        .bearer_auth(&won[1].token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{}/confirm", won[1].id),
        &won[1].token,
        "rst-lost",
        json!({}),
    )
    .await;
    assert!(status == 404 || status == 409, "{status} {body}");
    // The confirmed order survives, and selling resumes.
    let (status, _) = reserve(&s, "RST-1", "10.9.0.10", "rst-after-seed-0123456789ab", 600).await;
    assert_eq!(status, 201);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_killed_mid_confirm_the_outbox_finishes_after_restart() {
    use origin::fault::FaultPoint;
    // A long outbox head start: the dying instance's own worker must not finish the row.
    let mut s = FullStack::start(&redis_url(), json!({}), &[("OUTBOX_GRACE_MS", "3000")]).await;
    s.put_sku("CRASH-1", 5, 1).await;
    s.wait_until("seeded", || async {
        redis_level(&s, "CRASH-1").await.0 == 5
    })
    .await;
    let (status, body) =
        reserve(&s, "CRASH-1", "10.7.0.1", "crash-1-0123456789abcdefgh", 600).await;
    assert_eq!(status, 201, "{body}");
    let (id, token) = (
        body["reservation_id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    );

    // The shopper places the order; the origin dies while the backend confirms it, after the
    // Postgres commit, before the Redis commit.
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{id}/confirm"),
        &token,
        "crash-order",
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    s.origin_state.faults.arm(FaultPoint::AfterPgCommit);
    let (status, body) = backend_confirm(&s, &id).await;
    assert!(status >= 500, "the backend sees a failure: {status} {body}");
    s.restart_origin().await;

    // The restarted origin's outbox applies the commit; the order ends CONFIRMED, sold once.
    s.wait_until("outbox drained", || async {
        let pending: i64 = sqlx::query_scalar("select count(*) from outbox where done_at is null")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        let confirmed: i64 =
            sqlx::query_scalar("select count(*) from orders where status = 'CONFIRMED'")
                .fetch_one(&s.pool)
                .await
                .unwrap();
        pending == 0 && confirmed == 1
    })
    .await;
    assert_eq!(redis_level(&s, "CRASH-1").await, (4, 0, 1));
    // The shopper's retry gets the order, not a second one.
    let (status, body) = post_token(
        &s,
        &format!("/v1/reservations/{id}/confirm"),
        &token,
        "crash-order",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CONFIRMED");
    assert_eq!(ledger_on_hand(&s, "CRASH-1").await, 4);
    assert_eq!(reconcile(&s).await["drifting"], 0);
    s.stop().await;
}

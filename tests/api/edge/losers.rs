//! Losing reserves cost Redis nothing (docs/design.md#losing-reserves-at-the-edge): the built
//! worker in workerd, against a private Redis whose command counts are exact.

use super::*;

const SOLD_OUT_SECONDS: u64 = 2;

fn one(sku: &str) -> Value {
    json!({"items": [{"sku": sku, "qty": 1}]})
}

#[tokio::test]
async fn a_sold_out_sku_costs_redis_nothing_until_units_come_back() {
    let redis = PrivateRedis::start();
    let s = Stack::start_on(
        &redis.url(),
        json!({"SOLD_OUT_CACHE_SECONDS": SOLD_OUT_SECONDS.to_string()}),
    )
    .await;
    s.seed("A", 2, 0).await;
    s.seed("B", 5, 0).await;
    let first = reserve_with(&s, &one("A"), None, Some("192.0.2.1")).await;
    assert_eq!(first.0, StatusCode::CREATED, "{:?}", first.2);
    let second = reserve_with(&s, &one("A"), None, Some("192.0.2.2")).await;
    assert_eq!(second.0, StatusCode::CREATED, "{:?}", second.2);
    let loser = reserve_with(&s, &one("A"), None, Some("192.0.2.3")).await;
    assert_eq!(
        (loser.0, code(&loser), header(&loser, "x-edgestock-cache")),
        (StatusCode::CONFLICT, "insufficient_stock", Some("miss"))
    );

    let before = redis.command_calls();
    for i in 0..20 {
        let a = reserve_with(&s, &one("A"), None, Some(&format!("198.51.100.{i}"))).await;
        assert_eq!(
            (a.0, header(&a, "x-edgestock-cache")),
            (StatusCode::CONFLICT, Some("hit"))
        );
        assert_eq!(a.2, loser.2, "the body Redis gave");
    }
    assert_eq!(redis.command_calls(), before, "20 losers, 0 Redis commands");

    // Another SKU is not affected.
    let b = reserve_with(&s, &one("B"), None, Some("192.0.2.4")).await;
    assert_eq!(b.0, StatusCode::CREATED, "{:?}", b.2);
    assert_ne!(redis.command_calls(), before);

    // A release gives a unit back: reservable again within SOLD_OUT_CACHE_SECONDS (+ margin).
    let id = first.2["reservation_id"].as_str().expect("id");
    let token = first.2["token"].as_str().expect("token");
    let path = format!("/v1/reservations/{id}");
    let released = with_token(&s, reqwest::Method::DELETE, &path, Some(token), None).await;
    assert_eq!(released.0, StatusCode::OK, "{:?}", released.2);
    let since = Instant::now();
    let deadline = since + Duration::from_secs(SOLD_OUT_SECONDS + 3);
    let mut attempt = 0;
    let won = loop {
        attempt += 1;
        let a = reserve_with(&s, &one("A"), None, Some(&format!("203.0.113.{attempt}"))).await;
        if a.0 == StatusCode::CREATED {
            break a;
        }
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::CONFLICT, "insufficient_stock")
        );
        assert!(
            Instant::now() < deadline,
            "A still refused after the release"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        won.2["items"],
        json!([{"sku": "A", "qty": 1, "allocation": [{"location": "default", "qty": 1}]}])
    );
    assert_eq!(available(&s, "A").await, 0);
}

#[tokio::test]
async fn a_retry_that_must_replay_its_hold_skips_the_sold_out_memory() {
    let s = Stack::start(json!({"SOLD_OUT_CACHE_SECONDS": "30"})).await;
    s.seed("LAST", 1, 0).await;
    let key = "retry-of-the-last-unit-0001";
    let won = reserve_with(&s, &one("LAST"), Some(key), Some("192.0.2.10")).await;
    assert_eq!(won.0, StatusCode::CREATED, "{:?}", won.2);
    let lost = reserve_with(&s, &one("LAST"), None, Some("192.0.2.11")).await;
    assert_eq!(header(&lost, "x-edgestock-cache"), Some("miss"));
    // The winner lost its answer and retries: without `no-cache` the edge's memory answers...
    let stale = reserve_with(&s, &one("LAST"), Some(key), Some("192.0.2.10")).await;
    assert_eq!(
        (stale.0, code(&stale), header(&stale, "x-edgestock-cache")),
        (StatusCode::CONFLICT, "insufficient_stock", Some("hit"))
    );
    // ...with it, Redis replays the hold.
    let resp = s
        .http
        .post(s.url("/v1/reservations"))
        .header("idempotency-key", key)
        .header("cf-connecting-ip", "192.0.2.10")
        .header("cache-control", "no-cache")
        .json(&one("LAST"))
        .send()
        .await
        .expect("retry");
    let replay = answer(resp).await;
    assert_eq!(replay.0, StatusCode::OK, "{:?}", replay.2);
    assert_eq!(header(&replay, "idempotency-replayed"), Some("true"));
    assert_eq!(replay.2["reservation_id"], won.2["reservation_id"]);
}

#[tokio::test]
async fn a_rate_limited_subject_costs_redis_nothing_until_its_window_ends() {
    let redis = PrivateRedis::start();
    let s = Stack::start_on(&redis.url(), json!({"RATE_LIMIT_PER_MINUTE": "2"})).await;
    s.seed("A", 100, 0).await;
    for _ in 0..2 {
        let a = reserve_with(&s, &one("A"), None, Some("192.0.2.20")).await;
        assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    }
    let refused = reserve_with(&s, &one("A"), None, Some("192.0.2.20")).await;
    assert_eq!(
        (
            refused.0,
            code(&refused),
            header(&refused, "x-edgestock-cache")
        ),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some("miss"))
    );
    let retry_after: u64 = header(&refused, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    let before = redis.command_calls();
    for _ in 0..10 {
        let a = reserve_with(&s, &one("A"), None, Some("192.0.2.20")).await;
        assert_eq!(
            (a.0, code(&a), header(&a, "x-edgestock-cache")),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some("hit"))
        );
        let left: u64 = header(&a, "retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!(left <= retry_after, "{left} > {retry_after}");
    }
    assert_eq!(
        redis.command_calls(),
        before,
        "10 refusals, 0 Redis commands"
    );
    // The subject is the address: another one is served by Redis.
    let other = reserve_with(&s, &one("A"), None, Some("192.0.2.21")).await;
    assert_eq!(other.0, StatusCode::CREATED, "{:?}", other.2);
    assert_eq!(available(&s, "A").await, 97);
}

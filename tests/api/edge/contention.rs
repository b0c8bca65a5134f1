//! Many callers at once through the worker: rate limits per IP and per cart, and a race of 200
//! reserves for 37 units with exactly 37 winners.

use super::*;

#[tokio::test]
async fn rate_limits_per_ip_and_per_cart() {
    let s = Stack::start(json!({"RATE_LIMIT_PER_MINUTE": "2"})).await;
    s.seed("A", 100, 2).await;
    let item = json!({"items": [{"sku": "A", "qty": 1}]});
    for _ in 0..2 {
        assert_eq!(
            reserve_with(&s, &item, None, Some("198.51.100.7")).await.0,
            StatusCode::CREATED
        );
    }
    let a = reserve_with(&s, &item, None, Some("198.51.100.7")).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry: u64 = header(&a, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another IP is fine; the same cart from other IPs is limited too.
    let cart = json!({"items": [{"sku": "A", "qty": 1}], "cart_id": "c-9"});
    assert_eq!(
        reserve_with(&s, &cart, None, Some("198.51.100.8")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        reserve_with(&s, &cart, None, Some("198.51.100.9")).await.0,
        StatusCode::CREATED
    );
    let a = reserve_with(&s, &cart, None, Some("198.51.100.10")).await;
    assert_eq!(a.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(available(&s, "A").await, 96);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_reserves_for_37_units_make_37_winners() {
    let s = Stack::start(json!({"RATE_LIMIT_PER_MINUTE": "0"})).await;
    s.seed("DROP", 37, 5).await;
    let url = s.url("/v1/reservations");
    let tasks = (0..200).map(|i| {
        let http = s.http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let resp = http
                .post(&url)
                .header("idempotency-key", format!("buyer-{i:017}"))
                .json(&json!({"items": [{"sku": "DROP", "qty": 1}]}))
                .send()
                .await
                .expect("reserve");
            answer(resp).await
        })
    });
    let results = futures::future::join_all(tasks).await;
    let mut winners = 0;
    let mut sold_out = 0;
    for r in results {
        let a = r.expect("task");
        match a.0 {
            StatusCode::CREATED => winners += 1,
            StatusCode::CONFLICT => {
                assert_eq!(code(&a), "insufficient_stock");
                assert_eq!(a.2["error"]["available"], 0);
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {:?}", a.2),
        }
    }
    assert_eq!((winners, sold_out), (37, 163));
    assert_eq!(available(&s, "DROP").await, 0);
    assert_eq!(stored_reserved(&s, "DROP").await, 37);
    let a = get(&s, "/v1/stock/DROP").await;
    assert_eq!(a.2["status"], "sold_out");
}

//! Stock badges, exact counts, the edge cache (ETag, 304) and the Redis calls a read costs.

use super::*;

#[tokio::test]
async fn stock_reads_show_badges_and_hide_deep_counts() {
    let s = Stack::start(json!({})).await;
    s.seed("DEEP", 100, 5).await;
    s.seed("LOW", 3, 5).await;
    s.seed("GONE", 0, 5).await;

    let a = get(&s, "/v1/stock/DEEP").await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    assert_eq!(
        a.2,
        json!({"sku": "DEEP", "status": "in_stock", "low_stock_threshold": 5})
    );
    assert!(header(&a, "etag").is_some());
    assert_eq!(header(&a, "cache-control"), Some("no-store"));
    let a = get(&s, "/v1/stock/LOW").await;
    assert_eq!(a.2["status"], "low_stock");
    assert_eq!(a.2["available"], 3);
    let a = get(&s, "/v1/stock/GONE").await;
    assert_eq!(a.2["status"], "sold_out");
    assert_eq!(a.2["available"], 0);

    let a = get(&s, "/v1/stock/NOPE").await;
    assert_eq!((a.0, code(&a)), (StatusCode::NOT_FOUND, "unknown_sku"));
    let a = get(&s, "/v1/stock/bad%20sku").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_sku")
    );

    // Batch: the shape web/edgestock.js reads.
    let a = get(&s, "/v1/stock?sku=DEEP&sku=LOW&sku=NOPE&sku=DEEP").await;
    assert_eq!(a.0, StatusCode::OK);
    assert_eq!(
        a.2,
        json!({"items": [
            {"sku": "DEEP", "status": "in_stock", "low_stock_threshold": 5},
            {"sku": "LOW", "status": "low_stock", "available": 3, "low_stock_threshold": 5},
            {"sku": "NOPE", "status": "unknown"},
        ]})
    );
    let many: Vec<String> = (0..101).map(|i| format!("sku=S{i}")).collect();
    let a = get(&s, &format!("/v1/stock?{}", many.join("&"))).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::UNPROCESSABLE_ENTITY, "too_many_skus")
    );
    let a = get(&s, "/v1/stock").await;
    assert_eq!(a.0, StatusCode::UNPROCESSABLE_ENTITY);

    let a = answer(s.http.post(s.url("/v1/stock/DEEP")).send().await.unwrap()).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn exact_counts_when_configured() {
    let s = Stack::start(json!({"EXPOSE_EXACT_COUNTS": "true"})).await;
    s.seed("DEEP", 100, 5).await;
    let a = get(&s, "/v1/stock/DEEP").await;
    assert_eq!(a.2["available"], 100);
}

#[tokio::test]
async fn cached_reads_carry_etags_and_answer_304() {
    let s = Stack::start(json!({"STOCK_CACHE_SECONDS": "30"})).await;
    s.seed("A", 10, 2).await;
    let first = get(&s, "/v1/stock/A").await;
    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(header(&first, "cache-control"), Some("public, max-age=30"));
    assert_eq!(header(&first, "x-edgestock-cache"), Some("miss"));
    let etag = header(&first, "etag").expect("etag").to_owned();

    // The level changes in Redis, but the edge keeps answering from its cache for 30 s.
    s.seed("A", 1, 2).await;
    let second = get(&s, "/v1/stock/A").await;
    assert_eq!(header(&second, "x-edgestock-cache"), Some("hit"));
    assert_eq!(second.2, first.2);
    assert_eq!(header(&second, "etag"), Some(etag.as_str()));

    let resp = s
        .http
        .get(s.url("/v1/stock/A"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        resp.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );
    let resp = s
        .http
        .get(s.url("/v1/stock/A"))
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cached_read_costs_redis_nothing_and_a_reserve_one_call() {
    let redis = PrivateRedis::start();
    let s = Stack::start_on(&redis.url(), json!({"STOCK_CACHE_SECONDS": "30"})).await;
    s.seed("A", 10, 2).await;
    s.seed("B", 10, 2).await;
    // Warm the script cache (the first call of each script may answer NOSCRIPT, then EVAL).
    assert_eq!(get(&s, "/v1/stock/A").await.0, StatusCode::OK);
    assert_eq!(
        reserve(&s, json!({"items": [{"sku": "B", "qty": 1}]}))
            .await
            .0,
        StatusCode::CREATED
    );

    let before = redis.command_calls();
    let a = get(&s, "/v1/stock/A").await;
    assert_eq!(header(&a, "x-edgestock-cache"), Some("hit"));
    let a = get(&s, "/v1/stock/A").await;
    assert_eq!(header(&a, "x-edgestock-cache"), Some("hit"));
    assert_eq!(
        redis.command_calls(),
        before,
        "cached reads must not reach Redis"
    );

    let before = redis.command_calls();
    let a = get(&s, "/v1/stock?sku=A&sku=B").await;
    assert_eq!(header(&a, "x-edgestock-cache"), Some("miss"));
    let after = redis.command_calls();
    let delta =
        |m: &std::collections::HashMap<String, u64>, n: &str| m.get(n).copied().unwrap_or(0);
    assert_eq!(
        delta(&after, "evalsha_ro") - delta(&before, "evalsha_ro"),
        1
    );

    let before = redis.command_calls();
    let a = reserve(
        &s,
        json!({"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}]}),
    )
    .await;
    assert_eq!(a.0, StatusCode::CREATED);
    let after = redis.command_calls();
    assert_eq!(
        delta(&after, "evalsha") - delta(&before, "evalsha"),
        1,
        "one reserve, one script call"
    );
    for top in ["eval", "eval_ro", "evalsha_ro", "multi", "exec"] {
        assert_eq!(delta(&after, top), delta(&before, top), "{top}");
    }
}

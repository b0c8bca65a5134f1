//! Stock reads: the edge cache, ETags, batch reads, Redis down.

use super::*;

#[test]
fn stock_reads_are_cached_with_etags_and_304s() {
    let p = Fake::default();
    p.redis(200, &stock_reply(1, 100, 0, 5));
    let c = cfg_with(&[("STOCK_CACHE_SECONDS", "30")]);
    let r = run(&p, &c, &req("GET", "/v1/stock/A"));
    assert_eq!(r.code(), 200);
    assert_eq!(
        json_of(&r),
        json!({"sku": "A", "status": "in_stock", "low_stock_threshold": 5})
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    assert_eq!(r.header("x-edgestock-cache"), Some("miss"));
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(p.sent().len(), 1);
    assert!(p.sent()[0].contains("EVALSHA_RO"));

    // Second read: from the cache, no Redis call.
    let r2 = run(&p, &c, &req("GET", "/v1/stock/A"));
    assert_eq!(r2.code(), 200);
    assert_eq!(r2.body(), r.body());
    assert_eq!(r2.header("x-edgestock-cache"), Some("hit"));
    assert_eq!(p.sent().len(), 1);

    let cond = with_header(req("GET", "/v1/stock/A"), "if-none-match", &etag);
    let r3 = run(&p, &c, &cond);
    assert_eq!(r3.code(), 304);
    assert!(r3.body().is_empty());
    assert_eq!(r3.header("etag"), Some(etag.as_str()));
    assert_eq!(p.sent().len(), 1);
}

#[test]
fn unknown_and_batch_stock_reads() {
    let p = Fake::default();
    p.redis(200, &stock_reply(0, 0, 0, 0));
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/NOPE"));
    assert_eq!(r.code(), 404);
    assert_eq!(json_of(&r)["error"]["code"], "unknown_sku");

    p.redis(200, r#"{"result":["b2s=",1,1,10,8,3,0,0,0,0,1,50,0,5]}"#);
    let r = run(&p, &cfg(), &req("GET", "/v1/stock?sku=A&sku=B&sku=C"));
    assert_eq!(r.code(), 200);
    assert_eq!(
        json_of(&r),
        json!({"items": [
            {"sku": "A", "status": "low_stock", "available": 2, "low_stock_threshold": 3},
            {"sku": "B", "status": "unknown"},
            {"sku": "C", "status": "in_stock", "low_stock_threshold": 5},
        ]})
    );
    // One Redis call for the whole batch.
    assert_eq!(p.sent().len(), 2);
}

#[test]
fn redis_down_is_503_with_retry_after() {
    let p = Fake::default();
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    assert_eq!(r.code(), 503);
    assert_eq!(json_of(&r)["error"]["code"], "redis_unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    p.redis(503, r#"{"error":"redis unreachable"}"#);
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    assert_eq!(r.code(), 503);
}

//! The edge API (docs/api.md#edge-api) end to end: the built worker in Miniflare, over real HTTP, against
//! the gateway and a real Redis.

use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use testkit::stack::{
    closed_port, gateway, Mode, PrivateRedis, Stack, StubOrigin, GATEWAY_TOKEN, TOKEN_SECRET,
};
use testkit::Worker;

type Answer = (StatusCode, HeaderMap, Value);

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, headers, body)
}

async fn get(s: &Stack, path: &str) -> Answer {
    answer(s.http.get(s.url(path)).send().await.expect("GET")).await
}

async fn reserve_with(s: &Stack, body: &Value, key: Option<&str>, ip: Option<&str>) -> Answer {
    let mut rb = s.http.post(s.url("/v1/reservations")).json(body);
    if let Some(k) = key {
        rb = rb.header("idempotency-key", k);
    }
    if let Some(ip) = ip {
        rb = rb.header("cf-connecting-ip", ip);
    }
    answer(rb.send().await.expect("POST /v1/reservations")).await
}

async fn reserve(s: &Stack, body: Value) -> Answer {
    reserve_with(s, &body, None, None).await
}

async fn with_token(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut rb = s.http.request(method, s.url(path));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    answer(rb.send().await.expect("request")).await
}

fn code(a: &Answer) -> &str {
    a.2["error"]["code"].as_str().unwrap_or("<none>")
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.1.get(name).and_then(|v| v.to_str().ok())
}

/// Reserved units of a SKU as stored (expired holds included until reaped).
async fn stored_reserved(s: &Stack, sku: &str) -> i64 {
    let v = s
        .engine
        .client()
        .command(
            &upstash_rest::cmd("HGET")
                .arg(s.engine.keys().stock(sku))
                .arg("reserved"),
        )
        .await
        .expect("HGET");
    v.as_i64().unwrap_or(0)
}

async fn available(s: &Stack, sku: &str) -> i64 {
    let levels = s
        .engine
        .stock(&[edgestock_core::domain::Sku::parse(sku).unwrap()])
        .await
        .expect("stock");
    levels[0].available()
}

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

#[tokio::test]
async fn reservation_lifecycle_with_token() {
    let s = Stack::start(json!({"MAX_HOLD_SECONDS": "120", "DEFAULT_HOLD_SECONDS": "60"})).await;
    s.seed("A", 10, 2).await;
    let a = reserve(
        &s,
        json!({"items": [{"sku": "A", "qty": 3}], "ttl_seconds": 60}),
    )
    .await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(a.2["status"], "held");
    assert_eq!(a.2["items"], json!([{"sku": "A", "qty": 3}]));
    assert_eq!(a.2["ttl_seconds"], 60);
    let expires = a.2["expires_at_ms"].as_i64().unwrap();
    assert!(a.2["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        header(&a, "location"),
        Some(format!("/v1/reservations/{id}").as_str())
    );
    // The token is the base64url HMAC of the id, computed independently here.
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_SECRET.as_bytes()).unwrap();
    mac.update(format!("rsv:{id}").as_bytes());
    assert_eq!(
        token,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(available(&s, "A").await, 7);

    let path = format!("/v1/reservations/{id}");
    let a = with_token(&s, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    assert_eq!(a.2["status"], "held");
    assert_eq!(a.2["expires_at_ms"], expires);
    assert_eq!(a.2["items"], json!([{"sku": "A", "qty": 3}]));

    // Extend, capped by MAX_HOLD_SECONDS (120 s from creation).
    let ext = format!("{path}/extend");
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &ext,
        Some(&token),
        Some(json!({"seconds": 30})),
    )
    .await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    assert_eq!(a.2["expires_at_ms"], expires + 30_000);
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &ext,
        Some(&token),
        Some(json!({"seconds": 120})),
    )
    .await;
    assert_eq!(a.0, StatusCode::OK);
    assert_eq!(a.2["expires_at_ms"], a.2["max_expires_at_ms"]);
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &ext,
        Some(&token),
        Some(json!({"seconds": 10})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::CONFLICT, "hold_limit_reached")
    );
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &ext,
        Some(&token),
        Some(json!({"seconds": 0})),
    )
    .await;
    assert_eq!(a.0, StatusCode::UNPROCESSABLE_ENTITY);
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &ext,
        Some(&token),
        Some(json!({"seconds": 5, "x": 1})),
    )
    .await;
    assert_eq!(a.0, StatusCode::UNPROCESSABLE_ENTITY);

    // Release gives the units back; releasing again is harmless.
    let a = with_token(&s, reqwest::Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    assert_eq!(a.2["status"], "released");
    assert_eq!(a.2["released"], true);
    assert_eq!(available(&s, "A").await, 10);
    let a = with_token(&s, reqwest::Method::DELETE, &path, Some(&token), None).await;
    assert_eq!((a.0, &a.2["released"]), (StatusCode::OK, &json!(false)));
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &ext,
        Some(&token),
        Some(json!({"seconds": 10})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::CONFLICT, "reservation_not_held")
    );
    let a = with_token(&s, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(a.2["status"], "released");
}

#[tokio::test]
async fn wrong_or_missing_tokens_are_refused_and_change_nothing() {
    let s = Stack::start(json!({})).await;
    s.seed("A", 10, 2).await;
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 2}]})).await;
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let other = reserve(&s, json!({"items": [{"sku": "A", "qty": 1}]})).await;
    let other_token = other.2["token"].as_str().unwrap().to_owned();
    let path = format!("/v1/reservations/{id}");
    let ext = format!("{path}/extend");
    let conf = format!("{path}/confirm");
    let cases: Vec<(reqwest::Method, &str, Option<Value>)> = vec![
        (reqwest::Method::GET, &path, None),
        (reqwest::Method::DELETE, &path, None),
        (reqwest::Method::POST, &ext, Some(json!({"seconds": 10}))),
        (reqwest::Method::POST, &conf, Some(json!({}))),
    ];
    for (m, p, body) in cases {
        let a = with_token(&s, m.clone(), p, None, body.clone()).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::UNAUTHORIZED, "missing_token"),
            "{m} {p}"
        );
        let a = with_token(&s, m.clone(), p, Some(&other_token), body.clone()).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::FORBIDDEN, "invalid_token"),
            "{m} {p}"
        );
        let a = with_token(&s, m.clone(), p, Some(&token[..20]), body).await;
        assert_eq!(a.0, StatusCode::FORBIDDEN, "{m} {p}");
    }
    assert_eq!(available(&s, "A").await, 7);
    let a = with_token(&s, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(a.2["status"], "held");

    // A well-formed id nobody reserved, with its own valid token: 404.
    let ghost = "0123456789abcdef0123456789abcdef";
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_SECRET.as_bytes()).unwrap();
    mac.update(format!("rsv:{ghost}").as_bytes());
    let ghost_token =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    for m in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let a = with_token(
            &s,
            m,
            &format!("/v1/reservations/{ghost}"),
            Some(&ghost_token),
            None,
        )
        .await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::NOT_FOUND, "reservation_not_found")
        );
    }
}

#[tokio::test]
async fn invalid_reserves_are_refused_and_change_nothing() {
    let s = Stack::start(json!({})).await;
    s.seed("A", 5, 2).await;
    let send = |body: Vec<u8>, ct: &'static str| {
        let rb = s
            .http
            .post(s.url("/v1/reservations"))
            .header("content-type", ct)
            .body(body);
        async move { answer(rb.send().await.unwrap()).await }
    };
    let a = send(b"{not json".to_vec(), "application/json").await;
    assert_eq!((a.0, code(&a)), (StatusCode::BAD_REQUEST, "malformed_json"));
    let a = send(br#"{"items":[{"sku":"A","qty":1}]}"#.to_vec(), "text/plain").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let big = format!(
        r#"{{"items":[{{"sku":"A","qty":1}}],"cart_id":"{}"}}"#,
        "x".repeat(17 * 1024)
    );
    let a = send(big.into_bytes(), "application/json").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );

    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"sku": format!("S{i}"), "qty": 1}))
        .collect();
    for (body, want) in [
        (
            json!({"items": [{"sku": "A", "qty": 0}]}),
            "invalid_quantity",
        ),
        (
            json!({"items": [{"sku": "A", "qty": -2}]}),
            "invalid_quantity",
        ),
        (
            json!({"items": [{"sku": "A", "qty": 11}]}),
            "invalid_quantity",
        ),
        (json!({"items": too_many}), "too_many_items"),
        (
            json!({"items": [{"sku": "A", "qty": 1}, {"sku": "A", "qty": 1}]}),
            "duplicate_sku",
        ),
        (json!({"items": [{"sku": "A b", "qty": 1}]}), "invalid_sku"),
        (
            json!({"items": [{"sku": "x".repeat(65), "qty": 1}]}),
            "invalid_sku",
        ),
        (
            json!({"items": [{"sku": "A", "qty": 1}], "coupon": "x"}),
            "invalid_request",
        ),
        (
            json!({"items": [{"sku": "A", "qty": 1}], "ttl_seconds": 0}),
            "invalid_ttl",
        ),
        (
            json!({"items": [{"sku": "A", "qty": 1}], "ttl_seconds": 901}),
            "invalid_ttl",
        ),
        (json!({"items": []}), "invalid_request"),
    ] {
        let a = reserve(&s, body.clone()).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::UNPROCESSABLE_ENTITY, want),
            "{body}"
        );
    }
    let a = reserve(&s, json!({"items": [{"sku": "NOPE", "qty": 1}]})).await;
    assert_eq!((a.0, code(&a)), (StatusCode::NOT_FOUND, "unknown_sku"));
    assert_eq!(a.2["error"]["sku"], "NOPE");
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 6}]})).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::CONFLICT, "insufficient_stock")
    );
    assert_eq!(a.2["error"]["sku"], "A");
    assert_eq!(a.2["error"]["available"], 5);
    // All-or-nothing: the short second item leaves the first untouched.
    s.seed("B", 1, 0).await;
    let a = reserve(
        &s,
        json!({"items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 2}]}),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::CONFLICT, "insufficient_stock")
    );
    assert_eq!(a.2["error"]["sku"], "B");
    assert_eq!(available(&s, "A").await, 5);
    assert_eq!(stored_reserved(&s, "A").await, 0);
}

#[tokio::test]
async fn idempotent_retries_return_the_same_reservation() {
    let s = Stack::start(json!({})).await;
    s.seed("A", 10, 2).await;
    let body = json!({"items": [{"sku": "A", "qty": 2}], "cart_id": "cart-1"});
    let first = reserve_with(&s, &body, Some("idem-key-1"), None).await;
    assert_eq!(first.0, StatusCode::CREATED, "{:?}", first.2);
    assert_eq!(header(&first, "idempotency-replayed"), None);
    let again = reserve_with(&s, &body, Some("idem-key-1"), None).await;
    assert_eq!(again.0, StatusCode::OK);
    assert_eq!(header(&again, "idempotency-replayed"), Some("true"));
    assert_eq!(again.2, first.2);
    assert_eq!(available(&s, "A").await, 8, "the retry held nothing more");

    let other = json!({"items": [{"sku": "A", "qty": 3}], "cart_id": "cart-1"});
    let a = reserve_with(&s, &other, Some("idem-key-1"), None).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    let fresh = reserve_with(&s, &body, Some("idem-key-2"), None).await;
    assert_eq!(fresh.0, StatusCode::CREATED);
    assert_ne!(fresh.2["reservation_id"], first.2["reservation_id"]);
    assert_eq!(available(&s, "A").await, 6);
}

#[tokio::test]
async fn holds_expire_and_the_sweep_reaps_them() {
    let s = Stack::start(json!({})).await;
    s.seed("A", 10, 2).await;
    let a = reserve(
        &s,
        json!({"items": [{"sku": "A", "qty": 4}], "ttl_seconds": 1}),
    )
    .await;
    assert_eq!(a.0, StatusCode::CREATED);
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    assert_eq!(stored_reserved(&s, "A").await, 4);
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let path = format!("/v1/reservations/{id}");
    let a = with_token(&s, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(a.2["status"], "expired");
    // Reads exclude expired holds even before anyone reaps them.
    assert_eq!(get(&s, "/v1/stock/A").await.2["status"], "in_stock");
    assert_eq!(stored_reserved(&s, "A").await, 4);

    // The cron handler sweeps.
    let resp = s
        .http
        .get(s.url("/cdn-cgi/handler/scheduled?cron=*+*+*+*+*"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(stored_reserved(&s, "A").await, 0);

    let a = with_token(
        &s,
        reqwest::Method::POST,
        &format!("{path}/extend"),
        Some(&token),
        Some(json!({"seconds": 10})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::CONFLICT, "reservation_expired")
    );
}

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
                .header("idempotency-key", format!("buyer-{i}"))
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

#[tokio::test]
async fn redis_unreachable_is_a_quick_503() {
    // Nothing listening where the REST endpoint should be.
    let s = Stack::start(json!({"REDIS_REST_URL": format!("http://127.0.0.1:{}", closed_port())}))
        .await;
    let t = Instant::now();
    let a = get(&s, "/v1/stock/A").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );
    assert!(header(&a, "retry-after").is_some());
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 1}]})).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // The gateway is up but Redis behind it is not.
    let gw = gateway(&format!("redis://127.0.0.1:{}", closed_port()), |c| {
        c.redis_timeout_ms = 300
    })
    .await;
    let s2 =
        Stack::start(json!({"REDIS_REST_URL": gw.url(), "REDIS_REST_TOKEN": GATEWAY_TOKEN})).await;
    let a = get(&s2, "/v1/stock/A").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );

    // A REST endpoint that accepts and never answers: the timeout fires.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    let s3 = Stack::start(
        json!({"REDIS_REST_URL": format!("http://{addr}"), "REDIS_TIMEOUT_MS": "400"}),
    )
    .await;
    let t = Instant::now();
    let a = get(&s3, "/v1/stock/A").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );
    assert!(
        t.elapsed() >= Duration::from_millis(350) && t.elapsed() < Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    hold.abort();
}

#[tokio::test]
async fn confirm_and_cancel_are_signed_and_forwarded_to_the_origin() {
    let origin = StubOrigin::start().await;
    let s =
        Stack::start(json!({"ORIGIN_URL": origin.url.clone(), "ORIGIN_TIMEOUT_MS": "500"})).await;
    s.seed("A", 10, 2).await;
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 1}]})).await;
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let conf = format!("/v1/reservations/{id}/confirm");

    let resp = s
        .http
        .post(s.url(&conf))
        .bearer_auth(&token)
        .header("idempotency-key", "order-key-1")
        .json(&json!({"customer_ref": "cust-7", "payment_ref": "pay-9"}))
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    assert_eq!(a.2["order_id"], "ord-1");
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].signature_ok,
        "the stub origin verified the signature"
    );
    assert_eq!(seen[0].path, "/v1/orders");
    assert_eq!(
        seen[0].body,
        json!({"reservation_id": id, "customer_ref": "cust-7", "payment_ref": "pay-9"})
    );
    assert_eq!(
        seen[0]
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok()),
        Some("order-key-1")
    );

    // Cancel goes to the origin's cancel route, signed too; an empty body is fine.
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &format!("/v1/reservations/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    let seen = origin.seen();
    assert_eq!(seen[1].path, format!("/v1/reservations/{id}/cancel"));
    assert!(seen[1].signature_ok);

    // The origin's JSON errors pass through.
    origin.set_mode(Mode::Reply(
        409,
        json!({"error": {"code": "reservation_expired", "message": "too late"}}),
    ));
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &conf,
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::CONFLICT, "reservation_expired")
    );
    assert_eq!(a.2["error"]["message"], "too late");

    // A confirm body with unknown fields never reaches the origin.
    let n = origin.seen().len();
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &conf,
        Some(&token),
        Some(json!({"amount": 1})),
    )
    .await;
    assert_eq!(a.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(origin.seen().len(), n);

    // A hanging origin: 503 after ORIGIN_TIMEOUT_MS.
    origin.set_mode(Mode::Hang);
    let t = Instant::now();
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &conf,
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "origin_unavailable")
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn origin_unreachable_is_503() {
    // Stack::start points ORIGIN_URL at a closed port.
    let s = Stack::start(json!({})).await;
    s.seed("A", 10, 2).await;
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 1}]})).await;
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &format!("/v1/reservations/{id}/confirm"),
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "origin_unavailable")
    );
}

#[tokio::test]
async fn cors_preflight_and_headers_for_allowed_origins_only() {
    let s = Stack::start(json!({})).await;
    s.seed("A", 10, 2).await;
    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/v1/reservations"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        h("access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    let allowed = h("access-control-allow-headers").unwrap();
    for needed in ["content-type", "authorization", "idempotency-key"] {
        assert!(allowed.contains(needed), "{allowed}");
    }
    assert!(h("access-control-allow-methods").unwrap().contains("POST"));

    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/v1/reservations"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let resp = s
        .http
        .get(s.url("/v1/stock/A"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    let expose = resp
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap();
    for needed in ["Retry-After", "ETag", "Idempotency-Replayed"] {
        assert!(expose.contains(needed), "{expose}");
    }
    let resp = s
        .http
        .get(s.url("/v1/stock/A"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn serves_the_browser_module_and_the_demo_page() {
    let w = Worker::start().await;
    let http = reqwest::Client::new();
    let resp = http.get(w.url("/edgestock.js")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/javascript"), "{ct}");
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("export class ReserveButton"));
    let resp = http.get(w.url("/demo.html")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("./edgestock.js"));
}

#[tokio::test]
async fn missing_configuration_is_a_json_500_not_a_crash() {
    let w = Worker::start().await;
    let http = reqwest::Client::new();
    let a = answer(http.get(w.url("/v1/stock/A")).send().await.unwrap()).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::INTERNAL_SERVER_ERROR, "config_error")
    );
    assert!(a.2["error"]["message"]
        .as_str()
        .unwrap()
        .contains("REDIS_REST_URL"));
    let a = answer(
        http.post(w.url("/v1/reservations"))
            .json(&json!({"items": [{"sku": "A", "qty": 1}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::INTERNAL_SERVER_ERROR, "config_error")
    );
    // Health still answers.
    let resp = http.get(w.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let w = Worker::start_with_bindings(&json!({"MAX_ITEMS": "lots"})).await;
    let a = answer(http.get(w.url("/v1/stock/A")).send().await.unwrap()).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::INTERNAL_SERVER_ERROR, "config_error")
    );
    assert!(a.2["error"]["message"]
        .as_str()
        .unwrap()
        .contains("MAX_ITEMS"));
}

//! The reservation routes: lifecycle, tokens, invalid input, idempotency and expiry. (Rate
//! limits and contention: `contention.rs`.)

use super::*;

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
    assert_eq!(
        a.2["items"],
        json!([{"sku": "A", "qty": 3, "allocation": [{"location": "default", "qty": 3}]}])
    );
    assert_eq!(a.2["ttl_seconds"], 60);
    let expires = a.2["expires_at_ms"].as_i64().unwrap();
    assert!(a.2["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        header(&a, "location"),
        Some(format!("/v1/reservations/{id}").as_str())
    );
    // The token is its expiry (created_at + MAX_HOLD 120 + PAYMENT_WINDOW 900 + CONFIRM_GRACE 60
    // seconds) and the base64url HMAC of the id and expiry, computed independently (testkit's
    // helper is pinned by a known answer).
    let exp = a.2["created_at_ms"].as_i64().unwrap().div_euclid(1000) + 1080;
    assert_eq!(token, testkit::reservation_token(TOKEN_SECRET, &id, exp));
    assert_eq!(available(&s, "A").await, 7);

    let path = format!("/v1/reservations/{id}");
    let a = with_token(&s, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    assert_eq!(a.2["status"], "held");
    assert_eq!(a.2["expires_at_ms"], expires);
    assert_eq!(
        a.2["items"],
        json!([{"sku": "A", "qty": 3, "allocation": [{"location": "default", "qty": 3}]}])
    );

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
    let ghost_token = testkit::reservation_token(TOKEN_SECRET, ghost, 4_102_444_800);
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
    let first = reserve_with(&s, &body, Some("idem-key-1-0123456789ab"), None).await;
    assert_eq!(first.0, StatusCode::CREATED, "{:?}", first.2);
    assert_eq!(header(&first, "idempotency-replayed"), None);
    let again = reserve_with(&s, &body, Some("idem-key-1-0123456789ab"), None).await;
    assert_eq!(again.0, StatusCode::OK);
    assert_eq!(header(&again, "idempotency-replayed"), Some("true"));
    assert_eq!(again.2, first.2);
    assert_eq!(available(&s, "A").await, 8, "the retry held nothing more");

    let other = json!({"items": [{"sku": "A", "qty": 3}], "cart_id": "cart-1"});
    let a = reserve_with(&s, &other, Some("idem-key-1-0123456789ab"), None).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    let fresh = reserve_with(&s, &body, Some("idem-key-2-0123456789ab"), None).await;
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

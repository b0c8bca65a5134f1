//! A battery of bad inputs: always a documented 4xx, nothing changed.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_always_a_documented_4xx_and_changes_nothing() {
    let s = FullStack::start(&redis_url(), json!({}), &[]).await;
    s.put_sku("BAD-1", 5, 1).await;
    s.wait_until("seeded", || async { redis_level(&s, "BAD-1").await.0 == 5 })
        .await;
    // One representative per error class, exact status and code; every known bad body is in
    // the edge's unit table (`edge/src/validate.rs`).
    let huge = "x".repeat(70_000);
    let cases = [
        ("{".to_owned(), 400, "malformed_json"),
        (r#"{"items":[]}"#.to_owned(), 422, "invalid_request"),
        (
            r#"{"items":[{"sku":"BAD-1","qty":0}]}"#.to_owned(),
            422,
            "invalid_quantity",
        ),
        (
            r#"{"items":[{"sku":"BAD 1","qty":1}]}"#.to_owned(),
            422,
            "invalid_sku",
        ),
        (
            r#"{"items":[{"sku":"BAD-1","qty":1}],"ttl_seconds":-5}"#.to_owned(),
            422,
            "invalid_ttl",
        ),
        (
            r#"{"items":[{"sku":"BAD-1","qty":1},{"sku":"BAD-1","qty":1}]}"#.to_owned(),
            422,
            "duplicate_sku",
        ),
        (
            format!(r#"{{"items":[{{"sku":"{huge}","qty":1}}]}}"#),
            413,
            "body_too_large",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let res = s
            .http
            .post(s.edge("/v1/reservations"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let b: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (status, b["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{}: {b}",
            &body[..body.len().min(80)]
        );
    }
    // An Idempotency-Key outside 22..=64 base64url characters.
    for key in ["short-key", "k7Qp2Vx9LmN4rT8wYz1Abc+/"] {
        let res = s
            .http
            .post(s.edge("/v1/reservations"))
            .header("idempotency-key", key)
            .json(&json!({"items": [{"sku": "BAD-1", "qty": 1}]}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let b: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (
                status,
                b["error"]["code"].as_str(),
                b["error"]["field"].as_str()
            ),
            (422, Some("invalid_request"), Some("Idempotency-Key")),
            "{key}: {b}"
        );
    }
    let res = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    for (path, token, want_status, want_code) in [
        ("/v1/reservations/nope", "bad", 403, "invalid_token"),
        (
            "/v1/reservations/nope/confirm",
            "",
            405,
            "method_not_allowed",
        ),
        ("/v1/stock/%00", "", 422, "invalid_sku"),
    ] {
        let mut rb = s.http.get(s.edge(path));
        if !token.is_empty() {
            rb = rb.bearer_auth(token);
        }
        let res = rb.send().await.unwrap();
        let status = res.status().as_u16();
        let b: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (status, b["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{path}: {b}"
        );
    }
    // The origin refuses unauthenticated and malformed calls the same way.
    let res = s
        .http
        .post(s.origin("/v1/orders"))
        .json(&json!({"reservation_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = s
        .http
        .put(s.origin("/v1/admin/skus/BAD-1"))
        .bearer_auth(ADMIN_API_KEY)
        .json(&json!({"name": "x", "on_hand": -3, "low_stock_threshold": 1}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let b: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (status, b["error"]["code"].as_str()),
        (422, Some("invalid_body")),
        "{b}"
    );
    assert_eq!(redis_level(&s, "BAD-1").await, (5, 0, 0), "nothing changed");
    assert_eq!(ledger_on_hand(&s, "BAD-1").await, 5);
    s.stop().await;
}

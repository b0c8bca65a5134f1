//! A battery of bad inputs: always a documented 4xx, nothing changed.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_always_a_documented_4xx_and_changes_nothing() {
    let s = FullStack::start(&redis_url(), json!({}), &[]).await;
    s.put_sku("BAD-1", 5, 1).await;
    s.wait_until("seeded", || async { redis_level(&s, "BAD-1").await.0 == 5 })
        .await;
    let huge = "x".repeat(70_000);
    let bodies = [
        "{",
        "[]",
        "null",
        "\"items\"",
        r#"{"items":"BAD-1"}"#,
        r#"{"items":[]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":0}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":-1}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1e309}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":99999999999999999999}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":"1"}]}"#,
        r#"{"items":[{"sku":"BAD 1","qty":1}]}"#,
        r#"{"items":[{"sku":"../../etc","qty":1}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1,"x":1}]}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1}],"admin":true}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1}],"ttl_seconds":-5}"#,
        r#"{"items":[{"sku":"BAD-1","qty":1},{"sku":"BAD-1","qty":1}]}"#,
    ];
    for body in bodies
        .iter()
        .map(|b| (*b).to_owned())
        .chain([format!(r#"{{"items":[{{"sku":"{huge}","qty":1}}]}}"#)])
    {
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
        assert!(
            (400..500).contains(&status),
            "{status} for {}: {b}",
            &body[..body.len().min(80)]
        );
        assert!(
            b["error"]["code"].is_string(),
            "documented error shape for {}: {b}",
            &body[..body.len().min(80)]
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
    for (path, token) in [
        ("/v1/reservations/nope", "bad"),
        ("/v1/reservations/nope/confirm", ""),
        ("/v1/stock/%00", ""),
    ] {
        let mut rb = s.http.get(s.edge(path));
        if !token.is_empty() {
            rb = rb.bearer_auth(token);
        }
        let res = rb.send().await.unwrap();
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
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
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(redis_level(&s, "BAD-1").await, (5, 0, 0), "nothing changed");
    assert_eq!(ledger_on_hand(&s, "BAD-1").await, 5);
    s.stop().await;
}

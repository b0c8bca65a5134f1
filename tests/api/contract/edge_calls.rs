//! Every edge operation, its happy paths and cheap failures.

use serde_json::json;

use super::probe::{Edge, Probe};
use super::reserve;
use testkit_stack::full::FullStack;

/// Answers the first reservation made and its token, for [`super::reservation_calls`].
pub(super) async fn run(s: &FullStack, p: &mut Probe) -> (String, String) {
    let http = &s.http;
    let e = |path: &str| s.edge(path);

    // Liveness and static files.
    p.call(Edge, "/healthz", http.get(e("/healthz")))
        .await
        .want(200);
    p.call(Edge, "/edgestock.js", http.get(e("/edgestock.js")))
        .await
        .want(200);
    p.call(Edge, "/demo.html", http.get(e("/demo.html")))
        .await
        .want(200);

    // Stock, one SKU.
    let t = "/v1/stock/{sku}";
    let a = p
        .call(Edge, t, http.get(e("/v1/stock/OAS-A")))
        .await
        .want(200);
    let etag = a.header("etag").to_owned();
    p.call(
        Edge,
        t,
        http.get(e("/v1/stock/OAS-A"))
            .header("if-none-match", &etag),
    )
    .await
    .want(304);
    p.call(Edge, t, http.get(e("/v1/stock/OAS-NONE")))
        .await
        .want_error(404, "unknown_sku");
    p.call(Edge, t, http.get(e("/v1/stock/bad%20sku")))
        .await
        .want_error(422, "invalid_sku");

    // Stock, many.
    let t = "/v1/stock";
    let a = p
        .call(
            Edge,
            t,
            http.get(e("/v1/stock?sku=OAS-A&sku=OAS-NONE,OAS-LOW")),
        )
        .await
        .want(200);
    assert_eq!(a.body["items"][1]["status"], "unknown");
    let etag = a.header("etag").to_owned();
    p.call(
        Edge,
        t,
        http.get(e("/v1/stock?sku=OAS-A&sku=OAS-NONE,OAS-LOW"))
            .header("if-none-match", &etag),
    )
    .await
    .want(304);
    p.call(Edge, t, http.get(e("/v1/stock")))
        .await
        .want_error(422, "invalid_request");
    let many: Vec<String> = (0..101).map(|i| format!("sku=S{i}")).collect();
    p.call(
        Edge,
        t,
        http.get(e(&format!("/v1/stock?{}", many.join("&")))),
    )
    .await
    .want_error(422, "too_many_skus");

    // Reserve: created, replayed, and every cheap refusal.
    let t = "/v1/reservations";
    let body =
        json!({"items": [{"sku": "OAS-A", "qty": 2}], "cart_id": "oas-cart-1", "ttl_seconds": 120});
    let a = reserve(s, p, Some("oas-r1-0123456789abcdef"), body.clone())
        .await
        .want(201);
    let r1 = a.body["reservation_id"].as_str().unwrap().to_owned();
    let t1 = a.body["token"].as_str().unwrap().to_owned();
    assert_eq!(a.header("location"), format!("/v1/reservations/{r1}"));
    let a = reserve(s, p, Some("oas-r1-0123456789abcdef"), body)
        .await
        .want(200);
    assert_eq!(a.header("idempotency-replayed"), "true");
    assert_eq!(a.body["reservation_id"], r1.as_str());
    reserve(
        s,
        p,
        Some("oas-r1-0123456789abcdef"),
        json!({"items": [{"sku": "OAS-A", "qty": 3}], "cart_id": "oas-cart-1", "ttl_seconds": 120}),
    )
    .await
    .want_error(422, "idempotency_key_reused");
    for (body, code) in [
        (
            json!({"items": [{"sku": "OAS-A", "qty": 1}], "extra": 1}),
            "invalid_request",
        ),
        (json!({"items": []}), "invalid_request"),
        (
            json!({"items": [{"sku": "OAS-A", "qty": 0}]}),
            "invalid_quantity",
        ),
        (json!({"items": [{"sku": "a b", "qty": 1}]}), "invalid_sku"),
        (
            json!({"items": [{"sku": "OAS-A", "qty": 1}, {"sku": "OAS-A", "qty": 1}]}),
            "duplicate_sku",
        ),
        (
            json!({"items": [{"sku": "OAS-A", "qty": 1}], "ttl_seconds": 0}),
            "invalid_ttl",
        ),
    ] {
        reserve(s, p, None, body).await.want_error(422, code);
    }
    reserve(
        s,
        p,
        None,
        json!({"items": [{"sku": "OAS-NONE", "qty": 1}]}),
    )
    .await
    .want_error(404, "unknown_sku");
    let a = reserve(s, p, None, json!({"items": [{"sku": "OAS-LOW", "qty": 2}]}))
        .await
        .want_error(409, "insufficient_stock");
    assert_eq!(a.body["error"]["sku"], "OAS-LOW");
    let post = |body: &str, ctype: &str| {
        http.post(e(t))
            .header("content-type", ctype)
            .body(body.to_owned())
    };
    p.call(Edge, t, post("{", "application/json"))
        .await
        .want_error(400, "malformed_json");
    p.call(Edge, t, post(r#"{"items":[]}"#, "text/plain"))
        .await
        .want_error(415, "unsupported_media_type");
    let big = format!(r#"{{"cart_id":"{}"}}"#, "x".repeat(17 * 1024));
    p.call(Edge, t, post(&big, "application/json"))
        .await
        .want_error(413, "body_too_large");
    // Rate limit (3 per minute here: the reserve, its replay and the key reuse above are the 3
    // attempts of cart oas-cart-1, every attempt counts) on one cart.
    for i in 0..4 {
        let a = reserve(
            s,
            p,
            None,
            json!({"items": [{"sku": "OAS-A", "qty": 1}], "cart_id": "oas-rl"}),
        )
        .await;
        if i < 3 {
            a.want(201);
        } else {
            let a = a.want_error(429, "rate_limited");
            assert!(!a.header("retry-after").is_empty());
        }
    }

    // CORS preflights of every API path.
    for (template, path) in [
        ("/v1/stock", "/v1/stock".to_owned()),
        ("/v1/stock/{sku}", "/v1/stock/OAS-A".to_owned()),
        ("/v1/reservations", "/v1/reservations".to_owned()),
        ("/v1/reservations/{id}", format!("/v1/reservations/{r1}")),
        (
            "/v1/reservations/{id}/extend",
            format!("/v1/reservations/{r1}/extend"),
        ),
        (
            "/v1/reservations/{id}/confirm",
            format!("/v1/reservations/{r1}/confirm"),
        ),
        (
            "/v1/reservations/{id}/cancel",
            format!("/v1/reservations/{r1}/cancel"),
        ),
    ] {
        let preflight = |origin: &str| {
            http.request(reqwest::Method::OPTIONS, e(&path))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
        };
        let a = p
            .call(Edge, template, preflight("https://shop.example"))
            .await
            .want(204);
        assert_eq!(a.header("access-control-max-age"), "600");
        p.call(Edge, template, preflight("https://evil.example"))
            .await
            .want_error(403, "cors_origin_denied");
    }
    (r1, t1)
}

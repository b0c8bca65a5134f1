//! Every operations and admin operation of the origin, its happy paths and cheap failures.

use serde_json::{json, Value};

use super::probe::{Origin, Probe};
use testkit_stack::full::{FullStack, ADMIN_API_KEY, METRICS_TOKEN, ORIGIN_API_KEY};

pub(super) async fn run(s: &FullStack, p: &mut Probe) {
    let http = &s.http;
    let o = |path: &str| s.origin(path);

    // Operations endpoints.
    p.call(Origin, "/healthz", http.get(o("/healthz")))
        .await
        .want(200);
    let a = p
        .call(Origin, "/readyz", http.get(o("/readyz")))
        .await
        .want(200);
    assert_eq!(a.body, json!({"postgres": true, "redis": true}));
    // Metrics show exact stock per SKU: only the metrics token reads them.
    p.call(Origin, "/metrics", http.get(o("/metrics")))
        .await
        .want_error(401, "unauthorized");
    p.call(
        Origin,
        "/metrics",
        http.get(o("/metrics")).bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(401, "unauthorized");
    let a = p
        .call(
            Origin,
            "/metrics",
            http.get(o("/metrics")).bearer_auth(METRICS_TOKEN),
        )
        .await
        .want(200);
    assert!(a.text.contains("origin_"), "{}", a.text);

    // Admin: SKUs.
    let t = "/v1/admin/skus/{sku}";
    let put = |sku: &str, body: &Value| {
        http.put(o(&format!("/v1/admin/skus/{sku}")))
            .bearer_auth(ADMIN_API_KEY)
            .json(body)
    };
    let body = json!({"name": "OpenAPI B", "on_hand": 10, "low_stock_threshold": 2});
    p.call(Origin, t, put("OAS-B", &body)).await.want(201);
    let body = json!({"name": "OpenAPI B", "on_hand": 12, "low_stock_threshold": 2});
    let a = p.call(Origin, t, put("OAS-B", &body)).await.want(200);
    assert!(a.body["movement_id"].is_string());
    // The backend key is not an admin key.
    p.call(
        Origin,
        t,
        http.put(o("/v1/admin/skus/OAS-B"))
            .bearer_auth(ORIGIN_API_KEY)
            .json(&body),
    )
    .await
    .want_error(401, "unauthorized");
    p.call(
        Origin,
        t,
        put(
            "OAS-B",
            &json!({"name": "B", "on_hand": -1, "low_stock_threshold": 0}),
        ),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(
        Origin,
        t,
        put(
            "OAS-B",
            &json!({"name": "B", "on_hand": 1, "low_stock_threshold": 0, "x": 1}),
        ),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(Origin, t, put("bad%20sku", &body))
        .await
        .want_error(422, "invalid_sku");
    p.call(
        Origin,
        t,
        http.put(o("/v1/admin/skus/OAS-B"))
            .bearer_auth(ADMIN_API_KEY)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .want_error(400, "bad_request");
    p.call(
        Origin,
        t,
        http.put(o("/v1/admin/skus/OAS-B"))
            .bearer_auth(ADMIN_API_KEY)
            .header("content-type", "application/json")
            .body(vec![b' '; 65 * 1024]),
    )
    .await
    .want(413);

    // Admin: adjustments.
    let t = "/v1/admin/skus/{sku}/adjustments";
    let adjust = |sku: &str, body: &Value| {
        http.post(o(&format!("/v1/admin/skus/{sku}/adjustments")))
            .bearer_auth(ADMIN_API_KEY)
            .json(body)
    };
    let body = json!({"delta": 5, "reason": "restock", "movement_id": "oas-adj-1"});
    let a = p.call(Origin, t, adjust("OAS-B", &body)).await.want(201);
    assert_eq!(a.body["kind"], "restock");
    let a = p.call(Origin, t, adjust("OAS-B", &body)).await.want(200);
    assert_eq!(a.body["replay"], true);
    p.call(
        Origin,
        t,
        adjust(
            "OAS-B",
            &json!({"delta": 6, "reason": "restock", "movement_id": "oas-adj-1"}),
        ),
    )
    .await
    .want_error(422, "movement_id_reused");
    p.call(
        Origin,
        t,
        adjust(
            "OAS-B",
            &json!({"delta": 0, "reason": "x", "movement_id": "oas-adj-0"}),
        ),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(
        Origin,
        t,
        adjust(
            "OAS-NONE",
            &json!({"delta": 1, "reason": "restock", "movement_id": "oas-adj-2"}),
        ),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        http.post(o("/v1/admin/skus/OAS-B/adjustments")).json(&body),
    )
    .await
    .want_error(401, "unauthorized");

    // Admin: seed and reconcile.
    let t = "/v1/admin/seed";
    let a = p
        .call(Origin, t, http.post(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    assert!(a.body["seeded"].as_i64().unwrap() >= 3, "{}", a.text);
    p.call(Origin, t, http.post(o(t)))
        .await
        .want_error(401, "unauthorized");
    let t = "/v1/admin/reconcile";
    let a = p
        .call(Origin, t, http.get(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    assert_eq!(a.body["repair"], false);
    p.call(
        Origin,
        t,
        http.get(o("/v1/admin/reconcile?repair=true&sku=OAS-A"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(200);
    p.call(
        Origin,
        t,
        http.get(o("/v1/admin/reconcile?repair=maybe"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(400);
    p.call(Origin, t, http.get(o(t)).bearer_auth("wrong"))
        .await
        .want_error(401, "unauthorized");
}

//! The API contract against the running stack: every operation of the generated OpenAPI
//! documents gets real requests (happy paths with real SKUs, reservations, tokens and orders, and
//! cheap failures: no or wrong auth, bad bodies, unknown ids), and each answer must have a status
//! the operation documents, the documented headers, a documented content type, and a JSON body
//! that is exactly one of the typed bodies of `edgestock-api` (see [`probe`]). Bodies the services
//! accept must be valid typed requests. Finally every operation must have been exercised, so the
//! documents cannot drift from the services without this test failing.

mod admin_calls;
mod edge_calls;
mod location_calls;
mod origin_calls;
mod probe;
mod reservation_calls;
mod webhook_calls;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use probe::{spec, token_until, Answer, Edge, Origin, Probe};
use testkit_stack::full::FullStack;
use testkit_stack::stack::redis_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_specs_match_the_running_services() {
    let edge = spec(Edge);
    let origin = spec(Origin);

    let s = FullStack::start(&redis_url(), json!({"RATE_LIMIT_PER_MINUTE": "3"}), &[]).await;
    s.put_sku("OAS-A", 100, 5).await;
    s.put_sku("OAS-LOW", 1, 5).await;
    s.wait_until("the SKUs at the edge", || async {
        s.edge_stock("OAS-A").await["status"] == "in_stock"
            && s.edge_stock("OAS-LOW").await["status"] == "low_stock"
    })
    .await;

    let mut p = Probe {
        http: s.http.clone(),
        edge,
        origin,
        exercised: BTreeSet::new(),
        calls: 0,
        next_ip: 0,
    };
    let (r1, t1) = edge_calls::run(&s, &mut p).await;
    reservation_calls::run(&s, &mut p, &r1, &t1).await;
    admin_calls::run(&s, &mut p).await;
    origin_calls::run(&s, &mut p).await;
    webhook_calls::run(&s, &mut p).await;
    location_calls::run(&s, &mut p).await;
    p.assert_all_exercised();
    s.stop().await;
}

/// Reserves `body` at the edge from a fresh IP; returns the answer.
async fn reserve(s: &FullStack, p: &mut Probe, key: Option<&str>, body: Value) -> Answer {
    let mut rb = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("cf-connecting-ip", p.ip())
        .json(&body);
    if let Some(k) = key {
        rb = rb.header("idempotency-key", k);
    }
    p.call(Edge, "/v1/reservations", rb).await
}

/// A new hold of `qty` OAS-A: (id, token).
async fn hold(s: &FullStack, p: &mut Probe, qty: u32) -> (String, String) {
    let a = reserve(s, p, None, json!({"items": [{"sku": "OAS-A", "qty": qty}]}))
        .await
        .want(201);
    let id = a.body["reservation_id"].as_str().unwrap().to_owned();
    let t = a.body["token"].as_str().unwrap().to_owned();
    // Expires at created_at + MAX_HOLD (900) + PAYMENT_WINDOW (900) + CONFIRM_GRACE (60) seconds.
    let exp = a.body["created_at_ms"].as_i64().unwrap().div_euclid(1000) + 1860;
    assert_eq!(t, token_until(&id, exp));
    (id, t)
}

//! Every order operation of the origin (the edge's place and release, the backend's confirm,
//! read and cancel, the audit trail), its happy paths and cheap failures.

use serde_json::{json, Value};

use super::hold;
use super::probe::{signed, Origin, Probe, GHOST};
use testkit_stack::full::{FullStack, ADMIN_API_KEY, ORIGIN_API_KEY};

pub(super) async fn run(s: &FullStack, p: &mut Probe) {
    let http = &s.http;
    let o = |path: &str| s.origin(path);

    // The edge's routes: place (signed only), its order, release.
    let (r4, _) = hold(s, p, 1).await;
    let (r5, _) = hold(s, p, 1).await;
    let (r6, _) = hold(s, p, 1).await;
    let edge_post = |path: &str, body: &'static [u8]| {
        signed(
            http.post(o(path))
                .header("content-type", "application/json")
                .body(body),
            "POST",
            path,
            body,
        )
    };
    let t = "/v1/reservations/{id}/place";
    let place4 = format!("/v1/reservations/{r4}/place");
    let a = p.call(Origin, t, edge_post(&place4, b"{}")).await.want(201);
    assert_eq!(a.body["status"], "PENDING_PAYMENT");
    let o4 = a.body["order_id"].as_str().unwrap().to_owned();
    p.call(Origin, t, edge_post(&place4, b"{}")).await.want(200);
    p.call(Origin, t, http.post(o(&place4)).bearer_auth(ORIGIN_API_KEY))
        .await
        .want_error(401, "unauthorized");
    p.call(
        Origin,
        t,
        edge_post(&format!("/v1/reservations/{GHOST}/place"), b"{}"),
    )
    .await
    .want_error(404, "not_found");
    let t = "/v1/reservations/{id}/order";
    let a = p
        .call(
            Origin,
            t,
            edge_post(&format!("/v1/reservations/{r4}/order"), b"{}"),
        )
        .await
        .want(200);
    assert_eq!(a.body["order_id"], o4.as_str());
    p.call(
        Origin,
        t,
        edge_post(&format!("/v1/reservations/{r5}/order"), b"{}"),
    )
    .await
    .want_error(404, "not_found");
    let t = "/v1/reservations/{id}/release";
    p.call(
        Origin,
        t,
        edge_post(&format!("/v1/reservations/{r4}/release"), b"{}"),
    )
    .await
    .want_error(409, "order_placed");
    let a = p
        .call(
            Origin,
            t,
            edge_post(&format!("/v1/reservations/{r6}/release"), b"{}"),
        )
        .await
        .want(200);
    assert_eq!(a.body["status"], "released");
    p.call(
        Origin,
        t,
        edge_post(&format!("/v1/reservations/{GHOST}/release"), b"{}"),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        http.post(o(&format!("/v1/reservations/{r6}/release")))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(401, "unauthorized");

    // Orders: the backend confirms with its payment reference (backend key only).
    let t = "/v1/orders";
    let create = |body: &Value| http.post(o(t)).bearer_auth(ORIGIN_API_KEY).json(body);
    let body = json!({"reservation_id": r4, "customer_ref": "cust-4", "payment_ref": "pay-4"});
    let a = p.call(Origin, t, create(&body)).await.want(201);
    assert_eq!(a.body["order_id"], o4.as_str());
    assert_eq!(a.body["status"], "CONFIRMED");
    let a = p.call(Origin, t, create(&body)).await.want(200);
    assert_eq!(a.body["order_id"], o4.as_str());
    p.call(
        Origin,
        t,
        create(&json!({"reservation_id": r4, "payment_ref": "pay-other"})),
    )
    .await
    .want_error(409, "already_confirmed");
    p.call(
        Origin,
        t,
        create(&json!({"reservation_id": r5, "payment_ref": "pay-4"})),
    )
    .await
    .want_error(409, "payment_ref_in_use");
    let a = p
        .call(
            Origin,
            t,
            create(&json!({"reservation_id": r5, "payment_ref": "pay-5"})),
        )
        .await
        .want(201);
    assert_eq!(a.body["reservation_id"], r5.as_str());
    let raw = serde_json::to_vec(&json!({"reservation_id": r5, "payment_ref": "pay-5"})).unwrap();
    p.call(
        Origin,
        t,
        signed(
            http.post(o(t))
                .header("content-type", "application/json")
                .body(raw.clone()),
            "POST",
            t,
            &raw,
        ),
    )
    .await
    .want_error(401, "unauthorized");
    p.call(Origin, t, http.post(o(t)).json(&body))
        .await
        .want_error(401, "unauthorized");
    p.call(
        Origin,
        t,
        create(&json!({"reservation_id": GHOST, "payment_ref": "pay-g"})),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        create(&json!({"reservation_id": r6, "payment_ref": "p", "coupon": "x"})),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(
        Origin,
        t,
        http.post(o(t))
            .bearer_auth(ORIGIN_API_KEY)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .want_error(400, "bad_request");
    // The released hold can no longer become an order.
    p.call(
        Origin,
        t,
        create(&json!({"reservation_id": r6, "payment_ref": "pay-6"})),
    )
    .await
    .want_error(409, "reservation_expired");

    // Orders: read, cancel.
    let t = "/v1/orders/{id}";
    let path = format!("/v1/orders/{o4}");
    let a = p
        .call(Origin, t, http.get(o(&path)).bearer_auth(ORIGIN_API_KEY))
        .await
        .want(200);
    assert_eq!(a.body["customer_ref"], "cust-4");
    p.call(Origin, t, signed(http.get(o(&path)), "GET", &path, b""))
        .await
        .want_error(401, "unauthorized");
    p.call(
        Origin,
        t,
        http.get(o("/v1/orders/00000000-0000-7000-8000-000000000000"))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        http.get(o("/v1/orders/not-a-uuid"))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    p.call(Origin, t, http.get(o(&path)))
        .await
        .want_error(401, "unauthorized");
    let t = "/v1/orders/{id}/cancel";
    let path = format!("/v1/orders/{o4}/cancel");
    p.call(Origin, t, http.post(o(&path)).bearer_auth(ORIGIN_API_KEY))
        .await
        .want_error(422, "restock_required");
    for _ in 0..2 {
        let a = p
            .call(
                Origin,
                t,
                http.post(o(&path))
                    .bearer_auth(ORIGIN_API_KEY)
                    .json(&json!({"restock": true})),
            )
            .await
            .want(200);
        assert_eq!(a.body["status"], "CANCELLED");
    }
    p.call(
        Origin,
        t,
        http.post(o("/v1/orders/00000000-0000-7000-8000-000000000000/cancel"))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    p.call(Origin, t, http.post(o(&path)))
        .await
        .want_error(401, "unauthorized");

    // The audit trail, paginated.
    let t = "/v1/events";
    let a = p
        .call(Origin, t, http.get(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    assert!(!a.body["events"].as_array().unwrap().is_empty());
    let a = p
        .call(
            Origin,
            t,
            http.get(o("/v1/events?sku=OAS-B&limit=1"))
                .bearer_auth(ADMIN_API_KEY),
        )
        .await
        .want(200);
    let cursor = a.body["next_before"]
        .as_str()
        .expect("a next page")
        .to_owned();
    p.call(
        Origin,
        t,
        http.get(o(&format!("/v1/events?sku=OAS-B&limit=1&before={cursor}")))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(200);
    p.call(
        Origin,
        t,
        http.get(o("/v1/events?limit=0")).bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(422, "invalid_query");
    p.call(
        Origin,
        t,
        http.get(o("/v1/events?before=nope"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(422, "invalid_query");
    p.call(
        Origin,
        t,
        http.get(o("/v1/events?limit=many"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(400);
    p.call(Origin, t, http.get(o(t)).bearer_auth(ORIGIN_API_KEY))
        .await
        .want_error(401, "unauthorized");
}

//! Every edge operation on one reservation (read, extend, release, place, cancel), its happy
//! paths and cheap failures.

use serde_json::{json, Value};

use super::hold;
use super::probe::{token, Edge, Probe, GHOST};
use testkit_stack::full::FullStack;

/// `r1` is a held reservation and `t1` its token (from [`super::edge_calls`]).
pub(super) async fn run(s: &FullStack, p: &mut Probe, r1: &str, t1: &str) {
    let http = &s.http;
    let e = |path: &str| s.edge(path);

    // Reading a reservation.
    let t = "/v1/reservations/{id}";
    let path = format!("/v1/reservations/{r1}");
    let a = p
        .call(Edge, t, http.get(e(&path)).bearer_auth(t1))
        .await
        .want(200);
    assert_eq!(a.body["status"], "held");
    p.call(Edge, t, http.get(e(&path)))
        .await
        .want_error(401, "missing_token");
    p.call(Edge, t, http.get(e(&path)).bearer_auth("nope"))
        .await
        .want_error(403, "invalid_token");
    p.call(
        Edge,
        t,
        http.get(e(&format!("/v1/reservations/{GHOST}")))
            .bearer_auth(token(GHOST)),
    )
    .await
    .want_error(404, "reservation_not_found");

    // Extending.
    let t = "/v1/reservations/{id}/extend";
    let path = format!("/v1/reservations/{r1}/extend");
    let extend = |body: &str, ctype: &str| {
        http.post(e(&path))
            .bearer_auth(t1)
            .header("content-type", ctype)
            .body(body.to_owned())
    };
    p.call(Edge, t, extend(r#"{"seconds":60}"#, "application/json"))
        .await
        .want(200);
    p.call(Edge, t, extend(r#"{"seconds":900}"#, "application/json"))
        .await
        .want(200);
    p.call(Edge, t, extend(r#"{"seconds":900}"#, "application/json"))
        .await
        .want_error(409, "hold_limit_reached");
    p.call(Edge, t, extend(r#"{"seconds":0}"#, "application/json"))
        .await
        .want_error(422, "invalid_ttl");
    p.call(
        Edge,
        t,
        extend(r#"{"seconds":1,"x":1}"#, "application/json"),
    )
    .await
    .want_error(422, "invalid_request");
    p.call(Edge, t, extend("{", "application/json"))
        .await
        .want_error(400, "malformed_json");
    p.call(Edge, t, extend(r#"{"seconds":60}"#, "text/plain"))
        .await
        .want_error(415, "unsupported_media_type");
    p.call(Edge, t, http.post(e(&path)).json(&json!({"seconds": 60})))
        .await
        .want_error(401, "missing_token");

    // Releasing (idempotent), then extending a released hold.
    let (r2, t2) = hold(s, p, 1).await;
    let t = "/v1/reservations/{id}";
    let path = format!("/v1/reservations/{r2}");
    let a = p
        .call(Edge, t, http.delete(e(&path)).bearer_auth(&t2))
        .await
        .want(200);
    assert_eq!(a.body["released"], true);
    let a = p
        .call(Edge, t, http.delete(e(&path)).bearer_auth(&t2))
        .await
        .want(200);
    assert_eq!(a.body["released"], false);
    p.call(Edge, t, http.delete(e(&path)).bearer_auth(t1))
        .await
        .want_error(403, "invalid_token");
    p.call(
        Edge,
        "/v1/reservations/{id}/extend",
        http.post(e(&format!("{path}/extend")))
            .bearer_auth(&t2)
            .json(&json!({"seconds": 60})),
    )
    .await
    .want_error(409, "reservation_not_held");

    // Placing the order through the edge (forwarded to the origin's place route).
    let t = "/v1/reservations/{id}/confirm";
    let path = format!("/v1/reservations/{r1}/confirm");
    let confirm = |body: Value| http.post(e(&path)).bearer_auth(t1).json(&body);
    let a = p.call(Edge, t, confirm(json!({}))).await.want(201);
    assert_eq!(a.body["status"], "PENDING_PAYMENT");
    assert!(a.body["payment_deadline_ms"].is_i64(), "{}", a.body);
    let o1 = a.body["order_id"].as_str().unwrap().to_owned();
    let a = p.call(Edge, t, confirm(json!({}))).await.want(200);
    assert_eq!(a.body["order_id"], o1.as_str());
    p.call(Edge, t, confirm(json!({"payment_ref": "x"})))
        .await
        .want_error(422, "invalid_request");
    p.call(
        Edge,
        t,
        http.post(e(&path))
            .bearer_auth(t1)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .want_error(400, "malformed_json");
    p.call(
        Edge,
        t,
        http.post(e(&path))
            .bearer_auth(t1)
            .header("content-type", "text/plain")
            .body("customer"),
    )
    .await
    .want_error(415, "unsupported_media_type");
    p.call(Edge, t, http.post(e(&path)).bearer_auth(&t2))
        .await
        .want_error(403, "invalid_token");
    p.call(Edge, t, http.post(e(&path)))
        .await
        .want_error(401, "missing_token");
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{r2}/confirm")))
            .bearer_auth(&t2),
    )
    .await
    .want_error(409, "reservation_expired");
    // The origin's code for an unknown reservation passes through (`not_found`, not the edge's
    // `reservation_not_found`).
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{GHOST}/confirm")))
            .bearer_auth(token(GHOST)),
    )
    .await
    .want_error(404, "reservation_not_found");

    // A placed order's hold cannot be released by the shopper.
    p.call(
        Edge,
        "/v1/reservations/{id}",
        http.delete(e(&format!("/v1/reservations/{r1}")))
            .bearer_auth(t1),
    )
    .await
    .want_error(409, "reservation_confirming");
    // Its reservation shows the order, for polling.
    let a = p
        .call(
            Edge,
            "/v1/reservations/{id}",
            http.get(e(&format!("/v1/reservations/{r1}")))
                .bearer_auth(t1),
        )
        .await
        .want(200);
    assert_eq!(
        (
            a.body["order"]["order_id"].as_str(),
            a.body["order"]["status"].as_str()
        ),
        (Some(o1.as_str()), Some("PENDING_PAYMENT"))
    );

    // Cancelling through the edge: a held reservation is released; a placed order is refused.
    let t = "/v1/reservations/{id}/cancel";
    let (r3, t3) = hold(s, p, 1).await;
    let a = p
        .call(
            Edge,
            t,
            http.post(e(&format!("/v1/reservations/{r3}/cancel")))
                .bearer_auth(&t3)
                .json(&json!({"reason": "changed my mind"})),
        )
        .await
        .want(200);
    assert_eq!(a.body["status"], "released");
    let a = p
        .call(
            Edge,
            t,
            http.post(e(&format!("/v1/reservations/{r1}/cancel")))
                .bearer_auth(t1),
        )
        .await
        .want_error(409, "order_placed");
    assert_eq!(a.body["error"]["status"], "PENDING_PAYMENT");
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{r3}/cancel")))
            .bearer_auth(&t3)
            .json(&json!({"why": "x"})),
    )
    .await
    .want_error(422, "invalid_request");
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{r3}/cancel"))),
    )
    .await
    .want_error(401, "missing_token");
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{GHOST}/cancel")))
            .bearer_auth(token(GHOST)),
    )
    .await
    .want_error(404, "reservation_not_found");
}

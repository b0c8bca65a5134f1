//! Confirm, read and cancel orders; authentication and the error shape. (The payment step's
//! lifecycle and its abuse cases are in `lifecycle.rs`.)

use origin::signature;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{pool, Env, TestApp, ADMIN_KEY, API_KEY, EDGE_SECRET};

#[sqlx::test(migrations = false)]
async fn confirm_creates_an_order_once_and_replays_it_with_200(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 3).await;

    let (s1, first) = app.confirm(&rid).await;
    let (s2, again) = app.confirm(&rid).await;

    assert_eq!(s1, 201, "{first}");
    assert_eq!(first["status"], "CONFIRMED");
    assert_eq!(first["payment_ref"], format!("pay-{rid}"));
    assert_eq!(first["late"], false);
    assert_eq!(first["commit_applied"], true);
    assert_eq!(
        first["items"],
        json!([{"sku": "SKU-1", "qty": 3, "allocation": [{"location": "default", "qty": 3}]}])
    );
    assert_eq!(s2, 200, "{again}");
    assert_eq!(first, again);
    assert_eq!(app.ledger_on_hand("SKU-1").await, 7);
    assert_eq!(app.redis_level("SKU-1").await, (7, 0));
    assert_eq!(app.pending_outbox().await, 0);
    let (s, got) = app
        .get(
            &format!("/v1/orders/{}", first["order_id"].as_str().unwrap()),
            API_KEY,
        )
        .await;
    assert_eq!((s, &got), (200, &first));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn confirm_answers_409_for_a_released_hold_and_404_for_an_unknown_one(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 2).await;
    app.state.redis.release(&rid, false).await.unwrap();

    let (s, body) = app.confirm(&rid).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "reservation_expired");
    assert_eq!(body["error"]["message"], "the reservation is released");
    let (s, body) = app.confirm("no-such-reservation").await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(orders, 0, "a rejected confirm writes nothing");
    assert_eq!(app.ledger_on_hand("SKU-1").await, 10);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_expired_hold_is_a_late_confirm_taking_what_is_available(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 2).await;
    // Time passes for the scripts: a fresh engine one hour ahead pins the same reservation.
    let late = env.engine_ahead(3_600_000);
    let (pin, _) = late.pin(&rid, 0, 1000).await.unwrap();
    assert!(
        matches!(pin, edgestock_core::scripts::PinOutcome::Expired { .. }),
        "{pin:?}"
    );
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    let (s, body) = app.confirm(&rid).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["late"].as_bool()),
        (Some("CONFIRMED"), Some(true))
    );
    assert_eq!(body["commit_applied"], true);
    assert_eq!(app.redis_level("SKU-1").await, (8, 0));
    assert_eq!(app.ledger_on_hand("SKU-1").await, 8);
    app.stop().await;
}

/// Finding 3 of the red-team review: an edge signature opened the backend's confirm, so a
/// shopper's browser (through the edge) could mark its own order paid. Now each route takes one
/// credential: the backend key for backend routes, the edge signature for the edge's.
#[sqlx::test(migrations = false)]
async fn adversary_each_route_takes_only_its_own_credential(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 1).await;
    let body = serde_json::to_vec(&json!({"reservation_id": rid, "payment_ref": "p-1"})).unwrap();
    let signed = |path: &str, ts: i64, body: &[u8]| {
        let sig = signature::sign(EDGE_SECRET.as_bytes(), "POST", path, ts, body);
        app.http
            .post(app.url(path))
            .header("content-type", "application/json")
            .header(signature::TIMESTAMP_HEADER, ts.to_string())
            .header(signature::SIGNATURE_HEADER, sig)
            .body(body.to_vec())
    };
    let now = signature::unix_now();
    let place = format!("/v1/reservations/{rid}/place");

    let cases = [
        (
            "no credentials",
            app.http
                .post(app.url("/v1/orders"))
                .json(&json!({"reservation_id": rid})),
            401,
        ),
        (
            "admin key is not a backend key",
            app.http
                .post(app.url("/v1/orders"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"reservation_id": rid})),
            401,
        ),
        (
            "an edge signature cannot confirm",
            signed("/v1/orders", now, &body),
            401,
        ),
        (
            "the backend key cannot act as the edge",
            app.http
                .post(app.url(&place))
                .bearer_auth(API_KEY)
                .body("{}"),
            401,
        ),
        ("stale signature", signed(&place, now - 301, b"{}"), 401),
        (
            "signature over another body",
            signed(&place, now, b"{}").body(b"{\"x\":1}".to_vec()),
            401,
        ),
        ("fresh signature places", signed(&place, now, b"{}"), 201),
    ];
    for (what, req, want) in cases {
        let (status, body) = crate::helpers::json_of(req.send().await.unwrap()).await;
        assert_eq!(status, want, "{what}: {body}");
        if status == 401 {
            assert_eq!(body["error"]["code"], "unauthorized", "{what}");
        }
    }
    assert_eq!(app.order_status(&rid).await, "PENDING_PAYMENT");
    let (s, _) = app.get("/v1/admin/reconcile", API_KEY).await;
    assert_eq!(s, 401, "the backend key is not an admin key");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn malformed_confirm_bodies_are_refused_and_change_nothing(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 1).await;
    let post_raw = |body: String| {
        app.http
            .post(app.url("/v1/orders"))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (s, body) = crate::helpers::json_of(post_raw("{not json".into()).await.unwrap()).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
    let cases = [
        json!({"reservation_id": 5, "payment_ref": "p"}),
        json!({"reservation_id": rid}),
        json!({"reservation_id": rid, "payment_ref": ""}),
        json!({"reservation_id": rid, "payment_ref": "x".repeat(257)}),
        json!({"reservation_id": rid, "payment_ref": "p\u{0}1"}),
        json!({"reservation_id": rid, "payment_ref": "p", "customer_ref": "c\u{0}"}),
        json!({"reservation_id": rid, "payment_ref": "p", "customer_ref": "c\n"}),
        json!({"reservation_id": rid, "payment_ref": "p", "amount": 5}),
    ];
    for case in cases {
        let (s, body) = crate::helpers::json_of(post_raw(case.to_string()).await.unwrap()).await;
        assert_eq!(s, 422, "{case}: {body}");
        assert_eq!(body["error"]["code"], "invalid_body", "{case}");
    }
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(orders, 0);
    let rec = app.state.redis.reservation(&rid).await.unwrap().unwrap();
    assert_eq!(
        rec.status,
        edgestock_core::domain::ReservationStatus::Held,
        "nothing pinned"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn cancelling_a_confirmed_order_restocks_through_the_ledger_once(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 4).await;
    let (_, order) = app.confirm(&rid).await;
    let (s, body) = app.cancel(&order["order_id"], &json!({})).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["code"], "restock_required");

    let (s1, first) = app
        .cancel(&order["order_id"], &json!({"restock": true}))
        .await;
    let (s2, second) = app
        .cancel(&order["order_id"], &json!({"restock": true}))
        .await;

    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(first["status"], "CANCELLED");
    assert_eq!(first, second);
    assert_eq!(app.ledger_on_hand("SKU-1").await, 10);
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    assert_eq!(
        app.movement_kinds().await,
        ["initial", "sale", "cancellation"]
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn cancelling_a_shipped_order_without_restock_keeps_the_units_sold(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 4).await;
    let (_, order) = app.confirm(&rid).await;
    let (s, body) = app
        .cancel(&order["order_id"], &json!({"restock": false}))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "CANCELLED");
    assert_eq!(app.ledger_on_hand("SKU-1").await, 6);
    assert_eq!(app.redis_level("SKU-1").await, (6, 0));
    assert_eq!(app.movement_kinds().await, ["initial", "sale"]);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_edge_signed_release_frees_a_held_reservation(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 3).await;
    assert_eq!(app.redis_level("SKU-1").await, (10, 3));
    let (s, body) = app.release(&rid).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, json!({"reservation_id": rid, "status": "released"}));
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    let (s, body) = app.confirm(&rid).await;
    assert_eq!(s, 409, "a released reservation cannot be confirmed: {body}");
    assert_eq!(body["error"]["code"], "reservation_expired");
    let (s, body) = app.release("no-such-reservation").await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    app.stop().await;
}

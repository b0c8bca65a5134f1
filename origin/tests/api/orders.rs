//! Confirm, read and cancel orders; authentication and the error shape.

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
    assert_eq!(first["items"], json!([{"sku": "SKU-1", "qty": 3}]));
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
async fn an_expired_hold_cannot_be_confirmed(opts: PgPoolOptions, c: PgConnectOptions) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 2).await;
    // Time passes for the scripts: a fresh engine one hour ahead pins the same reservation.
    let late = origin::state::redis_engine(
        &env.gateway.url(),
        crate::helpers::GATEWAY_TOKEN,
        &env.prefix,
        std::time::Duration::from_secs(2),
    )
    .unwrap()
    .with_clock_offset_ms(3_600_000);
    let (pin, _) = late.pin(&rid, 1000).await.unwrap();
    assert!(
        matches!(pin, edgestock_core::scripts::PinOutcome::Expired { .. }),
        "{pin:?}"
    );
    let (s, body) = app.confirm(&rid).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn backend_routes_need_the_api_key_or_a_fresh_edge_signature(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 1).await;
    let body = serde_json::to_vec(&json!({"reservation_id": rid})).unwrap();
    let signed = |ts: i64, body: &[u8]| {
        let sig = signature::sign(EDGE_SECRET.as_bytes(), "POST", "/v1/orders", ts, body);
        app.http
            .post(app.url("/v1/orders"))
            .header("content-type", "application/json")
            .header(signature::TIMESTAMP_HEADER, ts.to_string())
            .header(signature::SIGNATURE_HEADER, sig)
            .body(body.to_vec())
    };
    let now = signature::unix_now();

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
        ("stale signature", signed(now - 301, &body), 401),
        (
            "signature over another body",
            signed(now, &body).body(b"{\"reservation_id\":\"x\"}".to_vec()),
            401,
        ),
        ("fresh signature", signed(now, &body), 201),
    ];
    for (what, req, want) in cases {
        let (status, body) = crate::helpers::json_of(req.send().await.unwrap()).await;
        assert_eq!(status, want, "{what}: {body}");
        if status == 401 {
            assert_eq!(body["error"]["code"], "unauthorized", "{what}");
        }
    }
    let (s, _) = app.get("/v1/admin/reconcile", API_KEY).await;
    assert_eq!(s, 401, "the backend key is not an admin key");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn malformed_bodies_and_reused_idempotency_keys_are_refused(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let (r1, r2) = (app.reserve("SKU-1", 1).await, app.reserve("SKU-1", 1).await);
    let post_raw = |body: &'static str| {
        app.http
            .post(app.url("/v1/orders"))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (s, body) = crate::helpers::json_of(post_raw("{not json").await.unwrap()).await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["message"].is_string());
    let (s, _) = crate::helpers::json_of(post_raw("{\"reservation_id\": 5}").await.unwrap()).await;
    assert_eq!(s, 422);

    let with_key = |rid: &str| {
        app.http
            .post(app.url("/v1/orders"))
            .bearer_auth(API_KEY)
            .header("idempotency-key", "k-1")
            .json(&json!({"reservation_id": rid}))
            .send()
    };
    let (s, _) = crate::helpers::json_of(with_key(&r1).await.unwrap()).await;
    assert_eq!(s, 201);
    let (s, body) = crate::helpers::json_of(with_key(&r2).await.unwrap()).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_mismatch");
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
    let path = format!("/v1/orders/{}/cancel", order["order_id"].as_str().unwrap());

    let (s1, first) = app.post(&path, API_KEY, &json!({})).await;
    let (s2, second) = app.post(&path, API_KEY, &json!({})).await;

    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(first["status"], "CANCELLED");
    assert_eq!(first, second);
    assert_eq!(app.ledger_on_hand("SKU-1").await, 10);
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind::text from stock_movements order by id")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(kinds, ["initial", "sale", "cancellation"]);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_edge_signed_reservation_cancel_releases_the_hold(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 3).await;
    assert_eq!(app.redis_level("SKU-1").await, (10, 3));
    let path = format!("/v1/reservations/{rid}/cancel");
    let ts = signature::unix_now();
    let sig = signature::sign(EDGE_SECRET.as_bytes(), "POST", &path, ts, b"");
    let resp = app
        .http
        .post(app.url(&path))
        .header(signature::TIMESTAMP_HEADER, ts.to_string())
        .header(signature::SIGNATURE_HEADER, sig)
        .send()
        .await
        .unwrap();
    let (s, body) = crate::helpers::json_of(resp).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "released");
    assert_eq!(app.redis_level("SKU-1").await, (10, 0));
    let (s, _) = app.confirm(&rid).await;
    assert_eq!(s, 409, "a released reservation cannot be confirmed");
    app.stop().await;
}

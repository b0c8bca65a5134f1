//! The payment step and the red-team findings against it (`adversary_*`): a shopper places, only
//! the backend confirms or cancels, unpaid orders expire, and place / confirm / release of one
//! reservation never interleave (each interleaving is forced with a gate).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use edgestock_core::domain::{ReservationStatus, Sku};
use origin::fault::{FaultPoint, Gate};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{eventually, pool, Env, TestApp};

/// Runs `first` until it waits at `gate` (holding the reservation's lock), starts `second`, and
/// lets `first` go on 300 ms later: long enough for `second` to overtake it if nothing
/// serialised the two. Returns both answers.
async fn interleave<A: Future, B: Future>(
    gate: Arc<Gate>,
    first: A,
    second: B,
) -> (A::Output, B::Output) {
    tokio::join!(first, async {
        gate.reached().await;
        let opener = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            gate.open();
        };
        tokio::join!(second, opener).0
    })
}

#[sqlx::test(migrations = false)]
async fn place_then_confirm_is_the_only_way_to_a_paid_order(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 3).await;

    let (s, placed) = app.place(&rid).await;
    assert_eq!(s, 201, "{placed}");
    assert_eq!(placed["status"], "PENDING_PAYMENT");
    assert_eq!(
        placed["items"],
        json!([{"sku": "SKU-1", "qty": 3, "allocation": [{"location": "default", "qty": 3}]}])
    );
    assert!(
        placed.get("payment_ref").is_none(),
        "the shopper's view has no payment data"
    );
    let deadline_ms = placed["payment_deadline_ms"].as_i64().unwrap();
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    assert!(
        (now_ms + 890_000..now_ms + 910_000).contains(&deadline_ms),
        "deadline = now + PAYMENT_WINDOW_SECONDS (900 s): {deadline_ms} vs {now_ms}"
    );
    // Placing again answers the same order and deadline; no stock movement yet.
    let (s, again) = app.place(&rid).await;
    assert_eq!((s, &again), (200, &placed));
    assert_eq!(app.movement_kinds().await, ["initial"]);
    let rec = app.state.redis.reservation(&rid).await.unwrap().unwrap();
    assert_eq!(rec.status, ReservationStatus::Confirming);
    assert!(
        rec.expires_ms >= deadline_ms + 59_000,
        "Redis keeps the units until deadline + grace"
    );

    let (s, body) = app.release(&rid).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("order_placed")),
        "{body}"
    );
    assert_eq!(body["error"]["status"], "PENDING_PAYMENT");

    let (s, confirmed) = app.confirm_paid(&rid, "pay-1").await;
    assert_eq!(s, 201, "{confirmed}");
    assert_eq!(confirmed["order_id"], placed["order_id"]);
    assert_eq!(confirmed["status"], "CONFIRMED");
    assert_eq!(confirmed["payment_ref"], "pay-1");
    assert_eq!(
        (
            confirmed["late"].as_bool(),
            confirmed["commit_applied"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert_eq!(app.movement_kinds().await, ["initial", "sale"]);
    assert_eq!(app.redis_level("SKU-1").await, (7, 0));

    let (s, same) = app.confirm_paid(&rid, "pay-1").await;
    assert_eq!((s, &same), (200, &confirmed));
    let (s, body) = app.confirm_paid(&rid, "pay-2").await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("already_confirmed")),
        "{body}"
    );
    let (s, body) = app.release(&rid).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("order_confirmed")),
        "{body}"
    );
    let other = app.reserve("SKU-1", 1).await;
    let (s, body) = app.confirm_paid(&other, "pay-1").await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("payment_ref_in_use")),
        "{body}"
    );
    let rec = app.state.redis.reservation(&other).await.unwrap().unwrap();
    assert_eq!(
        rec.status,
        ReservationStatus::Held,
        "a refused confirm undoes its pin"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_placed_order_the_backend_cancels_gives_its_units_back_without_movements(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    let rid = app.reserve("SKU-1", 4).await;
    let (_, placed) = app.place(&rid).await;
    let (s, body) = app.cancel(&placed["order_id"], &json!({})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "CANCELLED");
    eventually(Duration::from_secs(5), "the hold released", || async {
        app.redis_level("SKU-1").await == (10, 0)
    })
    .await;
    assert_eq!(app.movement_kinds().await, ["initial"]);
    let (s, body) = app.confirm(&rid).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("illegal_transition")),
        "{body}"
    );
    assert_eq!(body["error"]["status"], "CANCELLED");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_unpaid_order_expires_and_a_late_payment_takes_what_is_there_or_gets_409(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let cfg = env.config(&[
        ("PAYMENT_WINDOW_SECONDS", "1"),
        ("CONFIRM_GRACE_SECONDS", "1"),
    ]);
    let app = TestApp::spawn(pool(opts, c).await, cfg).await;
    app.create_sku("SKU-1", 5).await;
    let (a, b) = (app.reserve("SKU-1", 2).await, app.reserve("SKU-1", 3).await);
    let (_, pa) = app.place(&a).await;
    let (_, pb) = app.place(&b).await;
    assert_eq!(pa["status"], "PENDING_PAYMENT");
    eventually(Duration::from_secs(10), "both orders expired", || async {
        app.order_status(&a).await == "EXPIRED" && app.order_status(&b).await == "EXPIRED"
    })
    .await;
    eventually(Duration::from_secs(5), "their holds released", || async {
        app.redis_level("SKU-1").await == (5, 0)
    })
    .await;
    // Someone else takes 2 units; a's late payment (2) still fits, b's (3) no longer does.
    let _other = app.reserve("SKU-1", 2).await;
    let (s, body) = app.confirm(&a).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["late"].as_bool()),
        (Some("CONFIRMED"), Some(true))
    );
    let (s, body) = app.confirm(&b).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_stock");
    assert_eq!(
        (
            body["error"]["sku"].as_str(),
            body["error"]["available"].as_i64()
        ),
        (Some("SKU-1"), Some(1))
    );
    assert_eq!(
        app.order_status(&b).await,
        "EXPIRED",
        "a refused late confirm changes nothing"
    );
    assert_eq!(app.movement_kinds().await, ["initial", "sale"]);
    assert_eq!(app.redis_level("SKU-1").await, (3, 2));
    let (s, body) = app.cancel(&pb["order_id"], &json!({"restock": true})).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("illegal_transition")),
        "{body}"
    );
    app.stop().await;
}

/// Finding 1 (critical): the origin pinned first and recorded second, and nothing undid the pin
/// when recording failed, so re-sending a body the origin refused kept a hold `confirming`
/// forever. Now everything is validated first, a failed record undoes the pin (after a definite
/// rollback), and a pin's deadline is fixed at its first pin.
#[sqlx::test(migrations = false)]
async fn adversary_a_refused_place_or_confirm_never_keeps_the_hold(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;
    // A SKU Redis knows but the catalogue does not: recording its order fails (foreign key).
    app.state
        .redis
        .seed(
            &Sku::parse("GHOST").unwrap(),
            &edgestock_core::domain::Location::default_location(),
            5,
            0,
        )
        .await
        .unwrap();
    let rid = app.reserve("GHOST", 1).await;
    let before = app.state.redis.reservation(&rid).await.unwrap().unwrap();
    for attempt in 0..3 {
        let (s, body) = app.place(&rid).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (404, Some("unknown_sku")),
            "{attempt}: {body}"
        );
        let (s, body) = app.confirm(&rid).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (404, Some("unknown_sku")),
            "{attempt}: {body}"
        );
        let now = app.state.redis.reservation(&rid).await.unwrap().unwrap();
        assert_eq!(
            now.status,
            ReservationStatus::Held,
            "{attempt}: the pin was undone"
        );
        assert_eq!(
            now.expires_ms, before.expires_ms,
            "{attempt}: the hold did not move"
        );
    }
    // A body refused by validation never pins at all.
    let (s, _) = app
        .post(
            "/v1/orders",
            crate::helpers::API_KEY,
            &json!({"reservation_id": rid, "payment_ref": "p", "customer_ref": "a\u{0}b"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        app.state
            .redis
            .reservation(&rid)
            .await
            .unwrap()
            .unwrap()
            .status,
        ReservationStatus::Held
    );
    // A place that dies after pinning leaves a pin whose deadline the next place keeps.
    let real = app.reserve("SKU-1", 2).await;
    app.state.faults.arm(FaultPoint::AfterPin);
    let (s, _) = app.place(&real).await;
    assert_eq!(s, 500);
    app.state.faults.disarm();
    let pinned = app.state.redis.reservation(&real).await.unwrap().unwrap();
    assert_eq!(pinned.status, ReservationStatus::Confirming);
    let (s, placed) = app.place(&real).await;
    assert_eq!(s, 201, "{placed}");
    let after = app.state.redis.reservation(&real).await.unwrap().unwrap();
    assert_eq!(
        after.expires_ms, pinned.expires_ms,
        "placing again never pushes the hold out"
    );
    let deadline = placed["payment_deadline_ms"].as_i64().unwrap();
    assert!(
        (after.expires_ms - 60_000 - deadline).abs() < 2_000,
        "deadline from the first pin"
    );
    app.stop().await;
}

/// Finding 2 (high): with no order yet, a cancel released even a `confirming` hold while the
/// confirm went on to write its order. Now place / confirm / release of one reservation hold
/// its lock: both interleavings are forced here with a gate.
#[sqlx::test(migrations = false)]
async fn adversary_release_racing_place_is_serialised_both_ways(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("SKU-1", 10).await;

    // 1. The place pins first; the release arrives while it records.
    let rid = app.reserve("SKU-1", 2).await;
    let gate = app.state.faults.gate(FaultPoint::AfterPin);
    let (place, release) = interleave(gate, app.place(&rid), app.release(&rid)).await;
    assert_eq!(place.0, 201, "{}", place.1);
    assert_eq!(
        (release.0, release.1["error"]["code"].as_str()),
        (409, Some("order_placed")),
        "{}",
        release.1
    );
    assert_eq!(app.order_status(&rid).await, "PENDING_PAYMENT");
    assert_eq!(
        app.redis_level("SKU-1").await,
        (10, 2),
        "the placed order's units stay held"
    );

    // 2. The release goes first; the place arrives while it runs.
    let rid = app.reserve("SKU-1", 3).await;
    let gate = app.state.faults.gate(FaultPoint::BeforeRelease);
    let (release, place) = interleave(gate, app.release(&rid), app.place(&rid)).await;
    assert_eq!(
        (release.0, release.1["status"].as_str()),
        (200, Some("released")),
        "{}",
        release.1
    );
    assert_eq!(
        (place.0, place.1["error"]["code"].as_str()),
        (409, Some("reservation_expired")),
        "{}",
        place.1
    );
    let orders: i64 = sqlx::query_scalar("select count(*) from orders where reservation_id = $1")
        .bind(&rid)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(orders, 0, "no order for a released reservation");
    assert_eq!(app.redis_level("SKU-1").await, (10, 2));

    // 3. A backend confirm of a held reservation racing the shopper's release.
    let rid = app.reserve("SKU-1", 1).await;
    let gate = app.state.faults.gate(FaultPoint::AfterPin);
    let (confirm, release) = interleave(gate, app.confirm(&rid), app.release(&rid)).await;
    assert_eq!(confirm.0, 201, "{}", confirm.1);
    assert_eq!(
        (release.0, release.1["error"]["code"].as_str()),
        (409, Some("order_confirmed")),
        "{}",
        release.1
    );
    // The commit is applied inline, or by the outbox worker if it took the row first.
    eventually(
        Duration::from_secs(10),
        "the confirmed unit sold",
        || async { app.redis_level("SKU-1").await == (9, 2) },
    )
    .await;
    app.stop().await;
}

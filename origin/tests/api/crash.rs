//! Crash safety: the origin "dies" (fault injection) after the pin or after the Postgres commit;
//! after a restart the outbox completes and no unit is lost or counted twice.

use std::time::Duration;

use origin::fault::FaultPoint;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{eventually, pool, Env, TestApp};

#[sqlx::test(migrations = false)]
async fn a_crash_after_the_pin_records_nothing_and_the_retry_confirms(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let db = pool(opts, c).await;
    let first = TestApp::spawn_with(db.clone(), env.config(&[]), |s| {
        s.faults.arm(FaultPoint::AfterPin)
    })
    .await;
    first.create_sku("SKU-1", 10).await;
    let rid = first.reserve("SKU-1", 3).await;

    let (status, _) = first.confirm(&rid).await;
    assert_eq!(status, 500, "the process dies after the pin");
    first.stop().await;
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(orders, 0);

    let second = TestApp::spawn(db.clone(), env.config(&[])).await;
    let (status, body) = second.confirm(&rid).await;
    assert_eq!(
        status, 201,
        "the checkout retries against the restarted origin: {body}"
    );
    assert_eq!(body["status"], "CONFIRMED");
    assert_eq!(second.ledger_on_hand("SKU-1").await, 7);
    assert_eq!(second.redis_level("SKU-1").await, (7, 0));
    second.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_crash_after_the_postgres_commit_is_finished_by_the_outbox(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let db = pool(opts, c).await;
    let first = TestApp::spawn_with(db.clone(), env.config(&[]), |s| {
        s.faults.arm(FaultPoint::AfterPgCommit)
    })
    .await;
    first.create_sku("SKU-1", 10).await;
    let r1 = first.reserve("SKU-1", 3).await;
    let r2 = first.reserve("SKU-1", 2).await;
    // Stop the first instance's own worker from finishing the rows: it dies right after.
    let (s1, _) = first.confirm(&r1).await;
    let (s2, _) = first.confirm(&r2).await;
    assert_eq!((s1, s2), (500, 500));
    // The orders are recorded, so the ledger counts them; Redis still holds them as reserved
    // unless the first instance's worker got there before it stopped (both are fine).
    assert_eq!(first.ledger_on_hand("SKU-1").await, 5);
    first.stop().await;

    let second = TestApp::spawn(db.clone(), env.config(&[])).await;
    let db2 = db.clone();
    eventually(
        Duration::from_secs(15),
        "outbox drained and orders confirmed",
        || {
            let db = db2.clone();
            async move {
                let pending: i64 =
                    sqlx::query_scalar("select count(*) from outbox where done_at is null")
                        .fetch_one(&db)
                        .await
                        .unwrap();
                let confirmed: i64 =
                    sqlx::query_scalar("select count(*) from orders where status = 'CONFIRMED'")
                        .fetch_one(&db)
                        .await
                        .unwrap();
                pending == 0 && confirmed == 2
            }
        },
    )
    .await;
    assert_eq!(
        second.redis_level("SKU-1").await,
        (5, 0),
        "sold once, nothing left reserved"
    );
    assert_eq!(second.ledger_on_hand("SKU-1").await, 5);
    // A retry of the confirm now returns the recorded order; nothing is counted twice.
    let (s, body) = second.confirm(&r1).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "CONFIRMED");
    assert_eq!(second.redis_level("SKU-1").await, (5, 0));
    let (_, report) = second
        .get("/v1/admin/reconcile", crate::helpers::ADMIN_KEY)
        .await;
    assert_eq!(report["drifting"], 0, "{report}");
    second.stop().await;
}

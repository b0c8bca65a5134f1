//! The migration to locations on a database with data: everything lands at `default`, and the
//! per-location levels equal the SKU levels.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::helpers::pool;

/// Runs one migration file as the migrator would (one transaction).
async fn apply(db: &PgPool, name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(name);
    let sql = std::fs::read_to_string(&path).expect("migration file");
    let mut tx = db.begin().await.unwrap();
    sqlx::raw_sql(&sql)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    tx.commit().await.unwrap();
}

const BEFORE: [&str; 4] = [
    "20250101000001_ledger.sql",
    "20261201000001_payment_step.sql",
    "20261201000002_require_customer.sql",
    "20261201000003_webhooks.sql",
];

/// SKUs, movements (applied, pending, not applied) and orders as they were before locations.
const DATA: &str = r#"
insert into skus (sku, name, low_stock_threshold) values ('OLD-A', 'A', 1), ('OLD-B', 'B', 0), ('OLD-C', 'C', 0);
insert into outbox (id, kind, payload, done_at, outcome) values
    (1, 'adjust', '{"sku": "OLD-A", "delta": 10, "movement_id": "initial:OLD-A", "low": 1, "create": true}', now(), 'applied'),
    (2, 'adjust', '{"sku": "OLD-B", "delta": 4, "movement_id": "initial:OLD-B", "low": 0, "create": true}', now(), 'applied'),
    (3, 'commit', '{"order_id": "00000000-0000-7000-8000-000000000001", "reservation_id": "r1", "items": [{"sku": "OLD-A", "qty": 2}, {"sku": "OLD-B", "qty": 1}]}', now(), 'applied'),
    (4, 'commit', '{"order_id": "00000000-0000-7000-8000-000000000002", "reservation_id": "r2", "items": [{"sku": "OLD-A", "qty": 3}]}', null, null),
    (5, 'adjust', '{"sku": "OLD-B", "delta": 6, "movement_id": "po-1", "low": null}', null, null);
select setval('outbox_id_seq', 5);
insert into orders (id, reservation_id, status, commit_outbox_id, commit_applied, payment_ref) values
    ('00000000-0000-7000-8000-000000000001', 'r1', 'CONFIRMED', 3, true, 'p1'),
    ('00000000-0000-7000-8000-000000000002', 'r2', 'CONFIRMED', 4, false, 'p2');
insert into orders (id, reservation_id, status, payment_deadline) values
    ('00000000-0000-7000-8000-000000000003', 'r3', 'PENDING_PAYMENT', now() + interval '1 hour');
insert into order_items (order_id, line, sku, qty) values
    ('00000000-0000-7000-8000-000000000001', 1, 'OLD-A', 2),
    ('00000000-0000-7000-8000-000000000001', 2, 'OLD-B', 1),
    ('00000000-0000-7000-8000-000000000002', 1, 'OLD-A', 3),
    ('00000000-0000-7000-8000-000000000003', 1, 'OLD-B', 2);
insert into stock_movements (movement_id, sku, kind, qty, outbox_id, order_id) values
    ('initial:OLD-A', 'OLD-A', 'initial', 10, 1, null),
    ('initial:OLD-B', 'OLD-B', 'initial', 4, 2, null),
    ('sale:1:1', 'OLD-A', 'sale', -2, 3, '00000000-0000-7000-8000-000000000001'),
    ('sale:1:2', 'OLD-B', 'sale', -1, 3, '00000000-0000-7000-8000-000000000001'),
    ('sale:2:1', 'OLD-A', 'sale', -3, 4, '00000000-0000-7000-8000-000000000002'),
    ('po-1', 'OLD-B', 'restock', 6, 5, null);
"#;

#[sqlx::test(migrations = false)]
async fn existing_data_lands_at_default_and_its_levels_are_unchanged(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let db = pool(opts, c).await;
    for name in BEFORE {
        apply(&db, name).await;
    }
    sqlx::raw_sql(DATA).execute(&db).await.unwrap();
    type Levels = Vec<(String, i64, i64, i64)>;
    let before: Levels = sqlx::query_as(
        "select sku, on_hand, redis_on_hand, pending_movements from sku_levels order by sku",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(before[0], ("OLD-A".into(), 5, 8, 1));

    apply(&db, "20261201000004_locations.sql").await;

    let locations: Vec<String> = sqlx::query_scalar("select code from locations")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(locations, ["default"]);
    let elsewhere: i64 = sqlx::query_scalar(
        "select (select count(*) from stock_movements where location <> 'default')
              + (select count(*) from order_items where location <> 'default')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(elsewhere, 0);
    let after: Levels = sqlx::query_as(
        "select sku, on_hand, redis_on_hand, pending_movements from sku_levels order by sku",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(after, before);
    let per_location: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "select sku, location, on_hand, redis_on_hand, pending_movements from location_levels order by sku, location",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let expected: Vec<_> = before
        .iter()
        .map(|(sku, a, b, p)| (sku.clone(), "default".to_owned(), *a, *b, *p))
        .collect();
    assert_eq!(per_location, expected);
    // The ledger is still append-only, and new movements may name the new kind.
    let update = sqlx::query("update stock_movements set qty = 0 where movement_id = 'po-1'")
        .execute(&db)
        .await;
    assert!(update.is_err());
    sqlx::query(
        "insert into stock_movements (movement_id, sku, kind, qty) values ('t:from', 'OLD-A', 'transfer', -1)",
    )
    .execute(&db)
    .await
    .unwrap();
    // An old order still raises one event per SKU when its status changes.
    sqlx::query("update orders set status = 'CANCELLED' where reservation_id = 'r1'")
        .execute(&db)
        .await
        .unwrap();
    let events: Vec<(String, String, i64)> = sqlx::query_as(
        "select kind, sku, qty from stock_events where reservation_id = 'r1' and kind = 'order_cancelled' order by id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        events,
        [
            ("order_cancelled".into(), "OLD-A".into(), 2),
            ("order_cancelled".into(), "OLD-B".into(), 1)
        ]
    );
}

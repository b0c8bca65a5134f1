//! Orders and their items: the rows the confirm protocol inserts and the view the API returns.

use serde::Serialize;
use sqlx::{PgExecutor, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

/// `order_status` in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "order_status", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Recorded; its Redis commit is not applied yet (outbox pending).
    Pending,
    /// Recorded and applied in Redis.
    Confirmed,
    /// Cancelled; its units went back through the ledger.
    Cancelled,
    /// A late commit found no units: an operator must decide (never silently oversold).
    NeedsAttention,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderItem {
    /// The SKU.
    pub sku: String,
    /// Units.
    pub qty: i32,
}

/// An order as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// Order id.
    pub order_id: Uuid,
    /// The reservation it confirmed.
    pub reservation_id: String,
    /// Status.
    pub status: OrderStatus,
    /// Caller's customer reference.
    pub customer_ref: Option<String>,
    /// Caller's payment reference.
    pub payment_ref: Option<String>,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The Idempotency-Key it was created with.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    /// The outbox row applying its commit.
    #[serde(skip)]
    pub commit_outbox_id: i64,
}

struct OrderRow {
    id: Uuid,
    reservation_id: String,
    status: OrderStatus,
    customer_ref: Option<String>,
    payment_ref: Option<String>,
    idempotency_key: Option<String>,
    commit_outbox_id: i64,
    created_at: OffsetDateTime,
}

impl OrderRow {
    fn with_items(self, items: Vec<OrderItem>) -> Order {
        Order {
            order_id: self.id,
            reservation_id: self.reservation_id,
            status: self.status,
            customer_ref: self.customer_ref,
            payment_ref: self.payment_ref,
            items,
            created_at: self.created_at,
            idempotency_key: self.idempotency_key,
            commit_outbox_id: self.commit_outbox_id,
        }
    }
}

/// Items of an order, in line order.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn items(db: impl PgExecutor<'_>, order_id: Uuid) -> sqlx::Result<Vec<OrderItem>> {
    sqlx::query_as!(
        OrderItem,
        r#"select sku, qty from order_items where order_id = $1 order by line"#,
        order_id
    )
    .fetch_all(db)
    .await
}

/// The order with id `id`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn by_id(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Option<Order>> {
    let row = sqlx::query_as!(
        OrderRow,
        r#"select id, reservation_id, status as "status: OrderStatus", customer_ref, payment_ref,
                  idempotency_key, commit_outbox_id, created_at
           from orders where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?;
    match row {
        Some(r) => Ok(Some(r.with_items(items(db, id).await?))),
        None => Ok(None),
    }
}

/// The order confirming reservation `reservation_id`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn by_reservation(
    db: &sqlx::PgPool,
    reservation_id: &str,
) -> sqlx::Result<Option<Order>> {
    let row = sqlx::query_as!(
        OrderRow,
        r#"select id, reservation_id, status as "status: OrderStatus", customer_ref, payment_ref,
                  idempotency_key, commit_outbox_id, created_at
           from orders where reservation_id = $1"#,
        reservation_id
    )
    .fetch_optional(db)
    .await?;
    match row {
        Some(r) => {
            let id = r.id;
            Ok(Some(r.with_items(items(db, id).await?)))
        }
        None => Ok(None),
    }
}

/// A new order to record.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    /// Order id (UUID v7: time-ordered).
    pub id: Uuid,
    /// The pinned reservation.
    pub reservation_id: &'a str,
    /// Caller's customer reference.
    pub customer_ref: Option<&'a str>,
    /// Caller's payment reference.
    pub payment_ref: Option<&'a str>,
    /// Idempotency-Key header.
    pub idempotency_key: Option<&'a str>,
    /// The outbox row that will apply its commit.
    pub commit_outbox_id: i64,
}

/// Inserts the order unless one exists for the reservation; true when inserted.
///
/// # Errors
/// Database failures, including a reused idempotency key (`orders_idempotency_key_key`).
#[tracing::instrument(skip_all)]
pub async fn insert(tx: &mut Transaction<'_, Postgres>, o: &NewOrder<'_>) -> sqlx::Result<bool> {
    let inserted = sqlx::query_scalar!(
        r#"insert into orders (id, reservation_id, status, customer_ref, payment_ref,
                               idempotency_key, commit_outbox_id)
           values ($1, $2, 'PENDING', $3, $4, $5, $6)
           on conflict (reservation_id) do nothing
           returning id"#,
        o.id,
        o.reservation_id,
        o.customer_ref,
        o.payment_ref,
        o.idempotency_key,
        o.commit_outbox_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.is_some())
}

/// Inserts the order's lines.
///
/// # Errors
/// Database failures (an unknown SKU violates `order_items_sku_fkey`).
#[tracing::instrument(skip_all)]
pub async fn insert_items(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    items: &[OrderItem],
) -> sqlx::Result<()> {
    let lines: Vec<i32> = (1..=items.len() as i32).collect();
    let skus: Vec<String> = items.iter().map(|i| i.sku.clone()).collect();
    let qtys: Vec<i32> = items.iter().map(|i| i.qty).collect();
    sqlx::query!(
        r#"insert into order_items (order_id, line, sku, qty)
           select $1, * from unnest($2::int4[], $3::text[], $4::int4[])"#,
        order_id,
        &lines,
        &skus,
        &qtys
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

//! Orders and their items: the rows the confirm protocol inserts and the view the API returns.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lifecycle::OrderStatus;

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    /// The SKU.
    pub sku: String,
    /// Units.
    pub qty: i32,
}

/// An order as Postgres records it (`http/` turns it into the wire `edgestock_api::origin::Order`).
#[derive(Debug, Clone)]
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
    pub created_at: OffsetDateTime,
    /// The Idempotency-Key it was created with.
    pub idempotency_key: Option<String>,
    /// The outbox row applying its commit.
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

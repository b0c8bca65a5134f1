//! Orders and their items: the rows the lifecycle writes and the view the API returns.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lifecycle::OrderStatus;

/// One allocated part of an order: units of a SKU at one location (a SKU split over
/// locations has several, in allocation order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    /// The SKU.
    pub sku: String,
    /// Units.
    pub qty: i32,
    /// Where they are taken from.
    pub location: String,
}

/// The order parts of a reservation's allocated items.
pub fn lines_of(items: &[edgestock_core::scripts::Item]) -> Vec<OrderItem> {
    items
        .iter()
        .map(|i| OrderItem {
            sku: i.sku.as_str().to_owned(),
            qty: i32::try_from(i.qty).unwrap_or(i32::MAX),
            location: i.location.as_str().to_owned(),
        })
        .collect()
}

/// The reservation items of stored order lines (for the Redis scripts).
///
/// # Errors
/// A stored line that is not a valid item (never written by this code).
pub fn items_of(lines: &[OrderItem]) -> anyhow::Result<Vec<edgestock_core::scripts::Item>> {
    lines
        .iter()
        .map(|l| {
            Ok(edgestock_core::scripts::Item {
                sku: edgestock_core::domain::Sku::parse(&l.sku)
                    .map_err(|e| anyhow::anyhow!("stored sku: {e}"))?,
                qty: u32::try_from(l.qty).map_err(|e| anyhow::anyhow!("stored qty: {e}"))?,
                location: edgestock_core::domain::Location::parse(&l.location)
                    .map_err(|e| anyhow::anyhow!("stored location: {e}"))?,
            })
        })
        .collect()
}

/// An order as Postgres records it (`http/` turns it into the wire `edgestock_api::origin::Order`).
#[derive(Debug, Clone)]
pub struct Order {
    /// Order id.
    pub order_id: Uuid,
    /// The reservation it was placed or confirmed from.
    pub reservation_id: String,
    /// Status.
    pub status: OrderStatus,
    /// The backend's customer reference (given at confirm).
    pub customer_ref: Option<String>,
    /// The backend's payment reference (given at confirm).
    pub payment_ref: Option<String>,
    /// Allocated parts, in line order.
    pub items: Vec<OrderItem>,
    /// Creation time (placed, or confirmed straight from a hold).
    pub created_at: OffsetDateTime,
    /// The payment deadline fixed when the order was placed.
    pub payment_deadline: Option<OffsetDateTime>,
    /// When the backend confirmed it.
    pub confirmed_at: Option<OffsetDateTime>,
    /// Confirmed after its payment deadline.
    pub late: bool,
    /// Redis took the order's commit.
    pub commit_applied: bool,
    /// The outbox row applying its commit (set at confirm).
    pub commit_outbox_id: Option<i64>,
}

struct OrderRow {
    id: Uuid,
    reservation_id: String,
    status: OrderStatus,
    customer_ref: Option<String>,
    payment_ref: Option<String>,
    created_at: OffsetDateTime,
    payment_deadline: Option<OffsetDateTime>,
    confirmed_at: Option<OffsetDateTime>,
    late: bool,
    commit_applied: bool,
    commit_outbox_id: Option<i64>,
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
            payment_deadline: self.payment_deadline,
            confirmed_at: self.confirmed_at,
            late: self.late,
            commit_applied: self.commit_applied,
            commit_outbox_id: self.commit_outbox_id,
        }
    }
}

/// Parts of an order, in line order.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn items(db: impl PgExecutor<'_>, order_id: Uuid) -> sqlx::Result<Vec<OrderItem>> {
    sqlx::query_as!(
        OrderItem,
        r#"select sku, qty, location from order_items where order_id = $1 order by line"#,
        order_id
    )
    .fetch_all(db)
    .await
}

async fn row_by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"select id, reservation_id, status as "status: OrderStatus", customer_ref, payment_ref,
                  created_at, payment_deadline, confirmed_at, late, commit_applied, commit_outbox_id
           from orders where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

async fn row_by_reservation(
    db: impl PgExecutor<'_>,
    reservation_id: &str,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"select id, reservation_id, status as "status: OrderStatus", customer_ref, payment_ref,
                  created_at, payment_deadline, confirmed_at, late, commit_applied, commit_outbox_id
           from orders where reservation_id = $1"#,
        reservation_id
    )
    .fetch_optional(db)
    .await
}

/// The order with id `id`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn by_id(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Option<Order>> {
    match row_by_id(db, id).await? {
        Some(r) => Ok(Some(r.with_items(items(db, id).await?))),
        None => Ok(None),
    }
}

/// The order of reservation `reservation_id`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn by_reservation(
    db: &sqlx::PgPool,
    reservation_id: &str,
) -> sqlx::Result<Option<Order>> {
    match row_by_reservation(db, reservation_id).await? {
        Some(r) => {
            let id = r.id;
            Ok(Some(r.with_items(items(db, id).await?)))
        }
        None => Ok(None),
    }
}

/// [`by_reservation`] inside a transaction (under the reservation's lock).
///
/// # Errors
/// Database failures.
pub async fn by_reservation_in(
    tx: &mut sqlx::PgConnection,
    reservation_id: &str,
) -> sqlx::Result<Option<Order>> {
    match row_by_reservation(&mut *tx, reservation_id).await? {
        Some(r) => {
            let id = r.id;
            Ok(Some(r.with_items(items(&mut *tx, id).await?)))
        }
        None => Ok(None),
    }
}

/// [`by_id`] inside a transaction.
///
/// # Errors
/// Database failures.
pub async fn by_id_in(tx: &mut sqlx::PgConnection, id: Uuid) -> sqlx::Result<Option<Order>> {
    match row_by_id(&mut *tx, id).await? {
        Some(r) => Ok(Some(r.with_items(items(&mut *tx, id).await?))),
        None => Ok(None),
    }
}

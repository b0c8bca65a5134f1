//! The append-only stock ledger (`stock_movements`) and SKUs. On-hand is the sum of a SKU's
//! movements; nothing here updates or deletes a movement.

use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// `movement_kind` in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "movement_kind", rename_all = "lowercase")]
pub enum MovementKind {
    /// First stock of a new SKU.
    Initial,
    /// Goods received.
    Restock,
    /// Customer return.
    Return,
    /// Correction (count, shrinkage), either sign.
    Adjustment,
    /// Units sold by an order (negative).
    Sale,
    /// Units given back by a cancelled order (positive).
    Cancellation,
    /// Units moved between locations: one movement out of one location, one into the other.
    Transfer,
}

impl MovementKind {
    /// The Postgres label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Restock => "restock",
            Self::Return => "return",
            Self::Adjustment => "adjustment",
            Self::Sale => "sale",
            Self::Cancellation => "cancellation",
            Self::Transfer => "transfer",
        }
    }
}

/// A movement to append.
#[derive(Debug, Clone)]
pub struct NewMovement<'a> {
    /// Idempotency id (unique).
    pub movement_id: &'a str,
    /// The SKU.
    pub sku: &'a str,
    /// The location whose stock moves.
    pub location: &'a str,
    /// Kind.
    pub kind: MovementKind,
    /// Signed units.
    pub qty: i32,
    /// Free text.
    pub reason: Option<&'a str>,
    /// The order, for sale and cancellation.
    pub order_id: Option<Uuid>,
    /// The outbox row bringing it to Redis.
    pub outbox_id: Option<i64>,
}

/// Appends a movement unless its `movement_id` exists; true when appended.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(movement_id = %m.movement_id))]
pub async fn append(tx: &mut Transaction<'_, Postgres>, m: &NewMovement<'_>) -> sqlx::Result<bool> {
    let id = sqlx::query_scalar!(
        r#"insert into stock_movements (movement_id, sku, kind, qty, reason, order_id, outbox_id, location)
           values ($1, $2, $3::text::movement_kind, $4, $5, $6, $7, $8)
           on conflict (movement_id) do nothing
           returning id"#,
        m.movement_id,
        m.sku,
        m.kind.as_str(),
        m.qty,
        m.reason,
        m.order_id,
        m.outbox_id,
        m.location
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(id.is_some())
}

/// An existing movement, as stored.
#[derive(Debug, Clone)]
pub struct Movement {
    /// Idempotency id.
    pub movement_id: String,
    /// The SKU.
    pub sku: String,
    /// The location.
    pub location: String,
    /// Kind.
    pub kind: MovementKind,
    /// Signed units.
    pub qty: i32,
    /// Free text.
    pub reason: Option<String>,
    /// The outbox row bringing it to Redis.
    pub outbox_id: Option<i64>,
}

/// The movement with `movement_id`.
///
/// # Errors
/// Database failures.
pub async fn find(db: impl PgExecutor<'_>, movement_id: &str) -> sqlx::Result<Option<Movement>> {
    sqlx::query_as!(
        Movement,
        r#"select movement_id, sku, location, kind as "kind: MovementKind", qty, reason, outbox_id
           from stock_movements where movement_id = $1"#,
        movement_id
    )
    .fetch_optional(db)
    .await
}

/// A SKU with its ledger totals.
#[derive(Debug, Clone)]
pub struct SkuLevel {
    /// The SKU.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Low-stock threshold.
    pub low_stock_threshold: i32,
    /// Sum of all movements.
    pub on_hand: i64,
    /// Sum of the movements Redis already reflects (what seeding loads).
    pub redis_on_hand: i64,
    /// Movements whose outbox row is still pending.
    pub pending_movements: i64,
}

/// Levels of every SKU (or one).
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn levels(db: impl PgExecutor<'_>, sku: Option<&str>) -> sqlx::Result<Vec<SkuLevel>> {
    sqlx::query_as!(
        SkuLevel,
        r#"select sku as "sku!", name as "name!", low_stock_threshold as "low_stock_threshold!",
                  on_hand as "on_hand!", redis_on_hand as "redis_on_hand!",
                  pending_movements as "pending_movements!"
           from sku_levels where $1::text is null or sku = $1 order by sku"#,
        sku
    )
    .fetch_all(db)
    .await
}

/// One (SKU, location)'s ledger totals (the view `location_levels`).
#[derive(Debug, Clone)]
pub struct LocationLevel {
    /// The SKU.
    pub sku: String,
    /// The location.
    pub location: String,
    /// Sum of its movements there.
    pub on_hand: i64,
    /// Sum of those Redis already reflects (what seeding loads there).
    pub redis_on_hand: i64,
    /// Its movements there whose outbox row is still pending.
    pub pending_movements: i64,
}

/// Levels per location of one SKU: `default` always, any other location once a movement names
/// it; `default` first, then by code.
///
/// # Errors
/// Database failures.
pub async fn location_levels(
    db: impl PgExecutor<'_>,
    sku: &str,
) -> sqlx::Result<Vec<LocationLevel>> {
    sqlx::query_as!(
        LocationLevel,
        r#"select sku as "sku!", location as "location!", on_hand as "on_hand!",
                  redis_on_hand as "redis_on_hand!", pending_movements as "pending_movements!"
           from location_levels where sku = $1
           order by location <> 'default', location collate "C""#,
        sku
    )
    .fetch_all(db)
    .await
}

/// Ledger on-hand of `sku` at `location`.
///
/// # Errors
/// Database failures.
pub async fn on_hand_at(db: impl PgExecutor<'_>, sku: &str, location: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(qty), 0)::int8 as "n!" from stock_movements
           where sku = $1 and location = $2"#,
        sku,
        location
    )
    .fetch_one(db)
    .await
}

/// Takes the per-SKU advisory lock: shared by outbox applies, exclusive by seed and reconcile,
/// so a seed never reads the ledger while an apply has changed Redis but not yet marked its row.
///
/// # Errors
/// Database failures.
pub async fn lock_sku(
    tx: &mut Transaction<'_, Postgres>,
    sku: &str,
    exclusive: bool,
) -> sqlx::Result<()> {
    let key = format!("edgestock-sku:{sku}");
    if exclusive {
        sqlx::query!("select pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query!(
            "select pg_advisory_xact_lock_shared(hashtextextended($1, 0))",
            key
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

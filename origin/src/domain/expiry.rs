//! Expiry (the lifecycle, step 5): a placed order not paid by its deadline (plus the grace that
//! covers the clock difference with Redis) becomes `EXPIRED` under the reservation's lock, and its
//! hold is released through the outbox, with no movement. A payment that still arrives is a late
//! confirm.

use uuid::Uuid;

use super::error::Result;
use super::lifecycle;
use super::orders;
use super::outbox::{self, Effect, OrderPayload, PayloadItem};
use crate::state::AppState;

/// Expires up to `limit` placed orders past their deadline plus grace; returns how many.
///
/// # Errors
/// Database failures.
pub async fn expire_due(state: &AppState, limit: i64) -> Result<usize> {
    let grace = state.config.confirm_grace.as_secs_f64();
    let due = sqlx::query!(
        r#"select id, reservation_id from orders
           where status = 'PENDING_PAYMENT' and payment_deadline + make_interval(secs => $1) < now()
           order by payment_deadline limit $2"#,
        grace,
        limit
    )
    .fetch_all(&state.db)
    .await?;
    let mut n = 0;
    for row in due {
        if expire_one(state, row.id, &row.reservation_id).await? {
            n += 1;
        }
    }
    Ok(n)
}

async fn expire_one(state: &AppState, id: Uuid, reservation_id: &str) -> Result<bool> {
    let mut tx = state.db.begin().await?;
    lifecycle::lock_reservation(&mut tx, reservation_id).await?;
    if !lifecycle::expire_if_due(&mut tx, id, state.config.confirm_grace.as_secs_f64()).await? {
        // Confirmed or cancelled meanwhile: nothing to do.
        tx.rollback().await?;
        return Ok(false);
    }
    let items = orders::items(&mut *tx, id).await?;
    let payload = OrderPayload {
        order_id: id,
        reservation_id: reservation_id.to_owned(),
        items: items
            .into_iter()
            .map(|i| PayloadItem {
                sku: i.sku,
                qty: i.qty,
                location: i.location,
                movement_id: None,
            })
            .collect(),
    };
    let row = outbox::insert(
        &mut tx,
        &Effect::Release(payload),
        std::time::Duration::ZERO,
    )
    .await?;
    tx.commit().await?;
    state.metrics.order("expired");
    if let Err(e) = outbox::apply_one(state, row).await {
        tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
    }
    Ok(true)
}

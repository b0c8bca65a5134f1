//! Admin API (docs/api.md#origin-api): SKUs, adjustments, seeding and reconcile. Needs `ADMIN_API_KEY`.
//!
//! Stock changes are ledger movements plus an `adjust` outbox row in one transaction, applied
//! to Redis right away when it is reachable and by the outbox worker otherwise.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use edgestock_api::origin::{
    self as api, Adjustment, CreateAdjustment, PutSku, Reconcile, RedisApply, SeedResult, SkuView,
};
use edgestock_api::ErrorCode;
use edgestock_core::domain::Sku;
use serde::Deserialize;
use uuid::Uuid;

use super::error::{Error, Result};
use super::orders::parse_json;
use crate::ledger::{self, MovementKind, NewMovement};
use crate::outbox::{self, AdjustPayload, Attempt, OutboxKind};
use crate::seed;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/skus/{sku}", put(put_sku))
        .route("/v1/admin/skus/{sku}/adjustments", post(create_adjustment))
        .route("/v1/admin/seed", post(seed_redis))
        .route("/v1/admin/reconcile", get(reconcile))
}

const MAX_UNITS: i64 = 1_000_000_000;

fn parse_sku(s: &str) -> Result<Sku> {
    Sku::parse(s).map_err(|e| Error::unprocessable(ErrorCode::InvalidSku, e.to_string()))
}

/// `applied` when Redis took the change now, `pending` when the outbox worker will.
async fn apply_now(state: &AppState, outbox_id: Option<i64>) -> RedisApply {
    let Some(id) = outbox_id else {
        return RedisApply::Applied;
    };
    match outbox::apply_one(state, id).await {
        Ok(Attempt::Done(_)) => RedisApply::Applied,
        Ok(_) => RedisApply::Pending,
        Err(e) => {
            tracing::warn!(error = %e, "inline outbox apply failed; the worker will retry");
            RedisApply::Pending
        }
    }
}

/// The wire name of a movement kind.
fn wire_kind(k: MovementKind) -> api::MovementKind {
    match k {
        MovementKind::Initial => api::MovementKind::Initial,
        MovementKind::Restock => api::MovementKind::Restock,
        MovementKind::Return => api::MovementKind::Return,
        MovementKind::Adjustment => api::MovementKind::Adjustment,
        MovementKind::Sale => api::MovementKind::Sale,
        MovementKind::Cancellation => api::MovementKind::Cancellation,
    }
}

/// Creates or updates a SKU; `on_hand` becomes a ledger movement for the difference.
async fn put_sku(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let sku = parse_sku(&sku)?;
    let req: PutSku = parse_json(&body)?;
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "name must be 1..=200 bytes",
        ));
    }
    if !(0..=MAX_UNITS).contains(&req.on_hand)
        || !(0..=MAX_UNITS).contains(&req.low_stock_threshold)
    {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "on_hand and low_stock_threshold must be in 0..=1e9",
        ));
    }
    let mut tx = state.db.begin().await?;
    ledger::lock_sku(&mut tx, sku.as_str(), true).await?;
    let before = sqlx::query!(
        r#"select low_stock_threshold, coalesce((select sum(qty) from stock_movements m where m.sku = s.sku), 0)::int8 as "on_hand!"
           from skus s where sku = $1"#,
        sku.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into skus (sku, name, low_stock_threshold) values ($1, $2, $3)
           on conflict (sku) do update set name = excluded.name,
               low_stock_threshold = excluded.low_stock_threshold, updated_at = now()"#,
        sku.as_str(),
        req.name,
        req.low_stock_threshold as i32
    )
    .execute(&mut *tx)
    .await?;
    let created = before.is_none();
    let delta = req.on_hand - before.as_ref().map_or(0, |b| b.on_hand);
    let low_changed = before
        .as_ref()
        .is_none_or(|b| i64::from(b.low_stock_threshold) != req.low_stock_threshold);
    let movement_id = (created || delta != 0).then(|| {
        if created {
            format!("initial:{sku}")
        } else {
            format!("put:{sku}:{}", Uuid::now_v7())
        }
    });
    let mut outbox_id = None;
    if movement_id.is_some() || low_changed {
        let payload = serde_json::to_value(AdjustPayload {
            sku: sku.to_string(),
            delta,
            movement_id: movement_id.clone(),
            low: low_changed.then_some(req.low_stock_threshold),
            create: created,
        })
        .map_err(anyhow::Error::from)?;
        outbox_id = Some(
            outbox::insert(
                &mut tx,
                OutboxKind::Adjust,
                &payload,
                state.config.outbox_grace,
            )
            .await?,
        );
    }
    if let Some(mid) = &movement_id {
        ledger::append(
            &mut tx,
            &NewMovement {
                movement_id: mid,
                sku: sku.as_str(),
                kind: if created {
                    MovementKind::Initial
                } else {
                    MovementKind::Adjustment
                },
                qty: i32::try_from(delta).map_err(|_| {
                    Error::unprocessable(ErrorCode::InvalidBody, "change too large")
                })?,
                reason: Some(if created {
                    "initial stock"
                } else {
                    "on_hand set by admin"
                }),
                order_id: None,
                outbox_id,
            },
        )
        .await?;
    }
    tx.commit().await?;
    let redis = apply_now(&state, outbox_id).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = SkuView {
        sku: sku.to_string(),
        name: req.name,
        on_hand: req.on_hand,
        low_stock_threshold: req.low_stock_threshold,
        movement_id,
        redis,
    };
    Ok((status, Json(view)).into_response())
}

fn kind_for(reason: &str, delta: i64) -> MovementKind {
    match reason {
        "restock" if delta > 0 => MovementKind::Restock,
        "return" if delta > 0 => MovementKind::Return,
        _ => MovementKind::Adjustment,
    }
}

/// Appends a restock, return or correction; idempotent by `movement_id` (201, then 200).
async fn create_adjustment(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let sku = parse_sku(&sku)?;
    let req: CreateAdjustment = parse_json(&body)?;
    if req.delta == 0 || req.delta.abs() > MAX_UNITS {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "delta must be non-zero and at most 1e9 in size",
        ));
    }
    let mid_ok = !req.movement_id.is_empty()
        && req.movement_id.len() <= 128
        && req
            .movement_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !mid_ok || req.reason.len() > 200 {
        return Err(Error::unprocessable(
            ErrorCode::InvalidBody,
            "movement_id must match [A-Za-z0-9._:-]{1,128}; reason at most 200 bytes",
        ));
    }
    let kind = kind_for(&req.reason, req.delta);
    let respond = |status, replay: bool, redis: RedisApply| {
        let body = Adjustment {
            sku: sku.to_string(),
            movement_id: req.movement_id.clone(),
            delta: req.delta,
            kind: wire_kind(kind),
            reason: req.reason.clone(),
            replay,
            redis,
        };
        (status, Json(body)).into_response()
    };
    if let Some(m) = ledger::find(&state.db, &req.movement_id).await? {
        if m.sku != sku.as_str() || i64::from(m.qty) != req.delta {
            return Err(Error::unprocessable(
                ErrorCode::MovementIdReused,
                "movement_id was used for another change",
            ));
        }
        return Ok(respond(StatusCode::OK, true, RedisApply::SeeReconcile));
    }
    let mut tx = state.db.begin().await?;
    let exists = sqlx::query_scalar!(
        "select 1 as one from skus where sku = $1 for share",
        sku.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?;
    if exists.is_none() {
        return Err(Error::NotFound("unknown sku"));
    }
    let payload = serde_json::to_value(AdjustPayload {
        sku: sku.to_string(),
        delta: req.delta,
        movement_id: Some(req.movement_id.clone()),
        low: None,
        create: false,
    })
    .map_err(anyhow::Error::from)?;
    let outbox_id = outbox::insert(
        &mut tx,
        OutboxKind::Adjust,
        &payload,
        state.config.outbox_grace,
    )
    .await?;
    let appended = ledger::append(
        &mut tx,
        &NewMovement {
            movement_id: &req.movement_id,
            sku: sku.as_str(),
            kind,
            qty: req.delta as i32,
            reason: Some(&req.reason),
            order_id: None,
            outbox_id: Some(outbox_id),
        },
    )
    .await?;
    if !appended {
        // A concurrent retry won the race: answer like a replay.
        tx.rollback().await?;
        return Ok(respond(StatusCode::OK, true, RedisApply::SeeReconcile));
    }
    tx.commit().await?;
    let redis = apply_now(&state, Some(outbox_id)).await;
    Ok(respond(StatusCode::CREATED, false, redis))
}

/// Loads every SKU into Redis from the ledger (see [`crate::seed`] for the rule).
async fn seed_redis(State(state): State<AppState>) -> Result<Response> {
    let skus = seed::seed_all(&state).await?;
    Ok(Json(SeedResult {
        seeded: skus.len(),
        skus,
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
struct ReconcileQuery {
    #[serde(default)]
    repair: bool,
    sku: Option<String>,
}

/// Reports drift between the ledger and Redis; `?repair=true` reseeds drifting SKUs.
async fn reconcile(
    State(state): State<AppState>,
    Query(q): Query<ReconcileQuery>,
) -> Result<Response> {
    let skus = seed::reconcile(&state, q.repair, q.sku.as_deref()).await?;
    let drifting = skus.iter().filter(|s| s.drift != 0).count();
    Ok(Json(Reconcile {
        skus,
        drifting,
        repair: q.repair,
    })
    .into_response())
}

//! `GET /v1/events?sku=&limit=&before=`: the audit trail (hold events and ledger movements),
//! newest first, paginated by an opaque `before` cursor (`next_before` of the previous page).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_api::origin::{AuditEntry, Events};
use edgestock_api::ErrorCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{Error, Result};
use crate::domain::events::{audit_trail, Cursor};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    sku: Option<String>,
    limit: Option<i64>,
    before: Option<String>,
}

/// One page of the audit trail.
#[utoipa::path(get, path = "/v1/events", tag = "admin", security(("adminApiKey" = [])),
    params(("sku" = Option<String>, Query), ("limit" = Option<u32>, Query),
           ("before" = Option<String>, Query)),
    responses((status = 200, description = "A page", body = edgestock_api::origin::Events),
              (status = 400, description = "`bad_request`", body = edgestock_api::ErrorBody),
              (status = 401, description = "`unauthorized`", body = edgestock_api::ErrorBody),
              (status = 422, description = "`invalid_query`", body = edgestock_api::ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Response> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Error::unprocessable(
            ErrorCode::InvalidQuery,
            "limit must be in 1..=500",
        ));
    }
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Cursor::parse(s).ok_or_else(|| {
            Error::unprocessable(ErrorCode::InvalidQuery, "before is not a cursor")
        })?),
    };
    let events = audit_trail(&state.db, q.sku.as_deref(), before.as_ref(), limit).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(Cursor::after))
        .flatten();
    let body = Events {
        events: events.into_iter().map(audit_entry).collect(),
        next_before: next,
    };
    Ok(Json(body).into_response())
}

/// The wire form of an audit-trail entry.
fn audit_entry(e: crate::domain::events::AuditEntry) -> AuditEntry {
    AuditEntry {
        source: e.source,
        kind: e.kind,
        sku: e.sku,
        reservation_id: e.reservation_id,
        order_id: e.order_id,
        movement_id: e.movement_id,
        location: e.location,
        qty: e.qty,
        at: e.at,
    }
}

//! `GET /v1/events?sku=&limit=&before=`: the audit trail (hold events and ledger movements),
//! newest first, paginated by an opaque `before` cursor (`next_before` of the previous page).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::error::{Error, Result};
use crate::domain::events::{audit_trail, Cursor};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/events", get(list_events))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    sku: Option<String>,
    limit: Option<i64>,
    before: Option<String>,
}

/// One page of the audit trail.
async fn list_events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Response> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Error::unprocessable(
            "invalid_query",
            "limit must be in 1..=500",
        ));
    }
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            Cursor::parse(s)
                .ok_or_else(|| Error::unprocessable("invalid_query", "before is not a cursor"))?,
        ),
    };
    let events = audit_trail(&state.db, q.sku.as_deref(), before.as_ref(), limit).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(Cursor::after))
        .flatten();
    Ok(Json(json!({ "events": events, "next_before": next })).into_response())
}

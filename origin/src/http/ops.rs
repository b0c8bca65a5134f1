//! `/metrics` (behind `METRICS_TOKEN`), `/healthz`, `/readyz` (cheap, cached for a second).

use edgestock_api::origin::{Health, Readiness};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_core::domain::Sku;
use edgestock_core::scripts::MAX_STOCK_READ;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Gauges;
use crate::state::AppState;

/// Most SKUs exported as `origin_stock_available`.
const MAX_SKUS_EXPORTED: i64 = 1000;

/// How long one readiness answer is reused: however often `/readyz` is hit, Postgres and Redis
/// see at most one check per this period (per process).
pub(crate) const READINESS_TTL: Duration = Duration::from_secs(1);

/// `/healthz` and `/readyz`, open to anyone (load balancers, orchestrators).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// `/metrics`, which the caller puts behind [`super::auth::require_metrics`].
pub(crate) fn metrics_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "Alive", body = edgestock_api::origin::Health)))]
async fn healthz() -> Response {
    Json(Health {
        status: "ok".to_owned(),
    })
    .into_response()
}

async fn db_ok(state: &AppState) -> bool {
    let ping = sqlx::query_scalar!("select 1 as one").fetch_one(&state.db);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(_))
    )
}

/// One real check: `select 1` on Postgres and one `PING` through the Redis client, together.
async fn check_readiness(state: &AppState) -> Readiness {
    state.metrics.readiness_check();
    let (postgres, redis) = tokio::join!(db_ok(state), state.redis.client().ping());
    Readiness {
        postgres,
        redis: redis.is_ok(),
    }
}

/// Readiness: Postgres and Redis both reachable.
///
/// One `select 1` and one `PING`, and the answer is reused for a second: a flood of probes costs
/// Postgres and Redis at most one check each per second.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "Ready (checked at most once per second)", body = edgestock_api::origin::Readiness),
              (status = 503, description = "Not ready", body = edgestock_api::origin::Readiness)))]
async fn readyz(State(state): State<AppState>) -> Response {
    let ready = state
        .readiness
        .get_or_check(READINESS_TTL, || check_readiness(&state))
        .await;
    let status = if ready.postgres && ready.redis {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ready)).into_response()
}

async fn gauges(state: &AppState) -> Gauges {
    let mut g = Gauges::default();
    if let Ok((n, age)) = crate::domain::outbox::backlog(&state.db).await {
        g.outbox_backlog = n;
        g.outbox_oldest_age_seconds = age;
    }
    if let Ok(n) = sqlx::query_scalar!(
        r#"select count(*) as "n!" from orders where status = 'NEEDS_ATTENTION'"#
    )
    .fetch_one(&state.db)
    .await
    {
        g.needs_attention = n;
    }
    let skus: Vec<Sku> = sqlx::query_scalar!(
        "select sku from skus order by sku limit $1",
        MAX_SKUS_EXPORTED
    )
    .fetch_all(&state.db)
    .await
    .unwrap_or_default()
    .iter()
    .filter_map(|s| Sku::parse(s).ok())
    .collect();
    g.redis_up = true;
    for chunk in skus.chunks(MAX_STOCK_READ) {
        match state.redis.stock(chunk).await {
            Ok(levels) => g.available.extend(
                levels
                    .into_iter()
                    .filter(|l| l.exists)
                    .map(|l| (l.sku.to_string(), l.available())),
            ),
            Err(_) => {
                g.redis_up = false;
                break;
            }
        }
    }
    if skus.is_empty() {
        g.redis_up = state.redis.client().ping().await.is_ok();
    }
    g
}

/// Content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prometheus text. A scraper that asks for OpenMetrics (Prometheus does) gets that content type,
/// under which the `counter` types of `_total` series are understood; anyone else gets the body
/// under the classic `text/plain; version=0.0.4`.
///
/// Needs `Authorization: Bearer <METRICS_TOKEN>`: the gauges show exact availability per SKU.
/// Without a configured `METRICS_TOKEN` the route is off (404).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain"),
              (status = 401, description = "`unauthorized`: `Bearer <METRICS_TOKEN>` missing or wrong", body = edgestock_api::ErrorBody),
              (status = 404, description = "`not_found`: no `METRICS_TOKEN` configured, metrics are off", body = edgestock_api::ErrorBody)))]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let g = gauges(&state).await;
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let content_type = if wants_openmetrics {
        OPENMETRICS
    } else {
        "text/plain; version=0.0.4"
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.render(&g),
    )
        .into_response()
}

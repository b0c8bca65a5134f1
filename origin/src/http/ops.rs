//! `/metrics` (behind `METRICS_TOKEN`), `/healthz`, `/readyz` (cheap, cached for a second).

use edgestock_api::origin::{Health, Readiness};
use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgestock_core::domain::Sku;
use edgestock_core::scripts::MAX_STOCK_READ;
use upstash_rest::cmd;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Gauges;
use crate::state::AppState;

/// Most SKUs exported as `origin_stock_available` (and as `inventory_available`).
const MAX_SKUS_EXPORTED: i64 = 1000;

/// How long one count of live holds is reused (`active_reservations_count`).
const LIVE_HOLDS_TTL: Duration = Duration::from_secs(5);

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
    let (postgres, redis) = tokio::join!(db_ok(state), state.redis.ping_all());
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
    if let Ok(b) = crate::domain::webhooks::backlog(&state.db).await {
        g.webhook_backlog = b.pending;
        g.webhook_oldest_age_seconds = b.oldest_age_seconds;
        g.webhook_endpoints_disabled = b.disabled_endpoints;
    }
    if let Ok(n) = sqlx::query_scalar!(
        r#"select count(*) as "n!" from orders where status = 'NEEDS_ATTENTION'"#
    )
    .fetch_one(&state.db)
    .await
    {
        g.needs_attention = n;
    }
    let skus = parse_skus(
        sqlx::query_scalar!(
            "select sku from skus order by sku limit $1",
            MAX_SKUS_EXPORTED
        )
        .fetch_all(&state.db)
        .await
        .unwrap_or_default(),
    );
    g.redis_up = true;
    match read_available(state, &skus).await {
        Some(levels) => g.available = levels,
        None => g.redis_up = false,
    }
    if skus.is_empty() {
        g.redis_up = state.redis.ping_all().await.is_ok();
    }
    if g.redis_up {
        g.inventory_available = inventory_available(state, &g.available).await;
    }
    g.active_reservations = state
        .live_holds
        .get_or_check(LIVE_HOLDS_TTL, || count_live_holds(state, &skus))
        .await;
    g
}

fn parse_skus(names: Vec<String>) -> Vec<Sku> {
    names.iter().filter_map(|s| Sku::parse(s).ok()).collect()
}

/// Available units of `skus` (those that exist in Redis); `None` when Redis failed.
async fn read_available(state: &AppState, skus: &[Sku]) -> Option<Vec<(String, i64)>> {
    let mut out = Vec::with_capacity(skus.len());
    for chunk in skus.chunks(MAX_STOCK_READ) {
        let levels = state.redis.stock(chunk).await.ok()?;
        out.extend(
            levels
                .into_iter()
                .filter(|l| l.exists)
                .map(|l| (l.sku.to_string(), l.available())),
        );
    }
    Some(out)
}

/// `inventory_available`: the SKUs with stock events in the last hour or listed in
/// `METRICS_SKUS`, at most [`MAX_SKUS_EXPORTED`] (a bounded label set); levels already read for
/// `origin_stock_available` are reused.
async fn inventory_available(state: &AppState, known: &[(String, i64)]) -> Vec<(String, i64)> {
    let names = sqlx::query_scalar!(
        r#"select sku as "sku!" from (
               select sku from stock_events where at > now() - interval '1 hour'
               union
               select unnest($1::text[])
           ) s order by sku limit $2"#,
        &state.config.metrics_skus.0,
        MAX_SKUS_EXPORTED
    )
    .fetch_all(&state.db)
    .await
    .unwrap_or_default();
    let known: HashMap<&str, i64> = known.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    let missing: Vec<String> = names
        .iter()
        .filter(|s| !known.contains_key(s.as_str()))
        .cloned()
        .collect();
    let read = read_available(state, &parse_skus(missing))
        .await
        .unwrap_or_default();
    let read: HashMap<&str, i64> = read.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    names
        .iter()
        .filter_map(|s| {
            let n = known.get(s.as_str()).or_else(|| read.get(s.as_str()))?;
            Some((s.clone(), *n))
        })
        .collect()
}

/// Live holds: members of every `holds:{sku}` zset whose expiry is still ahead, one pipeline
/// of `ZCOUNT`s per [`MAX_STOCK_READ`] SKUs; `None` when Redis failed.
async fn count_live_holds(state: &AppState, skus: &[Sku]) -> Option<i64> {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let keys = state.redis.keys();
    let mut total = 0;
    for shard in keys.all_shards() {
        let on: Vec<&Sku> = skus
            .iter()
            .filter(|s| keys.shard_of(s.as_str()) == shard)
            .collect();
        for chunk in on.chunks(MAX_STOCK_READ) {
            let cmds: Vec<_> = chunk
                .iter()
                .map(|s| {
                    cmd("ZCOUNT")
                        .arg(keys.holds(s.as_str()))
                        .arg(format!("({now_ms}"))
                        .arg("+inf")
                })
                .collect();
            for item in state.redis.client_for(shard).pipeline(&cmds).await.ok()? {
                total += item.ok()?.as_i64()?;
            }
        }
    }
    Some(total)
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

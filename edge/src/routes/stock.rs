//! `GET /v1/stock/{sku}` and `GET /v1/stock?sku=…`: badges from one read-only script call,
//! cached at the edge for `STOCK_CACHE_SECONDS` with an `ETag` (a warm read costs no Redis call).

use edgestock_api::edge::StockList;
use edgestock_api::{ApiError, ErrorCode};

use super::{engine, redis_err};
use crate::badge;
use crate::config::Config;
use crate::crypto;
use crate::error::unknown_sku;
use crate::platform::{ApiRequest, ApiResponse, Platform, RequestExt, ResponseExt};
use crate::shortcut;

/// What a stock read answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `GET /v1/stock/{sku}`, with the pickup locations when asked (`?locations=true`).
    One {
        /// Add the pickup locations.
        with_locations: bool,
    },
    /// `GET /v1/stock?sku=…`.
    Many,
}

/// The cache key of a stock read: the request origin, the SKU list (callers pass it canonical:
/// sorted, de-duplicated), the shape and the key prefix (tenants sharing a zone never share
/// entries; a read with locations has its own entry and `ETag`).
pub fn stock_cache_key(url_origin: &str, prefix: &str, skus: &[&str], shape: Shape) -> String {
    let p = escape_prefix(prefix);
    if let Shape::One { with_locations } = shape {
        let l = if with_locations {
            "&locations=true"
        } else {
            ""
        };
        format!("{url_origin}/v1/stock/{}?p={p}{l}", skus[0])
    } else {
        let q: Vec<String> = skus.iter().map(|s| format!("sku={s}")).collect();
        format!("{url_origin}/v1/stock?{}&p={p}", q.join("&"))
    }
}

/// The key prefix as a query value (percent-escaped but for `[A-Za-z0-9._-]`).
pub fn escape_prefix(prefix: &str) -> String {
    prefix
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A cached response: the isolate's memory first, then the location's Cache API (whose hits
/// are not copied into memory, so an entry never outlives its `max-age`).
async fn cached<P: Platform>(p: &P, key: &str) -> Option<ApiResponse> {
    let now = p.now_ms();
    if let Some(hit) = p.memory(|m| m.response(key, now)) {
        return Some(hit);
    }
    p.cache_get(key).await
}

/// Keeps `resp` in both tiers for its `max-age`.
async fn keep<P: Platform>(p: &P, key: &str, resp: &ApiResponse) {
    let now = p.now_ms();
    p.memory(|m| m.keep_response(key, resp, now));
    p.cache_put(key, resp).await;
}

fn not_modified(req: &ApiRequest, resp: ApiResponse) -> ApiResponse {
    let Some(etag) = resp.header("etag") else {
        return resp;
    };
    if !crypto::if_none_match(req.header("if-none-match"), etag) {
        return resp;
    }
    let mut r = ApiResponse::empty(304);
    for name in ["etag", "cache-control", "x-edgestock-cache"] {
        if let Some(v) = resp.header(name) {
            r.set_header(name, v);
        }
    }
    r
}

/// The batch body in the request's order: the cached (and fetched) body lists the SKUs in
/// canonical (sorted) order, so one entry serves every order of the same set.
fn in_request_order(canonical: &[u8], order: &[&str]) -> Result<Vec<u8>, ApiError> {
    let internal = |e: serde_json::Error| ApiError::new(ErrorCode::Internal, e.to_string());
    let list: StockList = serde_json::from_slice(canonical).map_err(internal)?;
    let mut items = Vec::with_capacity(order.len());
    for sku in order {
        let item = list
            .items
            .iter()
            .find(|i| i.sku == *sku)
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "stock entry misses a SKU"))?;
        items.push(item.clone());
    }
    serde_json::to_vec(&StockList { items }).map_err(internal)
}

/// The answer to the request from a (cached or fresh) canonical response: a batch is put back in
/// request order with its own `ETag`; a single read or a cached refusal is as is.
fn answer(
    req: &ApiRequest,
    canonical: ApiResponse,
    order: &[&str],
    single: bool,
    cache: &str,
) -> Result<ApiResponse, ApiError> {
    let mut resp = canonical;
    if !single && resp.code() == 200 {
        let body = in_request_order(resp.body(), order)?;
        if body != *resp.body() {
            resp.set_header("etag", &crypto::etag(&body));
            *resp.body_mut() = body;
        }
    }
    resp.set_header("x-edgestock-cache", cache);
    Ok(not_modified(req, resp))
}

pub(crate) async fn read<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    skus: Vec<edgestock_core::domain::Sku>,
    shape: Shape,
) -> Result<ApiResponse, ApiError> {
    let single = shape != Shape::Many;
    // Request order (already de-duplicated) for the answer; canonical order for the cache key
    // and the Redis read.
    let order: Vec<&str> = skus.iter().map(|s| s.as_str()).collect();
    let mut canonical_skus = skus.clone();
    canonical_skus.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    canonical_skus.dedup();
    let names: Vec<&str> = canonical_skus.iter().map(|s| s.as_str()).collect();
    let key = stock_cache_key(&req.url_origin(), &cfg.redis_key_prefix, &names, shape);
    let caching = cfg.stock_cache_seconds > 0;
    if caching {
        if let Some(hit) = cached(p, &key).await {
            return answer(req, hit, &order, single, "hit");
        }
    }
    let engine = engine(p, cfg)?;
    let (levels, pickup) = match (shape, canonical_skus.first()) {
        (
            Shape::One {
                with_locations: true,
            },
            Some(sku),
        ) => {
            let (level, pickup) = engine.stock_with_locations(sku).await.map_err(redis_err)?;
            (vec![level], Some(pickup))
        }
        _ => (
            engine.stock(&canonical_skus).await.map_err(redis_err)?,
            None,
        ),
    };
    // A fresh answer is what the sold-out memory learns from.
    let sold_out: Vec<&str> = levels
        .iter()
        .filter(|l| l.exists && l.available() <= 0)
        .map(|l| l.sku.as_str())
        .collect();
    shortcut::learn_sold_out(p, cfg, req, &sold_out);
    let cache_control = badge::cache_control(cfg.stock_cache_seconds);
    let bytes = if single {
        let level = levels
            .first()
            .ok_or_else(|| ApiError::new(ErrorCode::RedisError, "empty stock reply"))?;
        if !level.exists {
            // Cached briefly too, so probing unknown SKUs is not a Redis call each.
            let mut resp = ApiResponse::error(&unknown_sku(level.sku.as_str()));
            resp.set_header("cache-control", &cache_control);
            if caching {
                keep(p, &key, &resp).await;
            }
            resp.set_header("x-edgestock-cache", "miss");
            return Ok(resp);
        }
        let mut body = badge::stock(level, cfg.expose_exact_counts);
        if let Some(pickup) = &pickup {
            body.locations = Some(badge::locations(level, pickup, cfg.expose_exact_counts));
        }
        serde_json::to_vec(&body)
    } else {
        let items = levels
            .iter()
            .map(|l| badge::stock(l, cfg.expose_exact_counts))
            .collect();
        serde_json::to_vec(&StockList { items })
    }
    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let mut resp = ApiResponse::bytes(200, "application/json", bytes);
    resp.set_header("etag", &crypto::etag(resp.body()));
    resp.set_header("cache-control", &cache_control);
    if caching {
        keep(p, &key, &resp).await;
    }
    answer(req, resp, &order, single, "miss")
}

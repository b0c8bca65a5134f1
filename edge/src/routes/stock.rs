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

/// The cache key of a stock read: the request origin, the normalised SKU list and the key prefix
/// (tenants sharing a zone never share entries).
pub fn stock_cache_key(url_origin: &str, prefix: &str, skus: &[&str], single: bool) -> String {
    let p: String = prefix
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if single {
        format!("{url_origin}/v1/stock/{}?p={p}", skus[0])
    } else {
        let q: Vec<String> = skus.iter().map(|s| format!("sku={s}")).collect();
        format!("{url_origin}/v1/stock?{}&p={p}", q.join("&"))
    }
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

pub(crate) async fn read<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    skus: Vec<edgestock_core::domain::Sku>,
    single: bool,
) -> Result<ApiResponse, ApiError> {
    let names: Vec<&str> = skus.iter().map(|s| s.as_str()).collect();
    let key = stock_cache_key(&req.url_origin(), &cfg.redis_key_prefix, &names, single);
    let cached = cfg.stock_cache_seconds > 0;
    if cached {
        if let Some(mut hit) = p.cache_get(&key).await {
            hit.set_header("x-edgestock-cache", "hit");
            return Ok(not_modified(req, hit));
        }
    }
    let levels = engine(p, cfg)?.stock(&skus).await.map_err(redis_err)?;
    let bytes = if single {
        let level = levels
            .first()
            .ok_or_else(|| ApiError::new(ErrorCode::RedisError, "empty stock reply"))?;
        if !level.exists {
            return Err(unknown_sku(level.sku.as_str()));
        }
        serde_json::to_vec(&badge::stock(level, cfg.expose_exact_counts))
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
    resp.set_header(
        "cache-control",
        &badge::cache_control(cfg.stock_cache_seconds),
    );
    if cached {
        p.cache_put(&key, &resp).await;
    }
    resp.set_header("x-edgestock-cache", "miss");
    Ok(not_modified(req, resp))
}

//! Request validation: body size, content type, JSON syntax (400) versus invalid values (422),
//! SKU syntax, quantity and item bounds, TTL bounds. Nothing here touches Redis: a request that
//! fails validation changes nothing.

use std::collections::HashSet;

use edgestock_api::edge::{ExtendRequest, ReserveRequest};
use edgestock_core::domain::{Location, Sku};
use edgestock_core::scripts::{Line, MAX_STOCK_READ};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::Config;
use edgestock_api::{ApiError, ErrorCode};

/// Largest request body accepted (16 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Longest `cart_id`.
pub const CART_ID_MAX_LEN: usize = 64;

/// 413 when a declared or actual body is over [`MAX_BODY_BYTES`].
///
/// # Errors
/// 413 `body_too_large`.
pub fn check_body_size(len: usize) -> Result<(), ApiError> {
    if len > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("request body must be at most {MAX_BODY_BYTES} bytes"),
        )
        .with(|d| d.max_bytes = Some(i64::try_from(MAX_BODY_BYTES).unwrap_or(i64::MAX))));
    }
    Ok(())
}

/// Appends one chunk of a streamed body, refusing (413, like [`check_body_size`]) as soon as the
/// total would pass [`MAX_BODY_BYTES`], so a body of unbounded size is never read past the limit.
///
/// # Errors
/// 413 `body_too_large`.
pub fn append_limited(body: &mut Vec<u8>, chunk: &[u8]) -> Result<(), ApiError> {
    check_body_size(body.len().saturating_add(chunk.len()))?;
    body.extend_from_slice(chunk);
    Ok(())
}

/// 415 unless the content type is JSON (`application/json`, parameters allowed).
///
/// # Errors
/// 415 `unsupported_media_type`.
pub fn check_json_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        Some(e) if e.starts_with("application/") && e.ends_with("+json") => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        )),
    }
}

/// Parses a JSON body: 400 for broken JSON, 422 for well-formed JSON with invalid content
/// (unknown fields, wrong types, missing fields).
///
/// # Errors
/// 400 `malformed_json` or 422 `invalid_request`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::malformed_json(format!("request body is not valid JSON: {e}"))
            }
            Category::Data => {
                ApiError::new(ErrorCode::InvalidRequest, format!("invalid request: {e}"))
            }
        }
    })
}

/// Parses a SKU, 422 `invalid_sku` on bad syntax.
///
/// # Errors
/// 422 `invalid_sku`.
pub fn sku(s: &str) -> Result<Sku, ApiError> {
    Sku::parse(s).map_err(|e| {
        ApiError::new(ErrorCode::InvalidSku, e.to_string()).with(|d| d.sku = Some(s.to_owned()))
    })
}

/// A validated reserve request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserve {
    /// Lines, distinct SKUs.
    pub items: Vec<Line>,
    /// The pickup location, if the shopper picks up rather than ships.
    pub pickup: Option<Location>,
    /// Cart id.
    pub cart_id: Option<String>,
    /// Hold lifetime in seconds.
    pub ttl_seconds: u32,
    /// Hex SHA-256 of the canonical request (tells a replay from a reused key).
    pub fingerprint: String,
}

/// Validates a reserve body against the configured bounds.
///
/// # Errors
/// 400/422 as documented in docs/api.md#edge-api.
pub fn reserve(body: &[u8], cfg: &Config) -> Result<Reserve, ApiError> {
    let b: ReserveRequest = parse_json(body)?;
    if b.items.is_empty() {
        return Err(ApiError::invalid("items", "items must not be empty"));
    }
    if b.items.len() > cfg.max_items as usize {
        return Err(ApiError::new(
            ErrorCode::TooManyItems,
            format!("at most {} items per reservation", cfg.max_items),
        )
        .with(|d| d.max_items = Some(i64::from(cfg.max_items))));
    }
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(b.items.len());
    for it in &b.items {
        let s = sku(&it.sku)?;
        if it.qty <= 0 || it.qty > i64::from(cfg.max_qty_per_item) {
            return Err(ApiError::new(
                ErrorCode::InvalidQuantity,
                format!("qty must be 1..={}", cfg.max_qty_per_item),
            )
            .with(|d| d.sku = Some(it.sku.as_str().to_owned()))
            .with(|d| d.max_qty = Some(i64::from(cfg.max_qty_per_item))));
        }
        if !seen.insert(it.sku.as_str()) {
            return Err(
                ApiError::new(ErrorCode::DuplicateSku, "each sku may appear once")
                    .with(|d| d.sku = Some(it.sku.as_str().to_owned())),
            );
        }
        items.push(Line {
            sku: s,
            qty: it.qty as u32,
        });
    }
    let pickup = match &b.pickup_location {
        None => None,
        Some(l) => Some(Location::parse(l).map_err(|e| {
            ApiError::new(ErrorCode::InvalidLocation, e.to_string())
                .with(|d| d.field = Some("pickup_location".to_owned()))
        })?),
    };
    if let Some(c) = &b.cart_id {
        if !is_cart_id(c) {
            return Err(ApiError::invalid(
                "cart_id",
                format!("cart_id must match ^[A-Za-z0-9._:-]{{1,{CART_ID_MAX_LEN}}}$"),
            ));
        }
    }
    let ttl_seconds = match b.ttl_seconds {
        None => cfg.default_hold_seconds,
        Some(t) if t >= 1 && t <= i64::from(cfg.max_hold_seconds) => t as u32,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidTtl,
                format!("ttl_seconds must be 1..={}", cfg.max_hold_seconds),
            )
            .with(|d| d.max_ttl_seconds = Some(i64::from(cfg.max_hold_seconds))))
        }
    };
    let mut canonical = serde_json::json!({
        "items": b.items,
        "cart_id": b.cart_id,
        "ttl_seconds": b.ttl_seconds,
    });
    // Only when given, so the fingerprint of a shipping request is what it was before pickups.
    if let Some(l) = &b.pickup_location {
        canonical["pickup_location"] = serde_json::Value::from(l.as_str());
    }
    Ok(Reserve {
        items,
        pickup,
        cart_id: b.cart_id,
        ttl_seconds,
        fingerprint: crate::crypto::sha256_hex(canonical.to_string().as_bytes()),
    })
}

fn is_cart_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= CART_ID_MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The `locations` flag of a single stock read: `true` adds the pickup locations; absent or
/// `false` does not; other query parameters are ignored, as on every read.
///
/// # Errors
/// 422 `invalid_request` (field `locations`) for any other value.
pub fn locations_query(query: &str) -> Result<bool, ApiError> {
    let mut on = false;
    for (k, v) in query
        .split('&')
        .take(MAX_STOCK_READ + 1)
        .filter_map(|p| p.split_once('='))
    {
        if k == "locations" {
            on = match v {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ApiError::invalid(
                        "locations",
                        "locations must be true or false",
                    ))
                }
            };
        }
    }
    Ok(on)
}

/// Validates an extend body: `seconds` in 1..=`MAX_HOLD_SECONDS`.
///
/// # Errors
/// 400/422.
pub fn extend(body: &[u8], cfg: &Config) -> Result<u32, ApiError> {
    let b: ExtendRequest = parse_json(body)?;
    if b.seconds < 1 || b.seconds > i64::from(cfg.max_hold_seconds) {
        return Err(ApiError::new(
            ErrorCode::InvalidTtl,
            format!("seconds must be 1..={}", cfg.max_hold_seconds),
        )
        .with(|d| d.field = Some("seconds".to_owned())));
    }
    Ok(b.seconds as u32)
}

/// Longest free-text reference forwarded to the origin.
pub const REF_MAX_LEN: usize = 200;

/// Parses an optional JSON body (empty means `{}`); string fields at most [`REF_MAX_LEN`].
///
/// # Errors
/// 400/422.
pub fn optional_body<T: DeserializeOwned + Default + Serialize>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let v: T = parse_json(body)?;
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&v) {
        for (k, f) in m {
            if f.as_str().is_some_and(|s| s.len() > REF_MAX_LEN) {
                return Err(ApiError::invalid(
                    &k,
                    format!("{k} must be at most {REF_MAX_LEN} bytes"),
                ));
            }
        }
    }
    Ok(v)
}

/// The SKUs of `GET /v1/stock?sku=a&sku=b`: decoded, validated, de-duplicated (first occurrence
/// order kept), 1..=100.
///
/// # Errors
/// 422 `invalid_sku`, `invalid_request` (none given) or `too_many_skus`.
pub fn stock_query(query: &str) -> Result<Vec<Sku>, ApiError> {
    let mut out: Vec<Sku> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k) != "sku" {
            continue;
        }
        let v = percent_decode(v);
        for s in v.split(',').filter(|s| !s.is_empty()) {
            let s = sku(s)?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid("sku", "give at least one ?sku="));
    }
    if out.len() > MAX_STOCK_READ {
        return Err(ApiError::new(
            ErrorCode::TooManySkus,
            format!("at most {MAX_STOCK_READ} SKUs per read"),
        )
        .with(|d| d.max_skus = Some(i64::try_from(MAX_STOCK_READ).unwrap_or(i64::MAX))));
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space); invalid escapes stay as is.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;

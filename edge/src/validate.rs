//! Request validation: body size, content type, JSON syntax (400) versus invalid values (422),
//! SKU syntax, quantity and item bounds, TTL bounds. Nothing here touches Redis: a request that
//! fails validation changes nothing.

use std::collections::HashSet;

use edgestock_api::edge::{ExtendRequest, ReserveRequest};
use edgestock_core::domain::Sku;
use edgestock_core::scripts::{Item, MAX_STOCK_READ};
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
    /// Items, distinct SKUs.
    pub items: Vec<Item>,
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
        items.push(Item {
            sku: s,
            qty: it.qty as u32,
        });
    }
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
    let canonical = serde_json::json!({
        "items": b.items,
        "cart_id": b.cart_id,
        "ttl_seconds": b.ttl_seconds,
    });
    Ok(Reserve {
        items,
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
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::from_lookup(&|_| None).unwrap()
    }

    fn err(body: &str) -> ApiError {
        reserve(body.as_bytes(), &cfg()).unwrap_err()
    }

    #[test]
    fn a_valid_reserve_body_is_accepted_with_the_default_ttl() {
        let r = reserve(
            br#"{"items":[{"sku":"A-1","qty":2},{"sku":"B","qty":1}]}"#,
            &cfg(),
        )
        .unwrap();
        assert_eq!(r.items.len(), 2);
        assert_eq!(r.items[0].qty, 2);
        assert_eq!(r.ttl_seconds, 600);
        assert_eq!(r.cart_id, None);
        assert_eq!(r.fingerprint.len(), 64);
        let r2 = reserve(
            br#"{ "ttl_seconds": 30, "cart_id": "c-1", "items": [ {"qty": 2, "sku": "A-1"} ] }"#,
            &cfg(),
        )
        .unwrap();
        assert_eq!((r2.ttl_seconds, r2.cart_id.as_deref()), (30, Some("c-1")));
    }

    #[test]
    fn fingerprints_ignore_formatting_but_not_content() {
        let a = reserve(
            br#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":60}"#,
            &cfg(),
        )
        .unwrap();
        let b = reserve(
            br#"{ "ttl_seconds" : 60, "items":[{"qty":1,"sku":"A"}]}"#,
            &cfg(),
        )
        .unwrap();
        let c = reserve(
            br#"{"items":[{"sku":"A","qty":2}],"ttl_seconds":60}"#,
            &cfg(),
        )
        .unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
    }

    /// THE bad-input table of the reserve body: every malformed or invalid body we know of,
    /// with its exact status and code. End-to-end tests keep one representative per code.
    #[test]
    fn syntax_errors_are_400_and_value_errors_422() {
        let table: &[(&str, u16, &str)] = &[
            ("{", 400, "malformed_json"),
            ("", 400, "malformed_json"),
            ("nope", 400, "malformed_json"),
            (
                r#"{"items":[{"sku":"A","qty":1e309}]}"#,
                400,
                "malformed_json",
            ),
            (r#"{"items":[]}"#, 422, "invalid_request"),
            (r#"{}"#, 422, "invalid_request"),
            (r#"[1]"#, 422, "invalid_request"),
            ("[]", 422, "invalid_request"),
            ("null", 422, "invalid_request"),
            (r#""items""#, 422, "invalid_request"),
            (r#"{"items":"A"}"#, 422, "invalid_request"),
            (
                r#"{"items":[{"sku":"A","qty":0}]}"#,
                422,
                "invalid_quantity",
            ),
            (
                r#"{"items":[{"sku":"A","qty":-1}]}"#,
                422,
                "invalid_quantity",
            ),
            (
                r#"{"items":[{"sku":"A","qty":11}]}"#,
                422,
                "invalid_quantity",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1.5}]}"#,
                422,
                "invalid_request",
            ),
            (
                r#"{"items":[{"sku":"A","qty":"1"}]}"#,
                422,
                "invalid_request",
            ),
            (
                r#"{"items":[{"sku":"A","qty":99999999999999999999}]}"#,
                422,
                "invalid_request",
            ),
            (r#"{"items":[{"sku":"a b","qty":1}]}"#, 422, "invalid_sku"),
            (r#"{"items":[{"sku":"","qty":1}]}"#, 422, "invalid_sku"),
            (
                r#"{"items":[{"sku":"../../etc","qty":1}]}"#,
                422,
                "invalid_sku",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1},{"sku":"A","qty":2}]}"#,
                422,
                "duplicate_sku",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1}],"extra":1}"#,
                422,
                "invalid_request",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1}],"admin":true}"#,
                422,
                "invalid_request",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1,"price":3}]}"#,
                422,
                "invalid_request",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":0}"#,
                422,
                "invalid_ttl",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":-5}"#,
                422,
                "invalid_ttl",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":901}"#,
                422,
                "invalid_ttl",
            ),
            (
                r#"{"items":[{"sku":"A","qty":1}],"cart_id":"a{b}"}"#,
                422,
                "invalid_request",
            ),
        ];
        for &(body, status, code) in table {
            let e = err(body);
            assert_eq!(
                (e.status(), e.code.as_str()),
                (status, code),
                "{body}: {}",
                e.message
            );
        }
        let many: Vec<String> = (0..21)
            .map(|i| format!(r#"{{"sku":"S{i}","qty":1}}"#))
            .collect();
        let e = err(&format!(r#"{{"items":[{}]}}"#, many.join(",")));
        assert_eq!((e.status(), e.code.as_str()), (422, "too_many_items"));
    }

    #[test]
    fn insufficient_context_details_name_the_sku() {
        let e = err(r#"{"items":[{"sku":"A","qty":99}]}"#);
        assert_eq!(e.details.sku.as_deref(), Some("A"));
        assert_eq!(e.details.max_qty, Some(10));
    }

    #[test]
    fn body_size_and_content_type() {
        assert!(check_body_size(MAX_BODY_BYTES).is_ok());
        assert_eq!(
            check_body_size(MAX_BODY_BYTES + 1).unwrap_err().status(),
            413
        );
        assert!(check_json_content_type(Some("application/json")).is_ok());
        assert!(check_json_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
        assert!(check_json_content_type(Some("application/merge-patch+json")).is_ok());
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            assert_eq!(
                check_json_content_type(bad).unwrap_err().status(),
                415,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn extend_and_optional_bodies() {
        assert_eq!(extend(br#"{"seconds":60}"#, &cfg()), Ok(60));
        assert_eq!(
            extend(br#"{"seconds":0}"#, &cfg()).unwrap_err().status(),
            422
        );
        assert_eq!(
            extend(br#"{"seconds":901}"#, &cfg()).unwrap_err().status(),
            422
        );
        assert_eq!(
            extend(br#"{"seconds":1,"x":1}"#, &cfg())
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(extend(br#"{"#, &cfg()).unwrap_err().status(), 400);
        let c: edgestock_api::edge::ConfirmRequest = optional_body(b"").unwrap();
        assert!(c.customer_ref.is_none());
        let c: edgestock_api::edge::ConfirmRequest =
            optional_body(br#"{"customer_ref":"c1"}"#).unwrap();
        assert_eq!(c.customer_ref.as_deref(), Some("c1"));
        assert_eq!(
            optional_body::<edgestock_api::edge::ConfirmRequest>(br#"{"x":1}"#)
                .unwrap_err()
                .status(),
            422
        );
        let long = format!(r#"{{"payment_ref":"{}"}}"#, "p".repeat(201));
        assert_eq!(
            optional_body::<edgestock_api::edge::ConfirmRequest>(long.as_bytes())
                .unwrap_err()
                .status(),
            422
        );
    }

    #[test]
    fn stock_query_decodes_dedups_and_bounds() {
        let skus = stock_query("sku=A&sku=B%3A1&x=1&sku=A&sku=C,D").unwrap();
        let names: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        assert_eq!(names, ["A", "B:1", "C", "D"]);
        assert_eq!(stock_query("").unwrap_err().status(), 422);
        assert_eq!(stock_query("sku=").unwrap_err().status(), 422);
        assert_eq!(
            stock_query("sku=a%20b").unwrap_err().code.as_str(),
            "invalid_sku"
        );
        let many: Vec<String> = (0..101).map(|i| format!("sku=S{i}")).collect();
        assert_eq!(
            stock_query(&many.join("&")).unwrap_err().code.as_str(),
            "too_many_skus"
        );
        let ok: Vec<String> = (0..100).map(|i| format!("sku=S{i}")).collect();
        assert_eq!(stock_query(&ok.join("&")).unwrap().len(), 100);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Ab+c"), "a:b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }
}

//! Place (the shopper's "confirm") and cancel: validated at the edge, then forwarded, HMAC-signed,
//! to the origin's edge routes (`/place`, `/release`; never the backend's confirm or cancel),
//! whose answer passes through in the one vocabulary of `ErrorCode` (an unknown reservation is
//! `reservation_not_found`, a refused signature the edge's misconfiguration: 502 `origin_error`,
//! never the shopper's 401). The browser's body says nothing about payment or customer: any
//! field in it is refused.

use std::time::Duration;

use edgestock_api::edge::{CancelRequest, ConfirmRequest, OrderSummary};
use edgestock_api::origin::PlacedOrder;
use edgestock_api::{ApiError, ErrorBody, ErrorCode};
use edgestock_core::signing;
use serde::Deserialize;
use serde_json::Value;
use upstash_rest::TransportError;

use super::authorize;
use crate::config::Config;
use crate::platform::{
    ApiRequest, ApiResponse, OriginRequest, OriginResponse, Platform, RequestExt, ResponseExt,
};
use crate::validate;

/// The path part of a base URL (`http://h:1/api/` → `/api`), for signing.
pub fn base_path(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// Builds the signed origin call for `path` with `body`.
pub fn signed_origin_request(
    cfg: &Config,
    path: &str,
    body: Vec<u8>,
    now_ms: i64,
) -> Result<OriginRequest, ApiError> {
    let o = cfg.origin()?;
    let ts = now_ms.div_euclid(1000).max(0);
    let signed_path = format!("{}{path}", base_path(o.url));
    let sig = signing::sign(o.secret.as_bytes(), "POST", &signed_path, ts, &body);
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (signing::TIMESTAMP_HEADER.to_owned(), ts.to_string()),
        (signing::SIGNATURE_HEADER.to_owned(), sig),
    ];
    Ok(OriginRequest {
        url: format!("{}{path}", o.url),
        headers,
        body,
        timeout: Duration::from_millis(u64::from(cfg.origin_timeout_ms)),
    })
}

/// Maps what the origin answered onto our response: JSON passes through (errors already in our
/// shape stay as they are, others are wrapped), anything else is a 502.
/// Speaks the edge's vocabulary for the origin's errors a browser can meet, so one problem has one
/// code on every route: an unknown reservation is `reservation_not_found`; a refused signature is
/// the edge's misconfiguration (502), not the shopper's credentials.
fn origin_error(status: u16, mut e: ApiError) -> ApiResponse {
    match (status, e.code) {
        (404, ErrorCode::NotFound) => e.code = ErrorCode::ReservationNotFound,
        (401 | 403, _) => {
            e = ApiError::new(
                ErrorCode::OriginError,
                "the origin refused the edge's signature (check EDGE_ORIGIN_SECRET)",
            )
            .with(|d| d.origin_status = Some(401));
            return ApiResponse::error(&e);
        }
        _ => {}
    }
    ApiResponse::error_with_status(status, &e)
}

/// An origin error that is not in our shape: wrapped as `origin_error`, the origin's own status
/// kept (a 500 stays a 500).
fn foreign_error(status: u16, v: &Value) -> ApiResponse {
    let message = v["error"]
        .as_str()
        .or_else(|| v["error"]["message"].as_str())
        .or_else(|| v["message"].as_str())
        .map_or_else(
            || format!("the origin answered HTTP {status}"),
            str::to_owned,
        );
    ApiResponse::error_with_status(
        status,
        &ApiError::new(ErrorCode::OriginError, message).with(|d| d.origin_status = Some(status)),
    )
}

/// Our answer to what the origin answered (or failing to).
pub fn map_origin(result: Result<OriginResponse, TransportError>) -> ApiResponse {
    let o = match result {
        Ok(o) => o,
        Err(TransportError::Timeout) => {
            return ApiResponse::error(
                &ApiError::new(
                    ErrorCode::OriginUnavailable,
                    "the origin did not answer in time",
                )
                .retry_after_secs(1),
            )
        }
        Err(TransportError::Failed(m)) => {
            return ApiResponse::error(
                &ApiError::new(
                    ErrorCode::OriginUnavailable,
                    format!("the origin is unreachable: {m}"),
                )
                .retry_after_secs(1),
            )
        }
    };
    let parsed: Option<Value> = serde_json::from_slice(&o.body).ok();
    let mut resp = match parsed {
        Some(v) if (200..300).contains(&o.status) => ApiResponse::json(o.status, &v),
        Some(v) if (400..600).contains(&o.status) => match ErrorBody::deserialize(&v) {
            Ok(e) => origin_error(o.status, e.error),
            Err(_) => foreign_error(o.status, &v),
        },
        _ => ApiResponse::error(
            &ApiError::new(
                ErrorCode::OriginError,
                format!("the origin answered HTTP {} without a JSON body", o.status),
            )
            .with(|d| d.origin_status = Some(o.status)),
        ),
    };
    if let Some(ra) = o.retry_after {
        resp.set_header("retry-after", &ra);
    }
    resp
}

fn optional_json_body<T>(req: &ApiRequest) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + Default + serde::Serialize,
{
    if !req.body().iter().all(u8::is_ascii_whitespace) {
        validate::check_json_content_type(req.header("content-type"))?;
    }
    validate::optional_body(req.body())
}

pub(crate) async fn confirm<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(p, cfg, req, id)?;
    let _: ConfirmRequest = optional_json_body(req)?;
    let path = format!("/v1/reservations/{id}/place");
    let call = signed_origin_request(cfg, &path, b"{}".to_vec(), p.now_ms())?;
    Ok(map_origin(p.origin_post(call).await))
}

pub(crate) async fn cancel<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(p, cfg, req, id)?;
    let _: CancelRequest = optional_json_body(req)?;
    let path = format!("/v1/reservations/{id}/release");
    let call = signed_origin_request(cfg, &path, b"{}".to_vec(), p.now_ms())?;
    Ok(map_origin(p.origin_post(call).await))
}

/// The order of a placed reservation, for `GET /v1/reservations/{id}`: `None` when it has none
/// (or the origin cannot say right now: the reservation is still answered, without it).
pub(crate) async fn order_of<P: Platform>(p: &P, cfg: &Config, id: &str) -> Option<OrderSummary> {
    let path = format!("/v1/reservations/{id}/order");
    let call = signed_origin_request(cfg, &path, b"{}".to_vec(), p.now_ms()).ok()?;
    let o = p.origin_post(call).await.ok()?;
    if o.status != 200 {
        return None;
    }
    let placed: PlacedOrder = serde_json::from_slice(&o.body).ok()?;
    Some(OrderSummary {
        order_id: placed.order_id.to_string(),
        status: placed.status,
        payment_deadline: placed.payment_deadline,
        payment_deadline_ms: placed.payment_deadline_ms,
    })
}
